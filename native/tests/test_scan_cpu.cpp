// Selective scan CPU kernels against the naive fp64 reference (reference/scan_reference.h): forward output,
// final state and every gradient, over odd shapes, optional inputs, strides and dtypes; plus
// finite differences of the fp64 path, determinism and the portable (non-AVX2) kernels.
#include <cstdlib>
#include <cstring>
#include "reference/scan_reference.h"
#include "test_util.h"

namespace {

struct Case {
  int64_t batch, dim, length, state, groups;
  bool z = true, D = true, bias = true, h0 = true, softplus = true, strided = false, dfinal = true;
  int dtype = MAMBA_F32, bc_dtype = MAMBA_F32;
  double delta_scale = 0.5;  // delta ~ delta_scale * randn with softplus
};

std::string describe(const Case& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "B=%lld D=%lld L=%lld N=%lld G=%lld z=%d D=%d bias=%d h0=%d sp=%d strided=%d dt=%d bc=%d",
                (long long)c.batch, (long long)c.dim, (long long)c.length, (long long)c.state, (long long)c.groups, c.z,
                c.D, c.bias, c.h0, c.softplus, c.strided, c.dtype, c.bc_dtype);
  return buf;
}

// Storage for one call: inputs filled from the reference problem (rounded to their dtypes),
// outputs and gradients preallocated, with the (b, l, d)-style layouts when strided.
struct Problem {
  Case c;
  RefScan s{};  // the reference problem: rounded inputs, dout, dfinal; run() fills its outputs
  std::vector<float> A, D, bias, h0, dhT32;
  mt::Tensor u, delta, z, B, C, out, dout_t, du, ddelta, dz, dB, dC;
  std::vector<float> hT, dA, dD, dbias, dh0;
  int64_t A_stride[2];

  // (batch, dim, length) seen through a (batch, length, dim) buffer with padding when strided.
  static mt::Tensor seq(const Case& c, int dt, int64_t pad) {
    return c.strided ? mt::Tensor(dt, {c.batch, c.dim, c.length}, {0, 2, 1}, pad)
                     : mt::Tensor(dt, {c.batch, c.dim, c.length});
  }
  static mt::Tensor bc(const Case& c, int dt) {
    return c.strided ? mt::Tensor(dt, {c.batch, c.groups, c.state, c.length}, {0, 3, 1, 2}, 3)
                     : mt::Tensor(dt, {c.batch, c.groups, c.state, c.length});
  }

  Problem(const Case& cc, uint64_t seed)
      : c(cc), u(seq(c, c.dtype, 1)), delta(seq(c, c.dtype, 2)), z(seq(c, c.dtype, 0)), B(bc(c, c.bc_dtype)),
        C(bc(c, c.bc_dtype)), out(seq(c, c.dtype, 5)), dout_t(seq(c, c.dtype, 1)), du(seq(c, c.dtype, 2)),
        ddelta(seq(c, c.dtype, 0)), dz(seq(c, c.dtype, 3)), dB(bc(c, c.bc_dtype)), dC(bc(c, c.bc_dtype)) {
    std::mt19937_64 g(seed);
    const int64_t nseq = c.batch * c.dim * c.length, nbc = c.batch * c.groups * c.state * c.length;
    const int64_t nh = c.batch * c.dim * c.state;
    s.B = int(c.batch), s.D = int(c.dim), s.L = int(c.length), s.N = int(c.state), s.G = int(c.groups);
    s.softplus = c.softplus;
    s.has_z = c.z, s.has_D = c.D, s.has_bias = c.bias, s.has_init = c.h0, s.has_dfinal = c.dfinal;
    s.u = mt::randn(g, nseq);
    s.delta = c.softplus ? mt::randn(g, nseq, c.delta_scale) : mt::rand01(g, nseq, 0.5, 0.01);
    auto Av = mt::rand01(g, c.dim * c.state, -1.0, -0.05);  // A in (-1.05, -0.05]
    s.Bm = mt::randn(g, nbc);
    s.Cm = mt::randn(g, nbc);
    u.fill(s.u);
    delta.fill(s.delta);
    B.fill(s.Bm);
    C.fill(s.Cm);
    A = mt::as_f32(Av);
    s.A = Av;
    // A in (dim, state) or, strided, in a (state, dim) buffer.
    if (c.strided) {
      std::vector<float> At(A.size());
      for (int64_t d = 0; d < c.dim; ++d)
        for (int64_t n = 0; n < c.state; ++n) At[n * c.dim + d] = A[d * c.state + n];
      A = At;
      A_stride[0] = 1, A_stride[1] = c.dim;
    } else {
      A_stride[0] = c.state, A_stride[1] = 1;
    }
    if (c.D) { s.Dv = mt::randn(g, c.dim); D = mt::as_f32(s.Dv); }
    if (c.z) { s.z = mt::randn(g, nseq); z.fill(s.z); }
    if (c.bias) { s.bias = mt::rand01(g, c.dim, 0.5); bias = mt::as_f32(s.bias); }
    if (c.h0) { s.init = mt::randn(g, nh); h0 = mt::as_f32(s.init); }
    s.dout = mt::randn(g, nseq);
    dout_t.fill(s.dout);
    if (c.dfinal) { s.dfinal = mt::randn(g, nh); dhT32 = mt::as_f32(s.dfinal); }
    hT.assign(nh, -7.f);
    dA.assign(c.dim * c.state, -7.f);
    dD.assign(c.dim, -7.f);
    dbias.assign(c.dim, -7.f);
    dh0.assign(nh, -7.f);
  }

