// mamba_ssd_fwd_cpu / mamba_ssd_bwd_cpu / mamba_ssd_step_cpu against the naive fp64 oracle (reference/ssd_reference.h):
// odd shapes (L = 1, L not a multiple of the chunk, chunk 1, G = 3, P = 5, N = 1), every dtype, optional inputs,
// x | B | C | dt as strided slices of one in_proj-like buffer, both kernel sets, thread-count independence,
// argument errors; and the oracle's own backward against finite differences.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include "reference/ssd_reference.h"
#include "test_util.h"

namespace {

// A strided view into shared storage of some dtype: logical row-major flat index -> base + sum i_k * stride_k.
struct View {
  std::shared_ptr<std::vector<unsigned char>> mem;
  int dtype = MAMBA_F32;
  int64_t base = 0;
  std::vector<int64_t> shape, stride;
  int64_t numel() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  int64_t offset(int64_t flat) const {
    int64_t off = base;
    for (int i = (int)shape.size() - 1; i >= 0; --i) off += (flat % shape[i]) * stride[i], flat /= shape[i];
    return off;
  }
  void* ptr() const { return mem->data() + base * mt::Tensor::elem_size(dtype); }
  double get(int64_t i) const { return mamba::cpu::load_elem<double>(mem->data(), dtype, offset(i)); }
  // Stores v and returns what the storage holds (the reference sees rounded inputs).
  void fill(std::vector<double>& v) {
    for (int64_t i = 0; i < numel(); ++i) {
      mamba::cpu::store_elem<double>(mem->data(), dtype, offset(i), v[i]);
      v[i] = get(i);
    }
  }
  std::vector<double> values() const {
    std::vector<double> v(numel());
    for (int64_t i = 0; i < numel(); ++i) v[i] = get(i);
    return v;
  }
};

// A fresh contiguous (or reversed-axis-order, padded) tensor filled with NaN bytes in its gaps.
View fresh(int dtype, std::vector<int64_t> shape, bool transposed = false) {
  View v;
  v.dtype = dtype, v.shape = shape, v.stride.assign(shape.size(), 0);
  int64_t s = 1;
  const int r = (int)shape.size();
  for (int k = 0; k < r; ++k) {  // transposed: axis 0 fastest, with one element of padding
    const int i = transposed ? k : r - 1 - k;
    v.stride[i] = s;
    s *= shape[i] + (transposed && k == 0 ? 1 : 0);
  }
  v.mem = std::make_shared<std::vector<unsigned char>>(size_t(s) * mt::Tensor::elem_size(dtype), 0xff);
  return v;
}

struct SsdCase {
  int B, L, H, P, G, N, chunk;
  int dtype = MAMBA_F32;
  bool D = true, bias = true, init = true, dfinal = true, softplus = true;
  double dt_max = INFINITY;
  int layout = 0;  // 0 contiguous; 1 x|B|C|dt slices of one (B, L, K) buffer (dy/grads transposed); 2 transposed
};

std::string describe(const SsdCase& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "B=%d L=%d H=%d P=%d G=%d N=%d chunk=%d dtype=%d D=%d bias=%d init=%d dfinal=%d sp=%d dtmax=%g layout=%d",
                c.B, c.L, c.H, c.P, c.G, c.N, c.chunk, c.dtype, c.D, c.bias, c.init, c.dfinal, c.softplus, c.dt_max, c.layout);
  return buf;
}

struct SsdProblemT {
  SsdCase c;
  RefSsd ref;
  View x, dt, Bm, Cm, y, dy, dx, ddt, dB, dC;
  std::vector<float> A, Dv, bias, init, dfinal, final_state, dA, dD, dbias, dinit;
  mamba_ssd_args a{};
  mamba_ssd_outputs o{};
  mamba_ssd_grads g{};

