// mamba_quantize_int8_cpu and mamba_gemv_cpu against fp64 loops: the int8 round trip's error bound, the product for
// every weight format on odd sizes (both kernel paths, strided rows, bias and residual), independence of the thread
// count, and argument validation (nothing written on error).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>
#include "test_util.h"

namespace {

std::vector<float> random_rows(std::mt19937_64& g, int64_t rows, int64_t cols, int64_t stride) {
  // Rows of very different magnitudes, as projections have, so a per-row scale matters.
  std::vector<float> w(size_t(rows * stride), std::numeric_limits<float>::quiet_NaN());
  for (int64_t r = 0; r < rows; ++r) {
    const double mag = std::pow(10.0, double(r % 7) - 3.0);
    auto v = mt::randn(g, cols, mag);
    for (int64_t i = 0; i < cols; ++i) w[size_t(r * stride + i)] = float(v[size_t(i)]);
  }
  return w;
}

TEST(WeightGemvCpu, QuantizeRoundTripWithinHalfAStep) {
  std::mt19937_64 g(3);
  const int64_t rows = 101, cols = 37, stride = 41;
  auto w = random_rows(g, rows, cols, stride);
  for (int64_t i = 0; i < cols; ++i) w[size_t(5 * stride + i)] = 0.f;  // an all-zero row
  std::vector<int8_t> q(size_t(rows * cols), 99);
  std::vector<float> s(size_t(rows), -1.f);
  ASSERT_EQ(mamba_quantize_int8_cpu(rows, cols, w.data(), stride, q.data(), s.data()), MAMBA_OK) << mamba_last_error();
  for (int64_t r = 0; r < rows; ++r) {
    double max_abs = 0;
    for (int64_t i = 0; i < cols; ++i) max_abs = std::max(max_abs, std::fabs(double(w[size_t(r * stride + i)])));
    EXPECT_NEAR(s[size_t(r)], max_abs / 127.0, 1e-7 * max_abs) << "row " << r;
    int peak = 0;
    for (int64_t i = 0; i < cols; ++i) {
      const int v = q[size_t(r * cols + i)];
      EXPECT_LE(std::abs(v), 127);
      peak = std::max(peak, std::abs(v));
      // Round to nearest: the dequantized weight is within half a step (plus fp32 rounding of w / scale).
      const double err = std::fabs(double(s[size_t(r)]) * v - double(w[size_t(r * stride + i)]));
      EXPECT_LE(err, 0.5 * s[size_t(r)] * (1 + 1e-5)) << "row " << r << " col " << i;
    }
    EXPECT_EQ(peak, r == 5 ? 0 : 127) << "row " << r << ": the largest weight maps to +-127";
  }
  EXPECT_EQ(s[5], 0.f);
}

struct GemvCase {
  int64_t batch, in, out;
  int format;
  bool bias, add, strided;
};

void check_gemv(const GemvCase& c, uint64_t seed) {
  SCOPED_TRACE("batch=" + std::to_string(c.batch) + " in=" + std::to_string(c.in) + " out=" + std::to_string(c.out) +
               " format=" + std::to_string(c.format) + " bias=" + std::to_string(c.bias) + " add=" + std::to_string(c.add) +
               " strided=" + std::to_string(c.strided));
  std::mt19937_64 g(seed);
  const int64_t xs = c.strided ? c.in + 5 : c.in, ys = c.strided ? c.out + 3 : c.out, as = c.strided ? c.out + 7 : c.out;
  auto wf = random_rows(g, c.out, c.in, c.in);
  // The weights as stored, and exactly what they mean (fp64) for the reference.
  std::vector<double> wref(size_t(c.out * c.in));
  std::vector<int8_t> q;
  std::vector<uint16_t> h;
  std::vector<float> scales;
  const void* weight = wf.data();
  if (c.format == MAMBA_WEIGHTS_INT8) {
    q.resize(wf.size()), scales.resize(size_t(c.out));
    ASSERT_EQ(mamba_quantize_int8_cpu(c.out, c.in, wf.data(), c.in, q.data(), scales.data()), MAMBA_OK);
    for (int64_t o = 0; o < c.out; ++o)
      for (int64_t i = 0; i < c.in; ++i) wref[size_t(o * c.in + i)] = double(scales[size_t(o)]) * q[size_t(o * c.in + i)];
    weight = q.data();
  } else if (c.format == MAMBA_WEIGHTS_BF16) {
    h.resize(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) h[i] = mamba::cpu::float_to_bf16(wf[i]), wref[i] = mamba::cpu::bf16_to_float(h[i]);
    weight = h.data();
  } else {
    for (size_t i = 0; i < wf.size(); ++i) wref[i] = wf[i];
  }
  std::vector<float> x(size_t(c.batch * xs), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> bias(size_t(c.out)), add(size_t(c.batch * as), std::numeric_limits<float>::quiet_NaN());
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.in; ++i) x[size_t(b * xs + i)] = float(mt::randn(g, 1)[0]);
  for (auto& v : bias) v = float(mt::randn(g, 1)[0]);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t o = 0; o < c.out; ++o) add[size_t(b * as + o)] = float(mt::randn(g, 1)[0]);
  const float sentinel = -12345.f;
  std::vector<float> y(size_t(c.batch * ys), sentinel);