  mamba_scan_args args() {
    mamba_scan_args a{};
    a.batch = c.batch, a.dim = c.dim, a.length = c.length, a.state = c.state, a.groups = c.groups;
    a.dtype = c.dtype, a.bc_dtype = c.bc_dtype, a.delta_softplus = c.softplus, a.deterministic = 1;
    a.u = u.data(); std::memcpy(a.u_stride, u.st(), sizeof a.u_stride);
    a.delta = delta.data(); std::memcpy(a.delta_stride, delta.st(), sizeof a.delta_stride);
    a.A = A.data(); a.A_stride[0] = A_stride[0]; a.A_stride[1] = A_stride[1];
    a.B = B.data(); std::memcpy(a.B_stride, B.st(), sizeof a.B_stride);
    a.C = C.data(); std::memcpy(a.C_stride, C.st(), sizeof a.C_stride);
    a.D = c.D ? D.data() : nullptr;
    a.z = c.z ? z.data() : nullptr; std::memcpy(a.z_stride, z.st(), sizeof a.z_stride);
    a.delta_bias = c.bias ? bias.data() : nullptr;
    a.initial_state = c.h0 ? h0.data() : nullptr;
    return a;
  }
  int run_forward() {
    const mamba_scan_args a = args();
    mamba_scan_outputs o{};
    o.out = out.data(); std::memcpy(o.out_stride, out.st(), sizeof o.out_stride);
    o.final_state = hT.data();
    return mamba_scan_fwd_cpu(&a, &o);
  }
  int run_backward() {
    const mamba_scan_args a = args();
    mamba_scan_grads gr{};
    gr.dout = dout_t.data(); std::memcpy(gr.dout_stride, dout_t.st(), sizeof gr.dout_stride);
    gr.dfinal_state = c.dfinal ? dhT32.data() : nullptr;
    gr.du = du.data(); std::memcpy(gr.du_stride, du.st(), sizeof gr.du_stride);
    gr.ddelta = ddelta.data(); std::memcpy(gr.ddelta_stride, ddelta.st(), sizeof gr.ddelta_stride);
    gr.dA = dA.data();
    gr.dB = dB.data(); std::memcpy(gr.dB_stride, dB.st(), sizeof gr.dB_stride);
    gr.dC = dC.data(); std::memcpy(gr.dC_stride, dC.st(), sizeof gr.dC_stride);
    gr.dD = c.D ? dD.data() : nullptr;
    gr.dz = c.z ? dz.data() : nullptr; std::memcpy(gr.dz_stride, dz.st(), sizeof gr.dz_stride);
    gr.ddelta_bias = c.bias ? dbias.data() : nullptr;
    gr.dinitial_state = c.h0 ? dh0.data() : nullptr;
    return mamba_scan_bwd_cpu(&a, &gr);
  }
};