  SsdProblemT(const SsdCase& cc, uint64_t seed) : c(cc) {
    std::mt19937_64 rng(seed);
    const int64_t B = c.B, L = c.L, H = c.H, P = c.P, G = c.G, N = c.N;
    const bool tr = c.layout == 2;
    if (c.layout == 1) {
      // in_proj's output (B, L, K): x | B | C | dt, then 3 unused columns.
      const int64_t K = H * P + 2 * G * N + H + 3;
      View buf = fresh(c.dtype, {B, L, K});
      auto slice = [&](int64_t off, std::vector<int64_t> shape, std::vector<int64_t> stride) {
        View v = buf;
        v.base = off, v.shape = shape, v.stride = stride;
        return v;
      };
      x = slice(0, {B, L, H, P}, {L * K, K, P, 1});
      Bm = slice(H * P, {B, L, G, N}, {L * K, K, N, 1});
      Cm = slice(H * P + G * N, {B, L, G, N}, {L * K, K, N, 1});
      dt = slice(H * P + 2 * G * N, {B, L, H}, {L * K, K, 1});
    } else {
      x = fresh(c.dtype, {B, L, H, P}, tr);
      Bm = fresh(c.dtype, {B, L, G, N}, tr);
      Cm = fresh(c.dtype, {B, L, G, N}, tr);
      dt = fresh(c.dtype, {B, L, H}, tr);
    }
    const bool gtr = c.layout != 0;
    y = fresh(c.dtype, {B, L, H, P}, tr);
    dy = fresh(c.dtype, {B, L, H, P}, gtr);
    dx = fresh(c.dtype, {B, L, H, P}, gtr);
    ddt = fresh(c.dtype, {B, L, H}, gtr);
    dB = fresh(c.dtype, {B, L, G, N}, gtr);
    dC = fresh(c.dtype, {B, L, G, N}, gtr);

    ref.B = c.B, ref.L = c.L, ref.H = c.H, ref.P = c.P, ref.G = c.G, ref.N = c.N;
    ref.softplus = c.softplus, ref.dt_max = c.dt_max;
    ref.has_D = c.D, ref.has_bias = c.bias, ref.has_init = c.init, ref.has_dfinal = c.dfinal;
    ref.x = mt::randn(rng, B * L * H * P);
    x.fill(ref.x);
    ref.dt = c.softplus ? mt::randn(rng, B * L * H, 0.7) : mt::rand01(rng, B * L * H, 0.5, 0.05);
    dt.fill(ref.dt);
    ref.Bm = mt::randn(rng, B * L * G * N, 0.6);
    Bm.fill(ref.Bm);
    ref.Cm = mt::randn(rng, B * L * G * N, 0.6);
    Cm.fill(ref.Cm);
    ref.A = mt::rand01(rng, H, 2.0, -1.0);
    for (auto& v : ref.A) v = -std::exp(v);
    A = mt::as_f32(ref.A);
    ref.Dv = mt::randn(rng, H);
    Dv = mt::as_f32(ref.Dv);
    ref.bias = mt::randn(rng, H, 0.5);
    for (auto& v : ref.bias) v -= c.softplus ? 1.0 : 0.0;
    bias = mt::as_f32(ref.bias);
    ref.init = mt::randn(rng, B * H * P * N, 0.5);
    init = mt::as_f32(ref.init);
    ref.dy = mt::randn(rng, B * L * H * P);
    dy.fill(ref.dy);
    ref.dfinal = mt::randn(rng, B * H * P * N, 0.5);
    dfinal = mt::as_f32(ref.dfinal);
    final_state.assign(B * H * P * N, NAN);
    dA.assign(H, NAN), dD.assign(H, NAN), dbias.assign(H, NAN), dinit.assign(B * H * P * N, NAN);
    ref.run();

    a.batch = B, a.length = L, a.heads = H, a.head_dim = P, a.groups = G, a.state = N, a.chunk = c.chunk;
    a.dtype = c.dtype, a.dt_softplus = c.softplus, a.dt_min = 0.f, a.dt_max = float(c.dt_max);
    set(a.x, a.x_stride, x);
    set(a.dt, a.dt_stride, dt);
    set(a.B, a.B_stride, Bm);
    set(a.C, a.C_stride, Cm);
    a.A = A.data();
    a.D = c.D ? Dv.data() : nullptr;
    a.dt_bias = c.bias ? bias.data() : nullptr;
    a.initial_state = c.init ? init.data() : nullptr;
    set(o.y, o.y_stride, y);
    o.final_state = final_state.data();
    set(g.dy, g.dy_stride, dy);
    g.dfinal_state = c.dfinal ? dfinal.data() : nullptr;
    set(g.dx, g.dx_stride, dx);
    set(g.ddt, g.ddt_stride, ddt);
    g.dA = dA.data();
    set(g.dB, g.dB_stride, dB);
    set(g.dC, g.dC_stride, dC);
    g.dD = c.D ? dD.data() : nullptr;
    g.ddt_bias = c.bias ? dbias.data() : nullptr;
    g.dinitial_state = c.init ? dinit.data() : nullptr;
  }
  template <class Ptr> static void set(Ptr& p, int64_t* stride, const View& v) {
    p = static_cast<Ptr>(v.ptr());
    for (size_t i = 0; i < v.stride.size(); ++i) stride[i] = v.stride[i];
  }
};

}  // namespace

