// mamba_decode_step_cpu against the naive fp64 reference (reference/decode_reference.h): several steps in a
// row (conv_state and ssm_state carried), odd shapes, optional inputs, strided views and dtypes;
// both kernel paths (AVX2 copy and portable); determinism across thread counts; argument validation.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include "reference/decode_reference.h"
#include "test_util.h"

namespace {

struct StepCase {
  int64_t batch, dim, state, dt_rank, width;
  bool z = true, D = true, conv_bias = true, dt_bias = true;
  int layout = 0;  // 0 contiguous; 1 x|z halves of one padded in_proj row; 2 transposed, padded views
  int dtype = MAMBA_F32;
  int steps = 3;
  double dt_spread = 1.0;  // dt_bias ~ dt_spread * randn - 1.5
};

std::string describe(const StepCase& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "B=%lld E=%lld N=%lld R=%lld W=%lld z=%d D=%d cbias=%d dtbias=%d layout=%d dtype=%d dt_spread=%g",
                (long long)c.batch, (long long)c.dim, (long long)c.state, (long long)c.dt_rank, (long long)c.width,
                c.z, c.D, c.conv_bias, c.dt_bias, c.layout, c.dtype, c.dt_spread);
  return buf;
}

// A (batch, dim) view into a tensor's storage: element (b, d) at base + b * s0 + d * s1.
struct View2 {
  mt::Tensor* t = nullptr;
  int64_t base = 0, s[2] = {0, 0};
  void* ptr() const { return t->bytes.data() + base * mt::Tensor::elem_size(t->dtype); }
  double get(int64_t b, int64_t d) const {
    return mamba::cpu::load_elem<double>(t->bytes.data(), t->dtype, base + b * s[0] + d * s[1]);
  }
  // Stores v, returns what the storage holds.
  double set(int64_t b, int64_t d, double v) {
    mamba::cpu::store_elem<double>(t->bytes.data(), t->dtype, base + b * s[0] + d * s[1], v);
    return get(b, d);
  }
};

View2 whole(mt::Tensor& t) {
  View2 v;
  v.t = &t, v.s[0] = t.stride[0], v.s[1] = t.stride[1];
  return v;
}

// Inputs, state and outputs of one problem, with the reference's copies of everything (rounded).
struct StepProblem {
  StepCase c;
  int64_t E, N, R, W, J;
  mt::Tensor xbuf, zbuf, out, conv_state, x_proj, dt_proj;
  View2 x, z, o;
  RefDecodeStep ref;  // rounded copies of everything; its conv and ssm are the carried reference state
  std::vector<float> cw32, cb32, dtb32, alog32, D32, h32, ws;
  mamba_step_args a{};
  std::mt19937_64 g;

  static mt::Tensor mat(const StepCase& c, int64_t rows, int64_t cols, int layout, int64_t pad) {
    return layout == 2 ? mt::Tensor(c.dtype, {rows, cols}, {1, 0}, pad) : mt::Tensor(c.dtype, {rows, cols}, {}, pad);
  }
  static mt::Tensor conv_tensor(const StepCase& c) {
    const std::vector<int64_t> shape{c.batch, c.dim, c.width};
    if (c.layout == 1) return mt::Tensor(c.dtype, shape, {0, 2, 1}, 1);  // (batch, width, dim) storage
    if (c.layout == 2) return mt::Tensor(c.dtype, shape, {1, 0, 2}, 2);  // (dim, batch, width), padded
    return mt::Tensor(c.dtype, shape);
  }