  mamba_gemv_args a{};
  a.batch = c.batch, a.in = c.in, a.out = c.out, a.weight_format = c.format;
  a.x = x.data(), a.x_row_stride = xs, a.weight = weight;
  a.scales = c.format == MAMBA_WEIGHTS_INT8 ? scales.data() : nullptr;
  a.bias = c.bias ? bias.data() : nullptr;
  a.add = c.add ? add.data() : nullptr, a.add_row_stride = as;
  a.y = y.data(), a.y_row_stride = ys;
  ASSERT_EQ(mamba_gemv_cpu(&a), MAMBA_OK) << mamba_last_error();

  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t o = 0; o < c.out; ++o) {
      double sum = 0, mag = 0;
      for (int64_t i = 0; i < c.in; ++i) {
        const double t = wref[size_t(o * c.in + i)] * x[size_t(b * xs + i)];
        sum += t, mag += std::fabs(t);
      }
      double extra = (c.bias ? bias[size_t(o)] : 0.0) + (c.add ? add[size_t(b * as + o)] : 0.0);
      const double want = sum + extra;
      // fp32 accumulation of `in` terms: a few ulps of the terms' magnitude.
      const double tol = 4e-7 * double(c.in) * mag + 2e-7 * (std::fabs(extra) + std::fabs(sum));
      ASSERT_NEAR(y[size_t(b * ys + o)], want, tol) << "b=" << b << " o=" << o;
    }
  for (int64_t b = 0; b < c.batch; ++b)  // gaps between rows untouched
    for (int64_t o = c.out; o < ys; ++o) ASSERT_EQ(y[size_t(b * ys + o)], sentinel);
}

void all_cases(uint64_t seed) {
  for (int format : {MAMBA_WEIGHTS_INT8, MAMBA_WEIGHTS_BF16, MAMBA_WEIGHTS_F32})
    for (int64_t batch : {1, 2, 3, 5, 16}) {
      check_gemv({batch, 37, 101, format, false, false, false}, seed++);
      check_gemv({batch, 37, 101, format, true, true, true}, seed++);
      check_gemv({batch, 8, 3, format, true, false, true}, seed++);
      check_gemv({batch, 1, 1, format, false, true, false}, seed++);
    }
}

TEST(WeightGemvCpu, MatchesFp64) { all_cases(10); }

TEST(WeightGemvCpu, GenericKernelsMatchFp64) {
  setenv("MAMBA_CPU_ISA", "generic", 1);
  all_cases(1000);
  unsetenv("MAMBA_CPU_ISA");
}