namespace {
// |got - ref| <= rtol |ref| + atol * max|ref| elementwise (gradients are sums whose terms cancel).
void expect_scaled(const std::string& name, const std::vector<double>& got, const std::vector<double>& ref, double rtol,
                   double atol) {
  double scale = 0;
  for (double v : ref) scale = std::max(scale, std::fabs(v));
  mt::expect_close(name, got, ref, rtol, atol * std::max(scale, 1e-3));
}

void check(const SsdCase& c, uint64_t seed, bool backward = true) {
  SCOPED_TRACE(describe(c));
  SsdProblemT p(c, seed);
  ASSERT_EQ(mamba_ssd_fwd_cpu(&p.a, &p.o), MAMBA_OK) << mamba_last_error();
  const double tol = c.dtype == MAMBA_F32 ? 2e-5 : c.dtype == MAMBA_F16 ? 2e-3 : 1e-2;
  expect_scaled("y", p.y.values(), p.ref.y, tol, tol);
  expect_scaled("final_state", mt::to_f64(p.final_state), p.ref.final_state, 2e-5, 2e-5);
  if (!backward) return;
  ASSERT_EQ(mamba_ssd_bwd_cpu(&p.a, &p.g), MAMBA_OK) << mamba_last_error();
  const double gt = c.dtype == MAMBA_F32 ? 1e-4 : c.dtype == MAMBA_F16 ? 3e-3 : 1.5e-2;
  expect_scaled("dx", p.dx.values(), p.ref.dx, gt, gt);
  expect_scaled("ddt", p.ddt.values(), p.ref.ddt, gt, gt);
  expect_scaled("dB", p.dB.values(), p.ref.dB, gt, gt);
  expect_scaled("dC", p.dC.values(), p.ref.dC, gt, gt);
  expect_scaled("dA", mt::to_f64(p.dA), p.ref.dA, 1e-4, 1e-4);
  if (c.D) expect_scaled("dD", mt::to_f64(p.dD), p.ref.dD, 1e-4, 1e-4);
  if (c.bias) expect_scaled("ddt_bias", mt::to_f64(p.dbias), p.ref.dbias, 1e-4, 1e-4);
  if (c.init) expect_scaled("dinitial_state", mt::to_f64(p.dinit), p.ref.dinit, 1e-4, 1e-4);
}

const SsdCase kOddShapes[] = {
    {1, 1, 1, 1, 1, 1, 64},    // L = 1, N = 1, P = 1
    {2, 7, 3, 5, 3, 4, 64},    // G = 3, P = 5, one short chunk
    {2, 37, 4, 5, 2, 3, 8},    // L not a multiple of the chunk
    {1, 13, 2, 3, 1, 1, 1},    // chunk = 1 (the recurrence), N = 1
    {2, 40, 6, 9, 3, 17, 16},  // L a multiple of the chunk; padded P and N
    {1, 70, 2, 16, 1, 32, 64}, // a long chunk and a short one
    {3, 9, 4, 8, 4, 8, 5},     // odd chunk, G = H
};

}  // namespace