  StepProblem(const StepCase& cc, uint64_t seed)
      : c(cc), E(c.dim), N(c.state), R(c.dt_rank), W(c.width), J(c.dt_rank + 2 * c.state),
        xbuf(c.layout == 1 ? mat(c, c.batch, 2 * c.dim, 1, 2) : mat(c, c.batch, c.dim, c.layout, c.layout ? 1 : 0)),
        zbuf(mat(c, c.batch, c.dim, c.layout, 0)),
        out(mat(c, c.batch, c.dim, c.layout, c.layout ? 3 : 0)),
        conv_state(conv_tensor(c)),
        x_proj(c.dtype, {J, E}),
        dt_proj(c.dtype, {E, R}),
        g(seed) {
    x = whole(xbuf);
    if (c.layout == 1) {  // x and z: the two halves of one in_proj row
      z = x;
      z.base = E * xbuf.stride[1];
    } else {
      z = whole(zbuf);
    }
    o = whole(out);

    ref.B = int(c.batch), ref.E = int(E), ref.N = int(N), ref.R = int(R), ref.W = int(W);
    ref.has_z = c.z, ref.has_D = c.D, ref.has_conv_bias = c.conv_bias, ref.has_dt_bias = c.dt_bias;
    ref.conv_w = mt::randn(g, E * W, 0.5);
    cw32 = mt::as_f32(ref.conv_w);
    ref.conv_b = mt::randn(g, E, 0.5);
    cb32 = mt::as_f32(ref.conv_b);
    ref.x_proj = mt::randn(g, J * E, 1.0 / std::sqrt(double(E)));
    x_proj.fill(ref.x_proj);
    ref.dt_proj = mt::randn(g, E * R, 0.7 / std::sqrt(double(R)));
    dt_proj.fill(ref.dt_proj);
    ref.dt_bias = mt::randn(g, E, c.dt_spread);
    for (auto& t : ref.dt_bias) t -= 1.5;  // dt mostly small, as after Mamba's dt initialisation
    dtb32 = mt::as_f32(ref.dt_bias);
    ref.A_log = mt::rand01(g, E * N, std::log(double(N) + 1.0), -0.5);  // A = -exp(A_log) in about (-N-1, -0.6)
    alog32 = mt::as_f32(ref.A_log);
    ref.D = mt::randn(g, E);
    D32 = mt::as_f32(ref.D);
    ref.ssm = mt::randn(g, c.batch * E * N, 0.5);
    h32 = mt::as_f32(ref.ssm);
    ref.conv = mt::randn(g, c.batch * E * W);
    conv_state.fill(ref.conv);
    ws.assign(c.batch * (E + J), std::numeric_limits<float>::quiet_NaN());  // scratch must not be read first

    a.batch = c.batch, a.dim = E, a.state = N, a.dt_rank = R, a.width = W, a.dtype = c.dtype;
    a.x = x.ptr(), a.x_stride[0] = x.s[0], a.x_stride[1] = x.s[1];
    if (c.z) a.z = z.ptr(), a.z_stride[0] = z.s[0], a.z_stride[1] = z.s[1];
    a.conv_state = conv_state.data();
    std::memcpy(a.conv_state_stride, conv_state.st(), sizeof a.conv_state_stride);
    a.conv_weight = cw32.data();
    a.conv_bias = c.conv_bias ? cb32.data() : nullptr;
    a.x_proj_weight = x_proj.data();
    a.dt_proj_weight = dt_proj.data();
    a.dt_bias = c.dt_bias ? dtb32.data() : nullptr;
    a.A_log = alog32.data();
    a.D = c.D ? D32.data() : nullptr;
    a.ssm_state = h32.data();
    a.workspace = ws.data();
    a.out = o.ptr(), a.out_stride[0] = o.s[0], a.out_stride[1] = o.s[1];
  }

  // New x and z for one step (rounded to dtype); returns them for the reference.
  void new_inputs(std::vector<double>& xv, std::vector<double>& zv) {
    xv = mt::randn(g, c.batch * E);
    zv = mt::randn(g, c.batch * E);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t d = 0; d < E; ++d) {
        xv[b * E + d] = x.set(b, d, xv[b * E + d]);
        if (c.z) zv[b * E + d] = z.set(b, d, zv[b * E + d]);
      }
  }

  // One reference step on these inputs (advances ref.conv and ref.ssm); returns out (batch, dim).
  std::vector<double> reference(const std::vector<double>& xv, const std::vector<double>& zv) {
    ref.x = xv, ref.z = zv;
    ref.step();
    return ref.out;
  }

  std::vector<double> got_out() const {
    std::vector<double> v(c.batch * E);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t d = 0; d < E; ++d) v[b * E + d] = o.get(b, d);
    return v;
  }
};

void check_step(const StepCase& c, uint64_t seed) {
  SCOPED_TRACE(describe(c));
  StepProblem p(c, seed);
  const bool low = c.dtype != MAMBA_F32;
  // The kernel and the reference see the same rounded inputs and fp32 states, so the states agree
  // to fp32 accuracy for every dtype; low-precision outputs add their own rounding.
  const double rtol = low ? 1e-2 : 2e-5, atol = low ? 1e-3 : 2e-5;
  for (int step = 0; step < c.steps; ++step) {
    SCOPED_TRACE(::testing::Message() << "step " << step);
    std::vector<double> xv, zv;
    p.new_inputs(xv, zv);
    const std::vector<double> ref = p.reference(xv, zv);
    ASSERT_EQ(mamba_decode_step_cpu(&p.a), MAMBA_OK) << mamba_last_error();
    mt::expect_close("out", p.got_out(), ref, rtol, atol);
    mt::expect_close("ssm_state", mt::to_f64(p.h32), p.ref.ssm, 5e-6, 5e-6);
    // The window holds stored values only: it must match exactly.
    EXPECT_EQ(p.conv_state.values(), p.ref.conv) << "conv_state";
    if (::testing::Test::HasFailure()) return;
  }
}

