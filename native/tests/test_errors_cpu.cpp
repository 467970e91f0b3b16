// Argument validation of the CPU entry points: error codes and messages that name the argument.
#include <cstring>
#include <string>
#include "test_util.h"

namespace {

struct Valid {
  std::vector<float> u, A, B, out;
  mamba_scan_args a{};
  mamba_scan_outputs o{};
  Valid() : u(2 * 8 * 4), A(8 * 4, -1.f), B(2 * 2 * 4 * 4), out(2 * 8 * 4) {
    a.batch = 2, a.dim = 8, a.length = 4, a.state = 4, a.groups = 2;
    a.dtype = a.bc_dtype = MAMBA_F32;
    const int64_t s3[3] = {32, 4, 1}, s4[4] = {32, 16, 4, 1};
    a.u = a.delta = u.data();
    std::memcpy(a.u_stride, s3, sizeof s3);
    std::memcpy(a.delta_stride, s3, sizeof s3);
    a.A = A.data(), a.A_stride[0] = 4, a.A_stride[1] = 1;
    a.B = a.C = B.data();
    std::memcpy(a.B_stride, s4, sizeof s4);
    std::memcpy(a.C_stride, s4, sizeof s4);
    o.out = out.data();
    std::memcpy(o.out_stride, s3, sizeof s3);
  }
};

void expect_error(int rc, int code, const char* word) {
  EXPECT_EQ(rc, code);
  EXPECT_NE(std::string(mamba_last_error()).find(word), std::string::npos) << mamba_last_error();
}

TEST(ErrorsCpu, ScanArguments) {
  Valid v;
  EXPECT_EQ(mamba_scan_fwd_cpu(&v.a, &v.o), MAMBA_OK);
  EXPECT_STREQ(mamba_last_error(), "");
  expect_error(mamba_scan_fwd_cpu(nullptr, &v.o), MAMBA_ERR_INVALID_ARGUMENT, "args");
  expect_error(mamba_scan_fwd_cpu(&v.a, nullptr), MAMBA_ERR_INVALID_ARGUMENT, "outputs");
  { Valid w; w.a.u = nullptr; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "u is NULL"); }
  { Valid w; w.a.A = nullptr; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "A is NULL"); }
  { Valid w; w.a.C = nullptr; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "C is NULL"); }
  { Valid w; w.o.out = nullptr; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "out"); }
  { Valid w; w.a.state = 257; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_UNSUPPORTED, "state=257"); }
  { Valid w; w.a.state = 0; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "state=0"); }
  { Valid w; w.a.groups = 3; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "groups=3"); }
  { Valid w; w.a.dim = -1; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "dim=-1"); }
  { Valid w; w.a.length = -2; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "length=-2"); }
  { Valid w; w.a.dtype = 9; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_UNSUPPORTED, "dtype=9"); }
  { Valid w; w.a.bc_dtype = -1; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_UNSUPPORTED, "bc_dtype=-1"); }

  mamba_scan_grads g{};
  expect_error(mamba_scan_bwd_cpu(&v.a, nullptr), MAMBA_ERR_INVALID_ARGUMENT, "grads");
  expect_error(mamba_scan_bwd_cpu(&v.a, &g), MAMBA_ERR_INVALID_ARGUMENT, "dout");
  { Valid w; w.a.state = 300; g.dout = w.out.data();
    expect_error(mamba_scan_bwd_cpu(&w.a, &g), MAMBA_ERR_UNSUPPORTED, "state=300"); }
  // A successful call clears the previous message.
  EXPECT_EQ(mamba_scan_fwd_cpu(&v.a, &v.o), MAMBA_OK);
  EXPECT_STREQ(mamba_last_error(), "");
}

TEST(ErrorsCpu, ConvArguments) {
  std::vector<float> x(2 * 3 * 5), w(3 * 4), out(x.size()), dw(w.size());
  const int64_t s[3] = {15, 5, 1};
  mamba_conv_args a{};
  a.batch = 2, a.dim = 3, a.length = 5, a.width = 4, a.dtype = MAMBA_F32;
  a.x = x.data(), a.weight = w.data();
  std::memcpy(a.x_stride, s, sizeof s);
  EXPECT_EQ(mamba_conv1d_fwd_cpu(&a, out.data(), s), MAMBA_OK);
  expect_error(mamba_conv1d_fwd_cpu(nullptr, out.data(), s), MAMBA_ERR_INVALID_ARGUMENT, "args");
  expect_error(mamba_conv1d_fwd_cpu(&a, nullptr, s), MAMBA_ERR_INVALID_ARGUMENT, "out");
  { auto b = a; b.width = 9; expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_UNSUPPORTED, "width=9"); }
  { auto b = a; b.width = 0; expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_INVALID_ARGUMENT, "width=0"); }
  { auto b = a; b.dtype = 7; expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_UNSUPPORTED, "dtype=7"); }
  { auto b = a; b.x = nullptr; expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_INVALID_ARGUMENT, "x is NULL"); }
  { auto b = a; b.weight = nullptr;
    expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_INVALID_ARGUMENT, "weight is NULL"); }
  expect_error(mamba_conv1d_bwd_cpu(&a, nullptr, s, out.data(), s, dw.data(), nullptr), MAMBA_ERR_INVALID_ARGUMENT, "dout");
  expect_error(mamba_conv1d_bwd_cpu(&a, x.data(), s, out.data(), s, nullptr, nullptr), MAMBA_ERR_INVALID_ARGUMENT,
               "dweight");
  EXPECT_EQ(mamba_conv1d_bwd_cpu(&a, x.data(), s, out.data(), s, dw.data(), nullptr), MAMBA_OK);
}