TEST(SsdCpu, Fp32OddShapes) {
  uint64_t seed = 1;
  for (const auto& c : kOddShapes) check(c, seed++);
}

TEST(SsdCpu, Fp32OptionsOffClampAndNoSoftplus) {
  uint64_t seed = 20;
  for (const auto& base : {kOddShapes[1], kOddShapes[2], kOddShapes[4]}) {
    SsdCase c = base;
    c.D = c.bias = c.init = c.dfinal = false;
    check(c, seed++);
    c = base;
    c.dt_max = 0.5;  // the clamp holds about half the steps
    check(c, seed++);
    c = base;
    c.softplus = false;
    c.init = false;
    check(c, seed++);
  }
}

TEST(SsdCpu, StridedViewsAllDtypes) {
  uint64_t seed = 40;
  for (int dtype : {MAMBA_F32, MAMBA_F16, MAMBA_BF16})
    for (int layout : {0, 1, 2})
      for (const auto& base : {kOddShapes[2], kOddShapes[4]}) {
        SsdCase c = base;
        c.dtype = dtype, c.layout = layout;
        check(c, seed++);
      }
}

TEST(SsdCpu, ChunkSizesAgree) {
  // The chunk is a hint: 1, 8, 16, 64 and the whole sequence give the same result to rounding (the CPU cuts chunks
  // to 32 steps).
  for (int chunk : {1, 8, 16, 64, 200}) {
    SsdCase c{2, 100, 4, 8, 2, 16, chunk};
    c.layout = 1;
    check(c, 77);
  }
}

TEST(SsdCpu, GenericKernels) {
  setenv("MAMBA_CPU_ISA", "generic", 1);
  uint64_t seed = 60;
  for (const auto& c : kOddShapes) check(c, seed++);
  unsetenv("MAMBA_CPU_ISA");
}

TEST(SsdCpu, ResultsDoNotDependOnThreadCount) {
  SsdCase c{3, 50, 6, 8, 2, 16, 16};
  c.layout = 1;
  auto run = [&](int threads) {
    mamba_set_num_threads(threads);
    SsdProblemT p(c, 5);
    EXPECT_EQ(mamba_ssd_fwd_cpu(&p.a, &p.o), MAMBA_OK);
    EXPECT_EQ(mamba_ssd_bwd_cpu(&p.a, &p.g), MAMBA_OK);
    std::vector<double> all = p.y.values();
    for (const View* v : {&p.dx, &p.ddt, &p.dB, &p.dC}) {
      auto vals = v->values();
      all.insert(all.end(), vals.begin(), vals.end());
    }
    for (const auto* f : {&p.final_state, &p.dA, &p.dD, &p.dbias, &p.dinit}) all.insert(all.end(), f->begin(), f->end());
    return all;
  };
  const auto one = run(1), three = run(3), many = run(0);
  mamba_set_num_threads(0);
  EXPECT_EQ(one, three);
  EXPECT_EQ(one, many);
}

TEST(SsdCpu, NullOptionalGradientsAreSkipped) {
  SsdCase c = kOddShapes[2];
  SsdProblemT p(c, 9);
  p.g.dD = nullptr, p.g.ddt_bias = nullptr, p.g.dinitial_state = nullptr, p.g.dfinal_state = nullptr;
  ASSERT_EQ(mamba_ssd_bwd_cpu(&p.a, &p.g), MAMBA_OK) << mamba_last_error();
  EXPECT_TRUE(std::isnan(p.dD[0]) && std::isnan(p.dbias[0]) && std::isnan(p.dinit[0]));
}