// Shapes and options in rotation: every width and state size, for each dtype.
void matches_reference(uint64_t seed) {
  const int64_t widths[] = {1, 2, 4, 8}, states[] = {1, 4, 16, 64, 256}, dims[] = {1, 5, 37};
  for (int dtype : {MAMBA_F32, MAMBA_BF16, MAMBA_F16})
    for (int wi = 0; wi < 4; ++wi)
      for (int ni = 0; ni < 5; ++ni) {
        const int i = wi * 5 + ni, opts = (i * 7 + dtype * 3) % 16;
        StepCase c{(i + dtype) % 2 ? 3 : 1, dims[(i + dtype) % 3], states[ni], (i / 2) % 2 ? 3 : 1, widths[wi]};
        c.z = opts & 1, c.D = opts & 2, c.conv_bias = opts & 4, c.dt_bias = opts & 8;
        c.layout = (i + 2 * dtype) % 3;
        c.dtype = dtype;
        check_step(c, seed++);
      }
}

TEST(DecodeStepCpu, MatchesReference) { matches_reference(500); }

TEST(DecodeStepCpu, AllOptionsAndLayouts) {
  uint64_t seed = 900;
  for (int dtype : {MAMBA_F32, MAMBA_BF16, MAMBA_F16})
    for (int layout = 0; layout < 3; ++layout)
      for (bool on : {true, false}) {
        StepCase c{3, 37, 16, 3, 4};
        c.z = c.D = c.conv_bias = c.dt_bias = on;
        c.layout = layout, c.dtype = dtype, c.steps = 6;  // more steps than the window is wide
        check_step(c, seed++);
        StepCase m{2, 96, 16, 6, 4};  // Mamba's shapes, scaled down; several channel runs and x_proj tasks
        m.layout = layout, m.dtype = dtype;
        m.z = m.D = m.conv_bias = m.dt_bias = !on;
        check_step(m, seed++);
      }
}

// dt over softplus's whole range, its identity branch above 20 included.
TEST(DecodeStepCpu, WideDtRange) {
  uint64_t seed = 950;
  for (int dtype : {MAMBA_F32, MAMBA_BF16})
    for (int64_t N : {4, 16}) {
      StepCase c{2, 64, N, 2, 4};
      c.dt_spread = 15, c.dtype = dtype;
      check_step(c, seed++);
    }
}

// The portable kernels, which run when the CPU lacks AVX2/FMA (the tests above use the AVX2 copy
// where the CPU has it).
TEST(DecodeStepCpu, GenericKernels) {
  setenv("MAMBA_CPU_ISA", "generic", 1);
  matches_reference(700);
  StepCase m{2, 96, 16, 6, 4};
  m.layout = 1;
  check_step(m, 701);
  m.dt_spread = 15;
  check_step(m, 702);
  unsetenv("MAMBA_CPU_ISA");
}

// Bitwise reproducible, and independent of the number of threads: this shape is large enough for
// every pass to use several.
TEST(DecodeStepCpu, DeterministicAcrossThreads) {
  for (bool generic : {false, true})
    for (int dtype : {MAMBA_F32, MAMBA_BF16}) {
      SCOPED_TRACE(::testing::Message() << "generic=" << generic << " dtype=" << dtype);
      if (generic) setenv("MAMBA_CPU_ISA", "generic", 1);
      StepCase c{16, 1536, 64, 32, 8};
      c.dtype = dtype, c.layout = 1;
      std::vector<std::vector<unsigned char>> outs, convs;
      std::vector<std::vector<float>> states;
      for (int threads : {1, 2, 4, 0}) {
        mamba_set_num_threads(threads);
        StepProblem p(c, 77);
        std::vector<double> xv, zv;
        for (int step = 0; step < 2; ++step) {
          p.new_inputs(xv, zv);
          const std::vector<double> ref = p.reference(xv, zv);
          ASSERT_EQ(mamba_decode_step_cpu(&p.a), MAMBA_OK) << mamba_last_error();
          if (threads == 1) {  // and right
            mt::expect_close("out", p.got_out(), ref, dtype == MAMBA_F32 ? 2e-5 : 1e-2, dtype == MAMBA_F32 ? 2e-5 : 1e-3);
            mt::expect_close("ssm_state", mt::to_f64(p.h32), p.ref.ssm, 5e-6, 5e-6);
          }
        }
        outs.push_back(p.out.bytes);
        convs.push_back(p.conv_state.bytes);
        states.push_back(p.h32);
      }
      mamba_set_num_threads(0);
      unsetenv("MAMBA_CPU_ISA");
      for (size_t i = 1; i < outs.size(); ++i) {
        EXPECT_EQ(outs[i], outs[0]) << "out, run " << i;
        EXPECT_EQ(convs[i], convs[0]) << "conv_state, run " << i;
        EXPECT_EQ(0, std::memcmp(states[i].data(), states[0].data(), states[0].size() * 4)) << "ssm_state, run " << i;
      }
    }
}

