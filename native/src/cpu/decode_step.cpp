// mamba_decode_step_cpu: one decoding step of the Mamba mixer, from in_proj's output to out_proj's
// input, for one new token per sequence (the recurrent form of the scan; see mamba_native.h).
// Three passes; every output is computed by one task in a fixed order, so results are bitwise
// reproducible and independent of the thread count:
//   1. conv: shift conv_state, depthwise conv, SiLU                   -> xc (workspace, per batch row)
//   2. x_proj: p = W_x xc, one contiguous weight row at a time         -> p  (workspace, after xc)
//   3. per run of channels: dt = softplus(W_dt p + dt_bias), state update, C readout, D skip, gate
// Pass 3 forms A * log2(e) = -exp(A_log) * log2(e) once per channel for all batch rows; a run's
// states are contiguous, so its loops are plain array loops. Everything is written as such loops
// for -O3 to vectorise: at baseline x86-64 (SSE2) in the portable build, and 8 wide with FMA in a
// copy built for AVX2 (call_avx2, chosen at run time like the scan's kernels, so the two paths may
// differ in the last bits). exp2, softplus and SiLU are branch-free approximations with the
// polynomials of the CPU scan (vec_generic.h; ~1e-7 relative). At batch 1 a step takes tens of
// microseconds, less than starting a thread, so the passes use threads only for large work.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include "common/abi_validate.h"
#include "common/errors.h"
#include "cpu/cpu_features.h"
#include "cpu/dtype_convert.h"
#include "cpu/fast_math.h"
#include "cpu/scan_validate.h"
#include "cpu/thread_pool.h"
#include "cpu/weight_gemv.h"

using namespace mamba::cpu;