TEST(SsdCpu, RejectsBadArguments) {
  SsdProblemT p(kOddShapes[2], 3);
  auto expect_error = [&](const char* what, auto mutate, const char* needle) {
    SsdProblemT q(kOddShapes[2], 3);
    mutate(q);
    const int fwd = mamba_ssd_fwd_cpu(&q.a, &q.o);
    EXPECT_NE(fwd, MAMBA_OK) << what;
    EXPECT_NE(std::string(mamba_last_error()).find(needle), std::string::npos) << what << ": " << mamba_last_error();
    EXPECT_NE(mamba_ssd_bwd_cpu(&q.a, &q.g), MAMBA_OK) << what;
  };
  expect_error("chunk 0", [](SsdProblemT& q) { q.a.chunk = 0; }, "chunk");
  expect_error("groups", [](SsdProblemT& q) { q.a.groups = 3; }, "groups");
  expect_error("fp64", [](SsdProblemT& q) { q.a.dtype = MAMBA_F64; }, "dtype");
  expect_error("no x", [](SsdProblemT& q) { q.a.x = nullptr; }, "x");
  expect_error("negative stride", [](SsdProblemT& q) { q.a.B_stride[1] = -1; }, "B");
  expect_error("dt limits", [](SsdProblemT& q) { q.a.dt_min = 2.f, q.a.dt_max = 1.f; }, "dt limits");
  EXPECT_NE(mamba_ssd_fwd_cpu(&p.a, nullptr), MAMBA_OK);
  EXPECT_NE(mamba_ssd_bwd_cpu(&p.a, nullptr), MAMBA_OK);
  p.o.y_stride[3] = 0;  // a written tensor whose elements alias
  EXPECT_NE(mamba_ssd_fwd_cpu(&p.a, &p.o), MAMBA_OK);
}

// ---- decode step ----