void tolerances(const Case& c, double& rtol, double& atol) {
  const bool low = c.dtype == MAMBA_BF16 || c.dtype == MAMBA_F16 || c.bc_dtype == MAMBA_BF16 || c.bc_dtype == MAMBA_F16;
  if (c.dtype == MAMBA_F64) rtol = 1e-5, atol = 1e-5;  // fp64 storage computes in double; fp32 params/grads
  else if (low) rtol = 3e-2, atol = 5e-2;
  else rtol = 6e-4, atol = 2e-3;
}

void check_case(const Case& c, uint64_t seed = 1) {
  SCOPED_TRACE(describe(c));
  Problem p(c, seed);
  double rtol, atol;
  tolerances(c, rtol, atol);
  const RefScan& r = p.s;
  p.s.run();
  ASSERT_EQ(p.run_forward(), MAMBA_OK) << mamba_last_error();
  mt::expect_close("out", p.out.values(), r.out, rtol, atol);
  mt::expect_close("final_state", mt::to_f64(p.hT), r.final_state, rtol, atol);

  ASSERT_EQ(p.run_backward(), MAMBA_OK) << mamba_last_error();
  mt::expect_close("du", p.du.values(), r.du, rtol, atol);
  mt::expect_close("ddelta", p.ddelta.values(), r.ddelta, rtol, atol);
  mt::expect_close("dA", mt::to_f64(p.dA), r.dA, rtol, atol);  // always (dim, state) contiguous
  mt::expect_close("dB", p.dB.values(), r.dB, rtol, atol);
  mt::expect_close("dC", p.dC.values(), r.dC, rtol, atol);
  if (c.D) mt::expect_close("dD", mt::to_f64(p.dD), r.dD, rtol, atol);
  if (c.z) mt::expect_close("dz", p.dz.values(), r.dz, rtol, atol);
  if (c.bias) mt::expect_close("ddelta_bias", mt::to_f64(p.dbias), r.dbias, rtol, atol);
  if (c.h0) mt::expect_close("dinitial_state", mt::to_f64(p.dh0), r.dinit, rtol, atol);
}

struct Shape { int64_t batch, dim, length, state, groups; };
// L = 1; L not a multiple of the chunks (32 forward, 8..64 backward); D not a multiple of 8;
// dim/groups not a multiple of 8; N over {1, 4, 16, 64, 256}.
const Shape kShapes[] = {
    {1, 1, 1, 1, 1},    {2, 3, 37, 4, 1},   {2, 13, 70, 16, 1}, {1, 20, 129, 64, 2},
    {2, 12, 9, 256, 3}, {1, 24, 100, 16, 4}, {3, 17, 65, 1, 1},  {1, 9, 1, 256, 1},
    {1, 16, 600, 16, 1},  // many backward chunks
};

Case make(const Shape& s) { return Case{s.batch, s.dim, s.length, s.state, s.groups}; }

TEST(ScanCpu, Fp32AllOptions) {
  for (const Shape& s : kShapes) check_case(make(s));
}

TEST(ScanCpu, Fp32NoOptionalInputs) {
  for (const Shape& s : kShapes) {
    Case c = make(s);
    c.z = c.D = c.bias = c.h0 = c.softplus = c.dfinal = false;
    check_case(c, 2);
  }
}

TEST(ScanCpu, Fp32MixedOptions) {
  int i = 0;
  for (const Shape& s : kShapes) {
    Case c = make(s);
    c.z = i & 1, c.D = i & 2, c.bias = !(i & 1), c.h0 = i & 4, c.softplus = !(i & 2), c.dfinal = i & 1;
    check_case(c, 3 + i++);
  }
}