// Large enough to be split over threads (an estimated millisecond or more on one core): every output is still summed
// by one task in one order.
TEST(WeightGemvCpu, ThreadedLargeProductMatchesAndIsDeterministic) {
  for (int format : {MAMBA_WEIGHTS_INT8, MAMBA_WEIGHTS_BF16}) {
    check_gemv({3, 1029, 8195, format, true, true, false}, 77);
    std::mt19937_64 g(5);
    const int64_t in = 1024, out = 8191, batch = 3;
    auto wf = random_rows(g, out, in, in);
    std::vector<int8_t> q(wf.size());
    std::vector<uint16_t> h(wf.size());
    std::vector<float> s(static_cast<size_t>(out));
    ASSERT_EQ(mamba_quantize_int8_cpu(out, in, wf.data(), in, q.data(), s.data()), MAMBA_OK);
    for (size_t i = 0; i < wf.size(); ++i) h[i] = mamba::cpu::float_to_bf16(wf[i]);
    std::vector<float> x(size_t(batch * in));
    for (auto& v : x) v = float(mt::randn(g, 1)[0]);
    std::vector<float> y1(size_t(batch * out)), y4(size_t(batch * out));
    mamba_gemv_args a{};
    a.batch = batch, a.in = in, a.out = out, a.weight_format = format, a.x = x.data(), a.x_row_stride = in;
    a.weight = format == MAMBA_WEIGHTS_INT8 ? static_cast<const void*>(q.data()) : h.data();
    a.scales = format == MAMBA_WEIGHTS_INT8 ? s.data() : nullptr;
    a.y_row_stride = out;
    mamba_set_num_threads(1);
    a.y = y1.data();
    ASSERT_EQ(mamba_gemv_cpu(&a), MAMBA_OK) << mamba_last_error();
    mamba_set_num_threads(4);
    a.y = y4.data();
    ASSERT_EQ(mamba_gemv_cpu(&a), MAMBA_OK) << mamba_last_error();
    mamba_set_num_threads(0);
    EXPECT_EQ(std::memcmp(y1.data(), y4.data(), y1.size() * sizeof(float)), 0) << "format " << format;
  }
}

void expect_gemv_error(const mamba_gemv_args* a, int code, const char* word, const std::vector<float>& y) {
  std::vector<float> before = y;
  EXPECT_EQ(mamba_gemv_cpu(a), code) << word;
  EXPECT_NE(std::string(mamba_last_error()).find(word), std::string::npos) << "message: " << mamba_last_error();
  EXPECT_EQ(std::memcmp(before.data(), y.data(), y.size() * sizeof(float)), 0) << word << ": y was written";
}