namespace {
struct StepCaseS {
  int B, H, P, G, N, W;
  int dtype = MAMBA_F32;
  bool conv_bias = true, dt_bias = true, D = true;
  double dt_max = INFINITY;
  bool strided = false;  // xBC and dt slices of one in_proj row, conv_state (K, width) transposed storage
};

void check_step(const StepCaseS& c, uint64_t seed, int steps = 3) {
  SCOPED_TRACE(::testing::Message() << "B=" << c.B << " H=" << c.H << " P=" << c.P << " G=" << c.G << " N=" << c.N
                                    << " W=" << c.W << " dtype=" << c.dtype << " strided=" << c.strided);
  std::mt19937_64 rng(seed);
  const int64_t K = int64_t(c.H) * c.P + 2 * c.G * c.N;
  RefSsdStep ref;
  ref.B = c.B, ref.H = c.H, ref.P = c.P, ref.G = c.G, ref.N = c.N, ref.W = c.W, ref.dt_max = c.dt_max;
  ref.has_conv_bias = c.conv_bias, ref.has_dt_bias = c.dt_bias, ref.has_D = c.D;
  View row = fresh(c.dtype, {c.B, K + c.H + 2});  // in_proj row: xBC | dt | 2 unused
  View xBC = row, dt = row;
  xBC.shape = {c.B, K};
  dt.base = K, dt.shape = {c.B, c.H}, dt.stride = {K + c.H + 2, 1};
  View conv = fresh(c.dtype, {c.B, K, c.W}, c.strided);
  View out = fresh(c.dtype, {c.B, int64_t(c.H) * c.P}, c.strided);
  ref.conv_state = mt::randn(rng, c.B * K * c.W);
  conv.fill(ref.conv_state);
  ref.conv_weight = mt::randn(rng, K * c.W, 0.5);
  auto cw = mt::as_f32(ref.conv_weight);
  ref.conv_bias = mt::randn(rng, K, 0.3);
  auto cb = mt::as_f32(ref.conv_bias);
  ref.dt_bias = mt::randn(rng, c.H, 0.5);
  for (auto& v : ref.dt_bias) v -= 1.0;
  auto dtb = mt::as_f32(ref.dt_bias);
  ref.A_log = mt::rand01(rng, c.H, 2.0, -1.0);
  auto alog = mt::as_f32(ref.A_log);
  ref.Dv = mt::randn(rng, c.H);
  auto Dv = mt::as_f32(ref.Dv);
  ref.ssm_state = mt::randn(rng, int64_t(c.B) * c.H * c.P * c.N, 0.5);
  auto ssm = mt::as_f32(ref.ssm_state);
  mamba_ssd_step_args a{};
  a.batch = c.B, a.heads = c.H, a.head_dim = c.P, a.groups = c.G, a.state = c.N, a.width = c.W;
  a.dtype = c.dtype, a.dt_softplus = 1, a.dt_min = 0.f, a.dt_max = float(c.dt_max);
  SsdProblemT::set(a.xBC, a.xBC_stride, xBC);
  SsdProblemT::set(a.dt, a.dt_stride, dt);
  SsdProblemT::set(a.conv_state, a.conv_state_stride, conv);
  a.conv_weight = cw.data();
  a.conv_bias = c.conv_bias ? cb.data() : nullptr;
  a.dt_bias = c.dt_bias ? dtb.data() : nullptr;
  a.A_log = alog.data();
  a.D = c.D ? Dv.data() : nullptr;
  a.ssm_state = ssm.data();
  SsdProblemT::set(a.out, a.out_stride, out);
  const bool low = c.dtype != MAMBA_F32;
  for (int s = 0; s < steps; ++s) {
    SCOPED_TRACE(::testing::Message() << "step " << s);
    ref.xBC = mt::randn(rng, c.B * K);
    xBC.fill(ref.xBC);
    ref.dt = mt::randn(rng, int64_t(c.B) * c.H, 0.7);
    dt.fill(ref.dt);
    ref.run();
    ASSERT_EQ(mamba_ssd_step_cpu(&a), MAMBA_OK) << mamba_last_error();
    expect_scaled("out", out.values(), ref.out, low ? 1e-2 : 2e-5, low ? 1e-2 : 2e-5);
    expect_scaled("ssm_state", mt::to_f64(ssm), ref.ssm_state, low ? 2e-3 : 2e-5, low ? 2e-3 : 2e-5);
    EXPECT_EQ(conv.values(), ref.conv_state) << "conv_state holds stored values only";
    if (::testing::Test::HasFailure()) return;
    ref.ssm_state = mt::to_f64(ssm);  // carry the kernel's fp32 state, so errors do not compound
  }
}
}  // namespace

TEST(SsdStepCpu, MatchesReference) {
  uint64_t seed = 300;
  for (int dtype : {MAMBA_F32, MAMBA_F16, MAMBA_BF16})
    for (bool strided : {false, true}) {
      StepCaseS c{2, 6, 5, 3, 4, 4};
      c.dtype = dtype, c.strided = strided;
      check_step(c, seed++);
      StepCaseS d{1, 2, 16, 1, 1, 1};  // N = 1, width 1
      d.dtype = dtype, d.strided = strided, d.conv_bias = d.dt_bias = d.D = false;
      check_step(d, seed++);
      StepCaseS e{3, 4, 8, 2, 21, 8};  // N = 21: two 8-lane blocks and a tail
      e.dtype = dtype, e.strided = strided, e.dt_max = 0.4;
      check_step(e, seed++);
    }
}

TEST(SsdStepCpu, GenericKernels) {
  setenv("MAMBA_CPU_ISA", "generic", 1);
  StepCaseS c{2, 6, 5, 3, 12, 4};  // N = 12: one 8-lane block and a tail
  check_step(c, 350);
  c.dtype = MAMBA_BF16, c.strided = true;
  check_step(c, 351);
  unsetenv("MAMBA_CPU_ISA");
}