// The inputs x and z (one in_proj row) are read only.
TEST(DecodeStepCpu, LeavesInputsAlone) {
  StepCase c{2, 21, 16, 3, 4};
  c.layout = 1;
  StepProblem p(c, 31);
  std::vector<double> xv, zv;
  p.new_inputs(xv, zv);
  const auto xz = p.xbuf.bytes;
  const auto wx = p.x_proj.bytes, wdt = p.dt_proj.bytes;
  ASSERT_EQ(mamba_decode_step_cpu(&p.a), MAMBA_OK) << mamba_last_error();
  EXPECT_EQ(p.xbuf.bytes, xz);
  EXPECT_EQ(p.x_proj.bytes, wx);
  EXPECT_EQ(p.dt_proj.bytes, wdt);
}

void expect_error(const mamba_step_args* a, int code, const char* word) {
  EXPECT_EQ(mamba_decode_step_cpu(a), code);
  EXPECT_NE(std::string(mamba_last_error()).find(word), std::string::npos) << mamba_last_error();
}

TEST(DecodeStepCpu, Arguments) {
  StepProblem p({2, 8, 4, 2, 4}, 1);
  const mamba_step_args ok = p.a;
  EXPECT_EQ(mamba_decode_step_cpu(&ok), MAMBA_OK) << mamba_last_error();
  EXPECT_STREQ(mamba_last_error(), "");
  expect_error(nullptr, MAMBA_ERR_INVALID_ARGUMENT, "args");
#define CASE(field, value, code, word) { auto b = ok; b.field = value; expect_error(&b, code, word); }
  CASE(batch, 0, MAMBA_ERR_INVALID_ARGUMENT, "batch=0");
  CASE(dim, 0, MAMBA_ERR_INVALID_ARGUMENT, "dim=0");
  CASE(dim, -3, MAMBA_ERR_INVALID_ARGUMENT, "dim=-3");
  CASE(state, 0, MAMBA_ERR_INVALID_ARGUMENT, "state=0");
  CASE(state, 257, MAMBA_ERR_INVALID_ARGUMENT, "state=257");
  CASE(width, 0, MAMBA_ERR_INVALID_ARGUMENT, "width=0");
  CASE(width, 9, MAMBA_ERR_INVALID_ARGUMENT, "width=9");
  CASE(dt_rank, 0, MAMBA_ERR_INVALID_ARGUMENT, "dt_rank=0");
  CASE(dtype, MAMBA_F64, MAMBA_ERR_UNSUPPORTED, "F64");
  CASE(dtype, 7, MAMBA_ERR_UNSUPPORTED, "dtype=7");
  CASE(x, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "x is NULL");
  CASE(conv_state, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "conv_state is NULL");
  CASE(conv_weight, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "conv_weight is NULL");
  CASE(x_proj_weight, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "x_proj_weight is NULL");
  CASE(dt_proj_weight, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "dt_proj_weight is NULL");
  CASE(A_log, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "A_log is NULL");
  CASE(ssm_state, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "ssm_state is NULL");
  CASE(workspace, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "workspace is NULL");
  CASE(out, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "out is NULL");
  // Layouts (security issue #16): the conv state and output are written, so a stride 0 would alias elements.
  CASE(conv_state_stride[1], 0, MAMBA_ERR_INVALID_ARGUMENT, "conv_state is written");
  CASE(out_stride[0], 0, MAMBA_ERR_INVALID_ARGUMENT, "out is written");
  CASE(x_stride[1], -1, MAMBA_ERR_INVALID_ARGUMENT, "x strides");
  CASE(x_stride[1], int64_t(1) << 62, MAMBA_ERR_INVALID_ARGUMENT, "x strides");
  CASE(dt_rank, int64_t(1) << 62, MAMBA_ERR_INVALID_ARGUMENT, "dt_rank");
#undef CASE
  // Optional inputs may be NULL; a successful call clears the previous message.
  auto b = ok;
  b.z = nullptr, b.D = nullptr, b.conv_bias = nullptr, b.dt_bias = nullptr;
  EXPECT_EQ(mamba_decode_step_cpu(&b), MAMBA_OK) << mamba_last_error();
  EXPECT_STREQ(mamba_last_error(), "");
}

}  // namespace