namespace {

constexpr int kMaxWidth = 8;
constexpr int kMaxState = 256;
constexpr float kLog2e = 1.44269504f;

// Work estimates for parallel_for (one more thread per kWorkPerThread units, thread_pool.h): here a
// unit is about 0.5 ns of this kernel on one AVX2 core. for_tasks keeps passes under 2e5 units (about
// 100 us) on the calling thread: at batch 1 and Mamba-130m..790m sizes every pass stays there.
constexpr double kStateWork = 1.6;  // per state update (b, d, n), plus half that per (d, n) for A
constexpr double kMacWork = 0.1;    // per multiply-add of a projection
constexpr double kConvWork = 1.0;   // per channel and tap of the conv, plus 2 for the SiLU

inline float silu_approx(float x) { return x / (1.f + exp2_approx(-x * kLog2e)); }

// fp16 -> fp32 bit for bit as half_to_float (dtype_convert.h, checked on all 65536 inputs), but
// branch-free so that converting the f16 weights vectorises.
inline float half_bits_to_float(uint16_t h16) {
  const int32_t h = h16, em = h & 0x7fff, sign = (h & 0x8000) << 16;
  const int32_t normal = (em << 13) + (112 << 23);                      // rebias the exponent
  const int32_t special = (em << 13) | 0x7f800000;                      // inf / NaN
  const int32_t tiny = float_bits(float(em) * 5.9604644775390625e-8f);  // zero / subnormal: em * 2^-24
  const int32_t is_tiny = -int32_t(em < 0x400), is_special = -int32_t(em >= 0x7c00);
  return bits_float(sign | (tiny & is_tiny) | (special & is_special) | (normal & ~(is_tiny | is_special)));
}
struct F16Fast {
  using S = uint16_t;
  static float get(S v) { return half_bits_to_float(v); }
  static S put(float v) { return float_to_half(v); }
};

// sum_i a[i] * b[i] over 8 lanes, added in a fixed order (a short tree at the end). For the short
// dots (dt_rank, state).
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  for (int k = 0; i < n; ++i, ++k) acc[k] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// The same over 16 lanes, for the long x_proj rows: two independent chains keep the FMA unit busy.
inline float dot_long(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  for (int k = 0; i < n; ++i, ++k) acc[k] += a[i] * b[i];
  for (int k = 0; k < 8; ++k) acc[k] += acc[k + 8];
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// Rows [r0, r1) of a contiguous (rows, n) weight matrix as fp32: in place for fp32, else converted into buf.
template <class Codec>
inline const float* weight_rows(const void* w, int64_t r0, int64_t r1, int64_t n, float* buf) {
  const typename Codec::S* src = static_cast<const typename Codec::S*>(w) + r0 * n;
  if constexpr (std::is_same<Codec, F32>::value) {
    (void)r1, (void)buf;
    return src;
  } else {
    const int64_t count = (r1 - r0) * n;
    for (int64_t i = 0; i < count; ++i) buf[i] = Codec::get(src[i]);
    return buf;
  }
}

struct Step {
  const mamba_step_args& a;
  int64_t E, N, R, J, W, ld;  // ld: workspace floats per batch row (xc, then p)
  int32_t xw_format;          // x_proj's mamba_weight_format when it is not `dtype` (mamba_decode_step_wq_cpu), else -1
  const float* xw_scales;     // its int8 row scales, or NULL
  float* xc(int64_t b) const { return a.workspace + b * ld; }
  float* p(int64_t b) const { return a.workspace + b * ld + E; }
};

// Pass 1 for batch row b, channels [d0, d1): conv_state <- window, xc = silu(bias + w . window).
// W is a template argument so the tap loops unroll (instead of becoming memmove calls per channel).
template <class Codec, int W>
void conv_pass(const Step& s, int64_t b, int64_t d0, int64_t d1) {
  using S = typename Codec::S;
  const mamba_step_args& a = s.a;
  const S* x = static_cast<const S*>(a.x) + b * a.x_stride[0];
  S* cs = static_cast<S*>(a.conv_state) + b * a.conv_state_stride[0];
  const int64_t xs = a.x_stride[1], cs1 = a.conv_state_stride[1], cs2 = a.conv_state_stride[2];
  float* xc = s.xc(b);
  for (int64_t d = d0; d < d1; ++d) {
    S* row = cs + d * cs1;
    S win[W];
    for (int k = 0; k + 1 < W; ++k) win[k] = row[(k + 1) * cs2];
    win[W - 1] = x[d * xs];
    for (int k = 0; k < W; ++k) row[k * cs2] = win[k];
    const float* w = a.conv_weight + d * W;
    float acc = a.conv_bias ? a.conv_bias[d] : 0.f;
    for (int k = 0; k < W; ++k) acc += w[k] * Codec::get(win[k]);
    xc[d] = acc;
  }
  for (int64_t d = d0; d < d1; ++d) xc[d] = silu_approx(xc[d]);
}

// Pass 2 for projection rows [j0, j1): p[b][j] = x_proj_weight[j,:] . xc[b] for every batch row.
// buf: (j1 - j0) * E floats unless fp32.
// With x_proj in a weight format (int8 with row scales, bf16), its rows are widened into buf and int8's scale is
// applied to each dot product.
template <class Codec>
void xproj_pass(const Step& s, int64_t j0, int64_t j1, float* buf) {
  const float* w = buf;
  if (s.xw_format >= 0) weight_rows_to_f32(s.xw_format, s.a.x_proj_weight, j0, j1, s.E, buf);
  else w = weight_rows<Codec>(s.a.x_proj_weight, j0, j1, s.E, buf);
  for (int64_t b = 0; b < s.a.batch; ++b)  // the task's rows stay in L1 across batch rows
    for (int64_t j = j0; j < j1; ++j) {
      const float v = dot_long(w + (j - j0) * s.E, s.xc(b), s.E);
      s.p(b)[j] = s.xw_scales ? v * s.xw_scales[j] : v;
    }
}

// One channel's states: h[n] = 2^(dt * A2[n]) * h[n] + dtx * B[n], with A2 = A * log2(e).
inline void update_states(float* __restrict h, const float* __restrict A2, const float* __restrict B, float dt,
                          float dtx, int64_t N) {
  for (int64_t n = 0; n < N; ++n) h[n] = exp2_approx(dt * A2[n]) * h[n] + dtx * B[n];
}

// Pass 3 for the channels [d0, d0 + cb) of every batch row.
// scratch: cb * N + 3 * cb floats, plus cb * R unless fp32.
template <class Codec>
void ssm_pass(const Step& s, int64_t d0, int64_t cb, float* scratch) {
  using S = typename Codec::S;
  const mamba_step_args& a = s.a;
  const int64_t N = s.N, R = s.R;
  float* A2 = scratch;     // (cb, N): A * log2(e) = -exp(A_log) * log2(e)
  float* dt = A2 + cb * N;  // (cb)
  float* gate = dt + cb;    // (cb)
  float* y = gate + cb;     // (cb)
  const float* wdt = weight_rows<Codec>(a.dt_proj_weight, d0, d0 + cb, R, y + cb);  // (cb, R)

  const float* al = a.A_log + d0 * N;
  for (int64_t i = 0; i < cb * N; ++i) A2[i] = -kLog2e * exp2_approx(al[i] * kLog2e);

  for (int64_t b = 0; b < a.batch; ++b) {
    const float* xc = s.xc(b) + d0;
    const float* p = s.p(b);
    const float *B = p + R, *C = p + R + N;
    float* h = a.ssm_state + (b * s.E + d0) * N;
    for (int64_t c = 0; c < cb; ++c) dt[c] = dot(wdt + c * R, p, R) + (a.dt_bias ? a.dt_bias[d0 + c] : 0.f);
    for (int64_t c = 0; c < cb; ++c) dt[c] = softplus_approx(dt[c]);
    for (int64_t c = 0; c < cb; ++c) {
      update_states(h + c * N, A2 + c * N, B, dt[c], dt[c] * xc[c], N);
      y[c] = dot(C, h + c * N, N);
    }
    if (a.D)
      for (int64_t c = 0; c < cb; ++c) y[c] += a.D[d0 + c] * xc[c];
    if (a.z) {
      const S* z = static_cast<const S*>(a.z) + b * a.z_stride[0] + d0 * a.z_stride[1];
      for (int64_t c = 0; c < cb; ++c) gate[c] = Codec::get(z[c * a.z_stride[1]]);
      for (int64_t c = 0; c < cb; ++c) y[c] *= silu_approx(gate[c]);
    }
    S* out = static_cast<S*>(a.out) + b * a.out_stride[0] + d0 * a.out_stride[1];
    for (int64_t c = 0; c < cb; ++c) out[c * a.out_stride[1]] = Codec::put(y[c]);
  }
}

// Runs f(); on CPUs with AVX2 and FMA (unless MAMBA_CPU_ISA=generic) a copy of f built for them,
// since the library itself targets baseline x86-64. `flatten` inlines everything f calls into that
// copy, so the same loops vectorise 8 wide with FMA there (about 2x faster at decoding sizes).
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define MAMBA_STEP_AVX2 1
template <class F>
__attribute__((target("avx2,fma"), flatten)) void call_avx2(const F& f) {
  f();
}
#endif

template <class F>
inline void call_isa(bool avx2, const F& f) {
#ifdef MAMBA_STEP_AVX2
  if (avx2) return call_avx2(f);
#endif
  (void)avx2;
  f();
}

// parallel_for runs work below 2e5 units on the calling thread anyway; looping here also skips its
// set-up, which at decoding sizes is not free (std::function, and num_threads(), which reads /sys
// on every call when the thread count is 0 = hardware concurrency: ~7 us a call here).
template <class F>
void for_tasks(int64_t count, const F& fn, double work) {
  if (work < 2e5) {
    for (int64_t t = 0; t < count; ++t) fn(t);
    return;
  }
  parallel_for(count, fn, work);
}

template <class Codec>
void run(const mamba_step_args& a, int32_t xw_format = -1, const float* xw_scales = nullptr) {
  const bool avx2 = use_avx2();
  constexpr bool f32 = std::is_same<Codec, F32>::value;
  const Step s{a, a.dim, a.state, a.dt_rank, a.dt_rank + 2 * a.state, a.width, a.dim + a.dt_rank + 2 * a.state,
               xw_format, xw_scales};
  const double batch = double(a.batch), E = double(s.E);

  // 1. conv: 512 channels of one batch row per task
  constexpr int64_t kConvChunk = 512;
  const int64_t conv_chunks = (s.E + kConvChunk - 1) / kConvChunk;
  for_tasks(a.batch * conv_chunks, [&](int64_t t) {
    const int64_t b = t / conv_chunks, d0 = (t % conv_chunks) * kConvChunk;
    const int64_t d1 = std::min(s.E, d0 + kConvChunk);
    call_isa(avx2, [&] {
      switch (s.W) {
        case 1: conv_pass<Codec, 1>(s, b, d0, d1); break;
        case 2: conv_pass<Codec, 2>(s, b, d0, d1); break;
        case 3: conv_pass<Codec, 3>(s, b, d0, d1); break;
        case 4: conv_pass<Codec, 4>(s, b, d0, d1); break;
        case 5: conv_pass<Codec, 5>(s, b, d0, d1); break;
        case 6: conv_pass<Codec, 6>(s, b, d0, d1); break;
        case 7: conv_pass<Codec, 7>(s, b, d0, d1); break;
        default: conv_pass<Codec, 8>(s, b, d0, d1); break;
      }
    });
  }, kConvWork * batch * E * double(s.W + 2));

  // 2. x_proj: 4 rows per task
  constexpr int64_t kRows = 4;
  for_tasks((s.J + kRows - 1) / kRows, [&](int64_t t) {
    const int64_t j0 = t * kRows, j1 = std::min(s.J, j0 + kRows);
    std::unique_ptr<float[]> buf(f32 && xw_format < 0 ? nullptr : new float[(j1 - j0) * s.E]);
    call_isa(avx2, [&] { xproj_pass<Codec>(s, j0, j1, buf.get()); });
  }, kMacWork * batch * E * double(s.J));

  // 3. dt, states and readout: runs of cb channels (about 1024 states, 8..64 channels) per task
  const int64_t cb = std::max<int64_t>(8, std::min<int64_t>(64, 1024 / s.N));
  for_tasks((s.E + cb - 1) / cb, [&](int64_t t) {
    const int64_t d0 = t * cb, n = std::min(cb, s.E - d0);
    std::unique_ptr<float[]> scratch(new float[n * s.N + 3 * n + (f32 ? 0 : n * s.R)]);
    call_isa(avx2, [&] { ssm_pass<Codec>(s, d0, n, scratch.get()); });
  }, kStateWork * E * double(s.N) * (batch + 0.5) + kMacWork * batch * E * double(s.R));
}

int invalid(const std::string& what) { return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, what); }
int unsupported(const std::string& what) { return mamba::fail(MAMBA_ERR_UNSUPPORTED, what); }
int null_arg(const char* name) { return invalid(std::string(name) + " is NULL"); }
std::string eq(const char* name, int64_t v) { return std::string(name) + "=" + std::to_string(v); }

// Shapes out of range are invalid arguments (as in mamba_decode_step_cuda); a dtype this kernel
// does not implement is unsupported.
int validate(const mamba_step_args* a) {
  if (!a) return null_arg("args");
  if (a->batch < 1) return invalid(eq("batch", a->batch) + " must be >= 1");
  if (a->dim < 1) return invalid(eq("dim", a->dim) + " must be >= 1");
  if (a->state < 1 || a->state > kMaxState) return invalid(eq("state", a->state) + " must be in 1..256");
  if (a->width < 1 || a->width > kMaxWidth) return invalid(eq("width", a->width) + " must be in 1..8");
  if (a->dt_rank < 1) return invalid(eq("dt_rank", a->dt_rank) + " must be >= 1");
  if (int rc = validate_dtype("dtype", a->dtype)) return rc;
  if (a->dtype == MAMBA_F64)
    return unsupported("dtype=3 (F64) is not supported by the decoding step; use F32, F16 or BF16");
  if (!a->x) return null_arg("x");
  if (!a->conv_state) return null_arg("conv_state");
  if (!a->conv_weight) return null_arg("conv_weight");
  if (!a->x_proj_weight) return null_arg("x_proj_weight");
  if (!a->dt_proj_weight) return null_arg("dt_proj_weight");
  if (!a->A_log) return null_arg("A_log");
  if (!a->ssm_state) return null_arg("ssm_state");
  if (!a->workspace) return null_arg("workspace");
  if (!a->out) return null_arg("out");
  return mamba::check_step_layout("decode step (cpu)", a);
}

}  // namespace