TEST(SsdStepCpu, RejectsBadArguments) {
  mamba_ssd_step_args a{};
  EXPECT_EQ(mamba_ssd_step_cpu(nullptr), MAMBA_ERR_INVALID_ARGUMENT);
  a.batch = 1, a.heads = 4, a.head_dim = 2, a.groups = 3, a.state = 2, a.width = 4;
  EXPECT_EQ(mamba_ssd_step_cpu(&a), MAMBA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mamba_last_error()).find("groups"), std::string::npos) << mamba_last_error();
  a.groups = 2, a.width = 9;
  EXPECT_EQ(mamba_ssd_step_cpu(&a), MAMBA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mamba_last_error()).find("width"), std::string::npos) << mamba_last_error();
}

// ---- the oracle itself ----

TEST(SsdReference, BackwardMatchesFiniteDifferences) {
  RefSsd r;
  r.B = 2, r.L = 5, r.H = 4, r.P = 3, r.G = 2, r.N = 3;
  r.has_D = r.has_bias = r.has_init = r.has_dfinal = true;
  r.dt_max = 0.9;  // the clamp holds some steps
  std::mt19937 rng(1);
  std::normal_distribution<double> nd(0, 0.5);
  auto fill = [&](std::vector<double>& v, size_t n) {
    v.resize(n);
    for (auto& e : v) e = nd(rng);
  };
  const size_t nx = size_t(r.B) * r.L * r.H * r.P, nt = size_t(r.B) * r.L * r.H, nbc = size_t(r.B) * r.L * r.G * r.N,
               ns = size_t(r.B) * r.H * r.P * r.N;
  fill(r.x, nx), fill(r.dt, nt), fill(r.A, r.H), fill(r.Bm, nbc), fill(r.Cm, nbc), fill(r.Dv, r.H), fill(r.bias, r.H);
  fill(r.init, ns), fill(r.dy, nx), fill(r.dfinal, ns);
  for (auto& v : r.A) v = -std::exp(v);
  r.run();
  const RefSsd grads = r;
  auto loss = [&](RefSsd q) {
    q.dy.clear();
    q.run();
    double s = 0;
    for (size_t i = 0; i < nx; ++i) s += q.y[i] * r.dy[i];
    for (size_t i = 0; i < ns; ++i) s += q.final_state[i] * r.dfinal[i];
    return s;
  };
  double worst = 0;
  auto check_input = [&](std::vector<double> RefSsd::*in, std::vector<double> RefSsd::*gr, const char* name) {
    for (size_t i = 0; i < (r.*in).size(); ++i) {
      const double e = 1e-6;
      RefSsd plus = r, minus = r;
      (plus.*in)[i] += e;
      (minus.*in)[i] -= e;
      const double fd = (loss(plus) - loss(minus)) / (2 * e), an = (grads.*gr)[i];
      const double rel = std::fabs(fd - an) / (1e-6 + std::fabs(fd));
      worst = std::max(worst, rel);
      EXPECT_LE(rel, 1e-4) << name << "[" << i << "]: finite difference " << fd << ", reference " << an;
    }
  };
  check_input(&RefSsd::x, &RefSsd::dx, "x");
  check_input(&RefSsd::dt, &RefSsd::ddt, "dt");
  check_input(&RefSsd::A, &RefSsd::dA, "A");
  check_input(&RefSsd::Bm, &RefSsd::dB, "B");
  check_input(&RefSsd::Cm, &RefSsd::dC, "C");
  check_input(&RefSsd::Dv, &RefSsd::dD, "D");
  check_input(&RefSsd::bias, &RefSsd::dbias, "bias");
  check_input(&RefSsd::init, &RefSsd::dinit, "init");
  RecordProperty("worst_relative_error", std::to_string(worst));
}