// Softplus on both sides of its identity branch (x > 20) and deep decays (exp underflow).
TEST(ScanCpu, Fp32ExtremeDelta) {
  for (const Shape& s : {Shape{2, 13, 70, 16, 1}, Shape{1, 20, 33, 64, 2}}) {
    Case c = make(s);
    c.delta_scale = 25;
    check_case(c, 12);
    c.dtype = c.bc_dtype = MAMBA_F64;
    check_case(c, 13);
  }
}

TEST(ScanCpu, Fp32Strided) {
  for (const Shape& s : kShapes) {
    Case c = make(s);
    c.strided = true;
    check_case(c, 11);
  }
}

TEST(ScanCpu, Bf16AndFp16Storage) {
  for (const Shape& s : {Shape{2, 13, 70, 16, 1}, Shape{1, 20, 129, 64, 2}, Shape{2, 12, 9, 256, 3}}) {
    Case c = make(s);
    c.dtype = c.bc_dtype = MAMBA_BF16;
    check_case(c, 21);
    c.strided = true;
    c.bc_dtype = MAMBA_F32;
    check_case(c, 22);
    c.dtype = c.bc_dtype = MAMBA_F16;
    check_case(c, 23);
  }
}

TEST(ScanCpu, Fp64) {
  for (const Shape& s : kShapes) {
    Case c = make(s);
    c.dtype = c.bc_dtype = MAMBA_F64;
    c.strided = s.length % 2;
    check_case(c, 31);
  }
  Case mixed{2, 13, 70, 16, 1};  // fp64 sequences with fp32 B/C
  mixed.dtype = MAMBA_F64;
  check_case(mixed, 32);
}

// The portable kernels, which run when the CPU lacks AVX2/FMA.
TEST(ScanCpu, GenericKernels) {
  setenv("MAMBA_CPU_ISA", "generic", 1);
  for (const Shape& s : kShapes) {
    Case c = make(s);
    c.strided = s.state % 2 == 0;
    check_case(c, 41);
  }
  unsetenv("MAMBA_CPU_ISA");
}

// Gradients of the fp64 path against central differences of its own forward, on a tiny shape.
// loss = sum(out * dout) [+ sum(final_state * dfinal)]. Without dfinal the loss is all fp64 and the
// check is tight; final_state is stored in fp32, which adds ~1e-7 relative noise to the loss, so
// that variant uses a larger step and looser bounds (a wrong formula is still off by O(1)).
void finite_difference_check(bool dfinal, double step, double atol, double rtol) {
  Case c{2, 4, 5, 3, 2};
  c.dtype = c.bc_dtype = MAMBA_F64;
  c.dfinal = dfinal;
  Problem p(c, 51);
  ASSERT_EQ(p.run_backward(), MAMBA_OK) << mamba_last_error();
  auto loss = [&]() {
    EXPECT_EQ(p.run_forward(), MAMBA_OK);
    double l = 0;
    const auto o = p.out.values();
    for (size_t i = 0; i < o.size(); ++i) l += o[i] * p.s.dout[i];
    if (dfinal)
      for (size_t i = 0; i < p.hT.size(); ++i) l += double(p.hT[i]) * p.dhT32[i];
    return l;
  };
  auto fd_tensor = [&](mt::Tensor& t, const mt::Tensor& grad, const char* name) {
    for (int64_t i = 0; i < t.numel(); i += 3) {
      const double x = t.get(i);
      t.set(i, x + step); const double lp = loss();
      t.set(i, x - step); const double lm = loss();
      t.set(i, x);
      EXPECT_NEAR(grad.get(i), (lp - lm) / (2 * step), atol + rtol * std::fabs(grad.get(i))) << name << "[" << i << "]";
    }
  };
  // fp32 parameters: step 1e-3 (float-representable steps matter), divided by the step actually taken.
  auto fd_param = [&](float* v, size_t n, const std::vector<float>& grad, const char* name) {
    for (size_t i = 0; i < n; i += 2) {
      const float x = v[i], xp = x + 1e-3f, xm = x - 1e-3f;
      v[i] = xp; const double lp = loss();
      v[i] = xm; const double lm = loss();
      v[i] = x;
      const double fd = (lp - lm) / (double(xp) - double(xm));
      EXPECT_NEAR(grad[i], fd, std::max(atol, 1e-5) + std::max(rtol, 1e-5) * std::fabs(fd)) << name << "[" << i << "]";
    }
  };
  fd_tensor(p.u, p.du, "u");
  fd_tensor(p.delta, p.ddelta, "delta");
  fd_tensor(p.z, p.dz, "z");
  fd_tensor(p.B, p.dB, "B");
  fd_tensor(p.C, p.dC, "C");
  fd_param(p.A.data(), p.A.size(), p.dA, "A");
  fd_param(p.D.data(), p.D.size(), p.dD, "D");
  fd_param(p.bias.data(), p.bias.size(), p.dbias, "delta_bias");
  fd_param(p.h0.data(), p.h0.size(), p.dh0, "initial_state");
}