TEST(WeightGemvCpu, Arguments) {
  const int64_t batch = 2, in = 5, out = 3;
  std::vector<float> x(size_t(batch * in), 1.f), s(size_t(out), 0.5f), y(size_t(batch * out), 7.f);
  std::vector<int8_t> q(size_t(out * in), 1);
  mamba_gemv_args ok{};
  ok.batch = batch, ok.in = in, ok.out = out, ok.weight_format = MAMBA_WEIGHTS_INT8;
  ok.x = x.data(), ok.x_row_stride = in, ok.weight = q.data(), ok.scales = s.data(), ok.y = y.data(), ok.y_row_stride = out;
  expect_gemv_error(nullptr, MAMBA_ERR_INVALID_ARGUMENT, "args is NULL", y);
#define CASE(field, value, code, word) { auto b = ok; b.field = value; expect_gemv_error(&b, code, word, y); }
  CASE(batch, 0, MAMBA_ERR_INVALID_ARGUMENT, "batch=0");
  CASE(in, 0, MAMBA_ERR_INVALID_ARGUMENT, "in=0");
  CASE(out, -1, MAMBA_ERR_INVALID_ARGUMENT, "out=-1");
  CASE(weight_format, 1, MAMBA_ERR_UNSUPPORTED, "weight_format=1");
  CASE(reserved, 3, MAMBA_ERR_INVALID_ARGUMENT, "reserved=3");
  CASE(x, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "x is NULL");
  CASE(weight, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "weight is NULL");
  CASE(y, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "y is NULL");
  CASE(scales, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "scales is NULL");
  CASE(weight_format, MAMBA_WEIGHTS_BF16, MAMBA_ERR_INVALID_ARGUMENT, "scales must be NULL");
  CASE(x_row_stride, -5, MAMBA_ERR_INVALID_ARGUMENT, "x strides");
  CASE(y_row_stride, 0, MAMBA_ERR_INVALID_ARGUMENT, "y is written");
  CASE(y_row_stride, 2, MAMBA_ERR_INVALID_ARGUMENT, "rows would overlap");
  {
    auto b = ok;  // the offset of y's last row past 2^63 elements
    b.batch = 3, b.x_row_stride = 0, b.y_row_stride = int64_t(1) << 62;
    expect_gemv_error(&b, MAMBA_ERR_INVALID_ARGUMENT, "y strides", y);
  }
  CASE(in, int64_t(1) << 61, MAMBA_ERR_INVALID_ARGUMENT, "too large");   // 4-byte weights past 2^63 bytes
  CASE(in, int64_t(1) << 62, MAMBA_ERR_INVALID_ARGUMENT, "more than 2^63 elements");
  {
    auto b = ok;
    b.add = y.data(), b.add_row_stride = -1;
    expect_gemv_error(&b, MAMBA_ERR_INVALID_ARGUMENT, "add strides", y);
  }
#undef CASE
  // x may repeat one row (stride 0: read only); add may be y itself (a residual added in place).
  auto b = ok;
  b.x_row_stride = 0, b.add = y.data(), b.add_row_stride = out;
  ASSERT_EQ(mamba_gemv_cpu(&b), MAMBA_OK) << mamba_last_error();
  EXPECT_STREQ(mamba_last_error(), "");
  for (float v : y) EXPECT_EQ(v, 7.f + 0.5f * 5.f);
}

TEST(WeightGemvCpu, QuantizeArguments) {
  std::vector<float> w = {1.f, -2.f, 3.f, 4.f, 5.f, 6.f};
  std::vector<int8_t> q(6, 42);
  std::vector<float> s(2, 9.f);
  auto expect = [&](int rc, const char* word) {
    EXPECT_EQ(rc, MAMBA_ERR_INVALID_ARGUMENT) << word;
    EXPECT_NE(std::string(mamba_last_error()).find(word), std::string::npos) << "message: " << mamba_last_error();
    for (auto v : q) EXPECT_EQ(v, 42) << word << ": q was written";
    for (auto v : s) EXPECT_EQ(v, 9.f) << word << ": scales were written";
  };
  expect(mamba_quantize_int8_cpu(0, 3, w.data(), 3, q.data(), s.data()), "rows=0");
  expect(mamba_quantize_int8_cpu(2, 0, w.data(), 3, q.data(), s.data()), "cols=0");
  expect(mamba_quantize_int8_cpu(2, 3, nullptr, 3, q.data(), s.data()), "weight is NULL");
  expect(mamba_quantize_int8_cpu(2, 3, w.data(), 3, nullptr, s.data()), "q is NULL");
  expect(mamba_quantize_int8_cpu(2, 3, w.data(), 3, q.data(), nullptr), "scales is NULL");
  expect(mamba_quantize_int8_cpu(2, 3, w.data(), -3, q.data(), s.data()), "weight strides");
  w[4] = std::numeric_limits<float>::infinity();
  expect(mamba_quantize_int8_cpu(2, 3, w.data(), 3, q.data(), s.data()), "weight[1, 1]");
  w[4] = std::numeric_limits<float>::quiet_NaN();
  expect(mamba_quantize_int8_cpu(2, 3, w.data(), 3, q.data(), s.data()), "not finite");
  // Rows may be read with a stride 0 (one row repeated).
  EXPECT_EQ(mamba_quantize_int8_cpu(2, 3, w.data(), 0, q.data(), s.data()), MAMBA_OK) << mamba_last_error();
  const std::vector<int8_t> want = {42, -85, 127, 42, -85, 127};  // 1, -2, 3 in steps of 3/127
  EXPECT_EQ(q, want);
  EXPECT_FLOAT_EQ(s[1], 3.f / 127.f);
}

}  // namespace