// Layouts the C ABI rejects before touching memory (security issue #16): negative strides, written tensors whose
// stride 0 aliases elements, and sizes or strides that address beyond int64.
TEST(ErrorsCpu, ScanLayouts) {
  { Valid w; w.a.u_stride[2] = -1; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "u strides"); }
  { Valid w; w.a.B_stride[3] = -4; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "B strides"); }
  { Valid w; w.o.out_stride[1] = 0; expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "out is written"); }
  { Valid w; w.a.delta_stride[1] = int64_t(1) << 62;
    expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "delta strides"); }
  { Valid w; w.a.length = int64_t(1) << 62;
    expect_error(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_ERR_INVALID_ARGUMENT, "u sizes"); }
  // A read-only input may broadcast (stride 0): u repeated over channels is a valid call.
  { Valid w; w.a.u_stride[1] = 0; EXPECT_EQ(mamba_scan_fwd_cpu(&w.a, &w.o), MAMBA_OK) << mamba_last_error(); }
  Valid v;
  std::vector<float> du(v.out.size()), dB(v.B.size()), dA(v.A.size());
  mamba_scan_grads g{};
  g.dout = v.out.data(), g.du = du.data(), g.ddelta = du.data(), g.dA = dA.data(), g.dB = dB.data(), g.dC = dB.data();
  std::memcpy(g.dout_stride, v.o.out_stride, sizeof g.dout_stride);
  std::memcpy(g.du_stride, v.o.out_stride, sizeof g.du_stride);
  std::memcpy(g.ddelta_stride, v.o.out_stride, sizeof g.ddelta_stride);
  std::memcpy(g.dB_stride, v.a.B_stride, sizeof g.dB_stride);
  std::memcpy(g.dC_stride, v.a.B_stride, sizeof g.dC_stride);
  EXPECT_EQ(mamba_scan_bwd_cpu(&v.a, &g), MAMBA_OK) << mamba_last_error();
  { auto h = g; h.dB_stride[2] = 0; expect_error(mamba_scan_bwd_cpu(&v.a, &h), MAMBA_ERR_INVALID_ARGUMENT, "dB is written"); }
  { auto h = g; h.du_stride[0] = -32; expect_error(mamba_scan_bwd_cpu(&v.a, &h), MAMBA_ERR_INVALID_ARGUMENT, "du strides"); }
}

TEST(ErrorsCpu, ConvLayouts) {
  std::vector<float> x(2 * 3 * 5), w(3 * 4), out(x.size()), dw(w.size());
  const int64_t s[3] = {15, 5, 1}, alias[3] = {15, 0, 1}, negative[3] = {15, 5, -1};
  mamba_conv_args a{};
  a.batch = 2, a.dim = 3, a.length = 5, a.width = 4, a.dtype = MAMBA_F32;
  a.x = x.data(), a.weight = w.data();
  std::memcpy(a.x_stride, s, sizeof s);
  expect_error(mamba_conv1d_fwd_cpu(&a, out.data(), alias), MAMBA_ERR_INVALID_ARGUMENT, "out is written");
  expect_error(mamba_conv1d_fwd_cpu(&a, out.data(), negative), MAMBA_ERR_INVALID_ARGUMENT, "out strides");
  { auto b = a; b.x_stride[2] = -1; expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_INVALID_ARGUMENT, "x strides"); }
  { auto b = a; b.dim = 0; expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_INVALID_ARGUMENT, "dim=0"); }
  { auto b = a; b.dim = int64_t(1) << 62;
    expect_error(mamba_conv1d_fwd_cpu(&b, out.data(), s), MAMBA_ERR_INVALID_ARGUMENT, "weight sizes"); }
  expect_error(mamba_conv1d_bwd_cpu(&a, x.data(), s, out.data(), alias, dw.data(), nullptr), MAMBA_ERR_INVALID_ARGUMENT,
               "dx is written");
  expect_error(mamba_conv1d_bwd_cpu(&a, x.data(), negative, out.data(), s, dw.data(), nullptr), MAMBA_ERR_INVALID_ARGUMENT,
               "dout strides");
}