namespace {

// mamba_decode_step_wq_cpu: x_proj stored as int8 with row scales, or as bf16, next to fp32 activations. The
// reference runs on the weights those stand for (scale * q, or the bf16 value), so the fp32 tolerances hold.
TEST(DecodeStepCpu, QuantizedXProjMatchesReference) {
  uint64_t seed = 900;
  for (int format : {MAMBA_WEIGHTS_INT8, MAMBA_WEIGHTS_BF16})
    for (const StepCase& c : {StepCase{1, 37, 16, 3, 4}, StepCase{3, 101, 4, 5, 4}, StepCase{2, 8, 1, 1, 2}}) {
      SCOPED_TRACE(describe(c) + " x_proj format " + std::to_string(format));
      StepProblem p(c, seed++);
      std::vector<float> wf(p.ref.x_proj.begin(), p.ref.x_proj.end());
      std::vector<int8_t> q(wf.size());
      std::vector<uint16_t> h(wf.size());
      std::vector<float> scales(static_cast<size_t>(p.J));
      if (format == MAMBA_WEIGHTS_INT8) {
        ASSERT_EQ(mamba_quantize_int8_cpu(p.J, p.E, wf.data(), p.E, q.data(), scales.data()), MAMBA_OK);
        for (int64_t j = 0; j < p.J; ++j)
          for (int64_t d = 0; d < p.E; ++d) p.ref.x_proj[j * p.E + d] = double(scales[j]) * q[j * p.E + d];
        p.a.x_proj_weight = q.data();
      } else {
        for (size_t i = 0; i < wf.size(); ++i)
          h[i] = mamba::cpu::float_to_bf16(wf[i]), p.ref.x_proj[i] = mamba::cpu::bf16_to_float(h[i]);
        p.a.x_proj_weight = h.data();
      }
      const float* s = format == MAMBA_WEIGHTS_INT8 ? scales.data() : nullptr;
      for (int step = 0; step < 3; ++step) {
        std::vector<double> xv, zv;
        p.new_inputs(xv, zv);
        const std::vector<double> ref = p.reference(xv, zv);
        ASSERT_EQ(mamba_decode_step_wq_cpu(&p.a, format, s), MAMBA_OK) << mamba_last_error();
        mt::expect_close("out", p.got_out(), ref, 2e-5, 2e-5);
        mt::expect_close("ssm_state", mt::to_f64(p.h32), p.ref.ssm, 5e-6, 5e-6);
        if (::testing::Test::HasFailure()) return;
      }
    }
}

TEST(DecodeStepCpu, QuantizedXProjArguments) {
  StepProblem p({2, 8, 4, 2, 4}, 1);
  std::vector<int8_t> q(static_cast<size_t>(p.J * p.E), 1);
  std::vector<float> scales(static_cast<size_t>(p.J), 0.01f);
  p.a.x_proj_weight = q.data();
  auto expect = [&](const mamba_step_args* a, int format, const float* s, int code, const char* word) {
    EXPECT_EQ(mamba_decode_step_wq_cpu(a, format, s), code) << word;
    EXPECT_NE(std::string(mamba_last_error()).find(word), std::string::npos) << mamba_last_error();
  };
  EXPECT_EQ(mamba_decode_step_wq_cpu(&p.a, MAMBA_WEIGHTS_INT8, scales.data()), MAMBA_OK) << mamba_last_error();
  expect(nullptr, MAMBA_WEIGHTS_INT8, scales.data(), MAMBA_ERR_INVALID_ARGUMENT, "args");
  expect(&p.a, MAMBA_WEIGHTS_INT8, nullptr, MAMBA_ERR_INVALID_ARGUMENT, "x_proj_scales");
  expect(&p.a, MAMBA_WEIGHTS_BF16, scales.data(), MAMBA_ERR_INVALID_ARGUMENT, "must be NULL");
  expect(&p.a, 5, scales.data(), MAMBA_ERR_UNSUPPORTED, "x_proj_format=5");
  auto b = p.a;
  b.dtype = MAMBA_BF16;
  expect(&b, MAMBA_WEIGHTS_INT8, scales.data(), MAMBA_ERR_UNSUPPORTED, "f32 activations");
  b = p.a;
  b.batch = 0;  // the plain step's checks apply too
  expect(&b, MAMBA_WEIGHTS_INT8, scales.data(), MAMBA_ERR_INVALID_ARGUMENT, "batch=0");
}

}  // namespace