MAMBA_API int32_t mamba_decode_step_cpu(const mamba_step_args* args) {
  mamba::clear_error();
  if (int rc = validate(args)) return rc;
  try {
    switch (args->dtype) {
      case MAMBA_F32: run<F32>(*args); break;
      case MAMBA_F16: run<F16Fast>(*args); break;
      default: run<BF16>(*args); break;
    }
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_decode_step_cpu: out of memory");
  }
  return MAMBA_OK;
}

MAMBA_API int32_t mamba_decode_step_wq_cpu(const mamba_step_args* args, int32_t x_proj_format, const float* x_proj_scales) {
  mamba::clear_error();
  if (int rc = validate(args)) return rc;
  if (args->dtype != MAMBA_F32)
    return unsupported(eq("dtype", args->dtype) + ": the step with a quantized x_proj takes f32 activations (dtype=0)");
  if (x_proj_format != MAMBA_WEIGHTS_INT8 && x_proj_format != MAMBA_WEIGHTS_BF16 && x_proj_format != MAMBA_WEIGHTS_F32)
    return unsupported(eq("x_proj_format", x_proj_format) + " is not a mamba_weight_format (F32=0, BF16=2, INT8=8)");
  if (x_proj_format == MAMBA_WEIGHTS_INT8 && !x_proj_scales) return null_arg("x_proj_scales (required for int8 x_proj)");
  if (x_proj_format != MAMBA_WEIGHTS_INT8 && x_proj_scales)
    return invalid(eq("x_proj_format", x_proj_format) + ": x_proj_scales must be NULL (only int8 has scales)");
  try {
    if (x_proj_format == MAMBA_WEIGHTS_F32) run<F32>(*args);
    else run<F32>(*args, x_proj_format, x_proj_scales);
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_decode_step_wq_cpu: out of memory");
  }
  return MAMBA_OK;
}