TEST(ScanCpu, Fp64FiniteDifferences) { finite_difference_check(false, 1e-5, 1e-7, 1e-6); }
TEST(ScanCpu, Fp64FiniteDifferencesWithFinalStateGrad) { finite_difference_check(true, 1e-3, 5e-4, 1e-3); }

// Two backward runs give bitwise-identical gradients, also with a different thread count.
TEST(ScanCpu, DeterministicBackward) {
  Case c{2, 64, 300, 16, 1};
  Problem p1(c, 61), p2(c, 61), p3(c, 61);
  ASSERT_EQ(p1.run_backward(), MAMBA_OK);
  ASSERT_EQ(p2.run_backward(), MAMBA_OK);
  mamba_set_num_threads(1);
  ASSERT_EQ(p3.run_backward(), MAMBA_OK);
  mamba_set_num_threads(0);
  for (Problem* q : {&p2, &p3}) {
    EXPECT_EQ(p1.du.bytes, q->du.bytes);
    EXPECT_EQ(p1.ddelta.bytes, q->ddelta.bytes);
    EXPECT_EQ(p1.dB.bytes, q->dB.bytes);
    EXPECT_EQ(p1.dC.bytes, q->dC.bytes);
    EXPECT_EQ(p1.dz.bytes, q->dz.bytes);
    EXPECT_EQ(0, std::memcmp(p1.dA.data(), q->dA.data(), p1.dA.size() * 4));
    EXPECT_EQ(0, std::memcmp(p1.dD.data(), q->dD.data(), p1.dD.size() * 4));
    EXPECT_EQ(0, std::memcmp(p1.dbias.data(), q->dbias.data(), p1.dbias.size() * 4));
    EXPECT_EQ(0, std::memcmp(p1.dh0.data(), q->dh0.data(), p1.dh0.size() * 4));
  }
}

// Zero-length sequences: output untouched, final state = initial state, dinitial = dfinal.
TEST(ScanCpu, EmptySequence) {
  Case c{2, 5, 0, 4, 1};
  Problem p(c, 71);
  ASSERT_EQ(p.run_forward(), MAMBA_OK);
  for (size_t i = 0; i < p.hT.size(); ++i) EXPECT_EQ(p.hT[i], p.h0[i]);
  ASSERT_EQ(p.run_backward(), MAMBA_OK);
  for (size_t i = 0; i < p.dh0.size(); ++i) EXPECT_EQ(p.dh0[i], p.dhT32[i]);
  for (float v : p.dA) EXPECT_EQ(v, 0.f);
}

// Batch 0: nothing to compute, parameter gradients are zeros.
TEST(ScanCpu, EmptyBatch) {
  Case c{0, 6, 10, 4, 2};
  Problem p(c, 72);
  ASSERT_EQ(p.run_forward(), MAMBA_OK);
  ASSERT_EQ(p.run_backward(), MAMBA_OK);
  for (float v : p.dA) EXPECT_EQ(v, 0.f);
  for (float v : p.dD) EXPECT_EQ(v, 0.f);
  for (float v : p.dbias) EXPECT_EQ(v, 0.f);
}

}  // namespace
