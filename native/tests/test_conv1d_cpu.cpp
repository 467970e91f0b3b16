// Causal depthwise conv1d CPU kernels against the naive fp64 reference (reference/conv_reference.h),
// forward and backward.
#include <cstring>
#include "reference/conv_reference.h"
#include "test_util.h"

namespace {

struct ConvCase {
  int64_t batch, dim, length, width;
  bool silu, bias, strided;
  int dtype;
};

void check_conv(const ConvCase& c, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "B=" << c.batch << " D=" << c.dim << " L=" << c.length << " W=" << c.width
                                    << " silu=" << c.silu << " bias=" << c.bias << " strided=" << c.strided
                                    << " dtype=" << c.dtype);
  std::mt19937_64 g(seed);
  auto seq = [&](int64_t pad) {
    return c.strided ? mt::Tensor(c.dtype, {c.batch, c.dim, c.length}, {0, 2, 1}, pad)
                     : mt::Tensor(c.dtype, {c.batch, c.dim, c.length});
  };
  mt::Tensor x = seq(1), out = seq(2), dout_t = seq(0), dx = seq(3);
  const int64_t n = c.batch * c.dim * c.length, W = c.width;
  RefConv r{};
  r.B = int(c.batch), r.D = int(c.dim), r.L = int(c.length), r.W = int(W), r.silu = c.silu, r.has_bias = c.bias;
  r.x = mt::randn(g, n), r.dout = mt::randn(g, n);
  r.w = mt::randn(g, c.dim * W, 0.5), r.bias = mt::randn(g, c.dim);
  x.fill(r.x);
  dout_t.fill(r.dout);
  std::vector<float> w = mt::as_f32(r.w), bias = mt::as_f32(r.bias);
  r.run();

  mamba_conv_args a{};
  a.batch = c.batch, a.dim = c.dim, a.length = c.length, a.width = W, a.dtype = c.dtype, a.silu = c.silu;
  a.x = x.data();
  std::memcpy(a.x_stride, x.st(), sizeof a.x_stride);
  a.weight = w.data();
  a.bias = c.bias ? bias.data() : nullptr;
  const bool low = c.dtype == MAMBA_BF16 || c.dtype == MAMBA_F16;
  const double rtol = c.dtype == MAMBA_F64 ? 1e-6 : low ? 3e-2 : 6e-4, atol = c.dtype == MAMBA_F64 ? 1e-6 : low ? 5e-2 : 2e-3;
  ASSERT_EQ(mamba_conv1d_fwd_cpu(&a, out.data(), out.st()), MAMBA_OK) << mamba_last_error();
  mt::expect_close("out", out.values(), r.out, rtol, atol);

  std::vector<float> dw(c.dim * W, -7.f), db(c.dim, -7.f);
  ASSERT_EQ(mamba_conv1d_bwd_cpu(&a, dout_t.data(), dout_t.st(), dx.data(), dx.st(), dw.data(), db.data()), MAMBA_OK)
      << mamba_last_error();
  mt::expect_close("dx", dx.values(), r.dx, rtol, atol);
  mt::expect_close("dweight", mt::to_f64(dw), r.dw, rtol, atol);
  mt::expect_close("dbias", mt::to_f64(db), r.db, rtol, atol);

  // Reproducible: a second backward is bitwise equal.
  mt::Tensor dx2 = seq(3);
  std::vector<float> dw2(c.dim * W), db2(c.dim);
  ASSERT_EQ(mamba_conv1d_bwd_cpu(&a, dout_t.data(), dout_t.st(), dx2.data(), dx2.st(), dw2.data(), db2.data()), MAMBA_OK);
  EXPECT_EQ(dx.bytes, dx2.bytes);
  EXPECT_EQ(0, std::memcmp(dw.data(), dw2.data(), dw.size() * 4));
  EXPECT_EQ(0, std::memcmp(db.data(), db2.data(), db.size() * 4));
}

TEST(Conv1dCpu, MatchesReference) {
  uint64_t seed = 100;
  for (int64_t W : {1, 2, 3, 4, 8})
    for (int dtype : {MAMBA_F32, MAMBA_F64, MAMBA_BF16, MAMBA_F16})
      for (int variant = 0; variant < 2; ++variant) {
        const bool v = variant == 1;
        check_conv({2, 5, 1, W, v, !v, v, dtype}, seed++);
        check_conv({3, 7, 37, W, !v, v, v, dtype}, seed++);
        check_conv({1, 4, 5, W, v, v, !v, dtype}, seed++);  // length < width
      }
}

}  // namespace