TEST(ErrorsCpu, RmsNormArguments) {
  std::vector<float> x(3 * 4, 1.f), w(4, 1.f), out(x.size());
  EXPECT_EQ(mamba_rms_norm_cpu(3, 4, MAMBA_F32, x.data(), 4, w.data(), 1e-5f, out.data(), 4), MAMBA_OK);
  EXPECT_STREQ(mamba_last_error(), "");
  expect_error(mamba_rms_norm_cpu(3, 0, MAMBA_F32, x.data(), 4, w.data(), 1e-5f, out.data(), 4), MAMBA_ERR_INVALID_ARGUMENT, "size=0");
  expect_error(mamba_rms_norm_cpu(0, 4, MAMBA_F32, x.data(), 4, w.data(), 1e-5f, out.data(), 4), MAMBA_ERR_INVALID_ARGUMENT, "rows=0");
  expect_error(mamba_rms_norm_cpu(3, 4, MAMBA_F32, x.data(), 4, nullptr, 1e-5f, out.data(), 4), MAMBA_ERR_INVALID_ARGUMENT,
               "weight is NULL");
  expect_error(mamba_rms_norm_cpu(3, 4, 5, x.data(), 4, w.data(), 1e-5f, out.data(), 4), MAMBA_ERR_UNSUPPORTED, "dtype=5");
  expect_error(mamba_rms_norm_cpu(3, 4, MAMBA_F32, x.data(), -4, w.data(), 1e-5f, out.data(), 4), MAMBA_ERR_INVALID_ARGUMENT,
               "x strides");
  expect_error(mamba_rms_norm_cpu(3, 4, MAMBA_F32, x.data(), 4, w.data(), 1e-5f, out.data(), 2), MAMBA_ERR_INVALID_ARGUMENT,
               "out_row_stride=2");
  expect_error(mamba_rms_norm_cpu(3, 4, MAMBA_F32, x.data(), int64_t(1) << 62, w.data(), 1e-5f, out.data(), 4),
               MAMBA_ERR_INVALID_ARGUMENT, "x strides");
}

TEST(ErrorsCpu, AdamWArguments) {
  std::vector<float> p(4), g(4), m(4), v(4);
  mamba_adamw_tensor t{p.data(), g.data(), m.data(), v.data(), 4, MAMBA_F32, MAMBA_F32, 1, .9f, .1f, .999f, .001f, 1e-8f, 1e-3f, 1};
  EXPECT_EQ(mamba_adamw_step_cpu(&t, 1), MAMBA_OK);
  { auto u = t; u.numel = -1; expect_error(mamba_adamw_step_cpu(&u, 1), MAMBA_ERR_INVALID_ARGUMENT, "numel"); }
  { auto u = t; u.exp_avg = nullptr; expect_error(mamba_adamw_step_cpu(&u, 1), MAMBA_ERR_INVALID_ARGUMENT, "exp_avg"); }
  { auto u = t; u.grad_dtype = 7; expect_error(mamba_adamw_step_cpu(&u, 1), MAMBA_ERR_UNSUPPORTED, "dtypes"); }
  expect_error(mamba_adamw_step_cpu(nullptr, 1), MAMBA_ERR_INVALID_ARGUMENT, "tensors is NULL");
  expect_error(mamba_adamw_step_cpu(&t, -1), MAMBA_ERR_INVALID_ARGUMENT, "count");
}

// fp16 / bf16 conversions on known values (the tests use the same helpers to build inputs).
TEST(ErrorsCpu, HalfConversions) {
  using namespace mamba::cpu;
  EXPECT_EQ(float_to_half(1.f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.f), 0xc000);
  EXPECT_EQ(float_to_half(65504.f), 0x7bff);
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);
  EXPECT_EQ(float_to_half(5.9604645e-8f), 0x0001);
  EXPECT_EQ(float_to_half(1.f + 1.f / 2048), 0x3c00);  // tie rounds to even
  EXPECT_EQ(half_to_float(0x3555), 0.33325195f);
  EXPECT_EQ(half_to_float(0x0001), 5.9604645e-8f);
  EXPECT_EQ(float_to_bf16(1.f), 0x3f80);
  EXPECT_EQ(float_to_bf16(1.f + 1.f / 256), 0x3f80);  // tie rounds to even
  EXPECT_EQ(float_to_bf16(1.f + 3.f / 256), 0x3f82);
  EXPECT_EQ(bf16_to_float(0xc040), -3.f);
}

}  // namespace
