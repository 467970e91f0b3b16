// One fused decoding step of the Mamba mixer on CUDA (mamba_decode_step_cuda; math in mamba_native.h).
// Decoding one token is latency-bound, not bandwidth-bound: what costs is the number of launches, not the
// bytes. So the whole step between in_proj and out_proj is three small kernels on one stream, in place of
// the ~40 tensor ops of the TorchSharp reference step:
//   1. conv window update + conv + SiLU, one thread per (batch, channel)       -> workspace xc
//   2. x_proj, one block per output row j (dt_low | B | C), up to 8 batch rows  -> workspace p
//   3. dt_proj + softplus, state update, C·h, D skip, gate, one thread per (batch, channel)
// The x_proj reduction over all channels is why 2 is its own launch: 3 needs every channel's xc first.
// Reductions run in a fixed order, so results are reproducible.
#include <string>
#include "check.cuh"
#include "common/abi_validate.h"
#include "dtype.cuh"
#include "scan_math.cuh"

namespace mamba::cuda {
namespace {

constexpr int kMaxWidth = 8;
constexpr int kProjThreads = 256;
constexpr int kProjBatchTile = 8;   // batch rows per x_proj block: each weight element read once per tile
constexpr int kStateThreads = 128;

int invalid(const std::string& m) { return fail(MAMBA_ERR_INVALID_ARGUMENT, "decode step (cuda): " + m); }

template <typename T>
__global__ void conv_update_kernel(mamba_step_args a, float* xc) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= a.batch * a.dim) return;
  const int64_t b = i / a.dim, d = i % a.dim;
  const int W = (int)a.width;
  T* window = static_cast<T*>(a.conv_state) + b * a.conv_state_stride[0] + d * a.conv_state_stride[1];
  const int64_t ws = a.conv_state_stride[2];
  const float* w = a.conv_weight + d * W;
  float acc = a.conv_bias ? a.conv_bias[d] : 0.f;
  // Shift the window left by one and append the new input, convolving as we go. The window is read with
  // plain loads (not __ldg) because this thread writes it; the conv sees the input as stored (rounded to T),
  // like the prefill and reference paths.
#pragma unroll
  for (int k = 0; k < kMaxWidth - 1; ++k) {
    if (k < W - 1) {
      const T v = window[(k + 1) * ws];
      window[k * ws] = v;
      acc += w[k] * to_f(v);
    }
  }
  const T x = static_cast<const T*>(a.x)[b * a.x_stride[0] + d * a.x_stride[1]];
  window[(W - 1) * ws] = x;
  acc += w[W - 1] * to_f(x);
  xc[i] = silu(acc);
}

// p[b, j] = sum_d x_proj_weight[j, d] * xc[b, d]; block (j, batch tile), fixed-order tree reduction.
template <typename T>
__global__ void x_proj_kernel(mamba_step_args a, const float* xc, float* p, int rows) {
  const int j = blockIdx.x;
  const int64_t b0 = (int64_t)blockIdx.y * kProjBatchTile;
  const int tile = a.batch - b0 < kProjBatchTile ? (int)(a.batch - b0) : kProjBatchTile;
  const T* wrow = static_cast<const T*>(a.x_proj_weight) + (int64_t)j * a.dim;
  float acc[kProjBatchTile] = {};
  for (int64_t d = threadIdx.x; d < a.dim; d += kProjThreads) {
    const float w = load_f(wrow + d);
#pragma unroll
    for (int t = 0; t < kProjBatchTile; ++t)
      if (t < tile) acc[t] += w * xc[(b0 + t) * a.dim + d];
  }
  __shared__ float partial[kProjBatchTile][kProjThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int t = 0; t < kProjBatchTile; ++t) {
    float v = acc[t];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) partial[t][warp] = v;
  }
  __syncthreads();
  if (threadIdx.x < tile) {
    float v = 0.f;
    for (int k = 0; k < kProjThreads / 32; ++k) v += partial[threadIdx.x][k];
    p[(b0 + threadIdx.x) * rows + j] = v;
  }
}

template <typename T>
__global__ void state_update_kernel(mamba_step_args a, const float* xc, const float* p, int rows) {
  extern __shared__ float proj[];  // this batch row's (dt_low | B | C)
  const int64_t b = blockIdx.y;
  for (int j = threadIdx.x; j < rows; j += blockDim.x) proj[j] = p[b * rows + j];
  __syncthreads();
  const int64_t d = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (d >= a.dim) return;
  const int R = (int)a.dt_rank, N = (int)a.state;
  const float* Bv = proj + R;
  const float* Cv = proj + R + N;

  const T* wdt = static_cast<const T*>(a.dt_proj_weight) + d * R;
  float dt = a.dt_bias ? a.dt_bias[d] : 0.f;
  for (int r = 0; r < R; ++r) dt += load_f(wdt + r) * proj[r];
  dt = softplus(dt);

  const float x = xc[b * a.dim + d];
  const float dtx = dt * x;
  float* h = a.ssm_state + (b * a.dim + d) * N;
  const float* A_log = a.A_log + d * N;
  float y = 0.f;
  for (int n = 0; n < N; ++n) {
    const float hn = __expf(-dt * __expf(A_log[n])) * h[n] + dtx * Bv[n];
    h[n] = hn;
    y += Cv[n] * hn;
  }
  if (a.D) y += a.D[d] * x;
  if (a.z) y *= silu(load_f(static_cast<const T*>(a.z) + b * a.z_stride[0] + d * a.z_stride[1]));
  store_f(static_cast<T*>(a.out) + b * a.out_stride[0] + d * a.out_stride[1], y);
}

template <typename T>
int launch(const mamba_step_args* a, cudaStream_t stream) {
  const int rows = (int)(a->dt_rank + 2 * a->state);
  float* xc = a->workspace;
  float* p = a->workspace + a->batch * a->dim;
  const int64_t cells = a->batch * a->dim;
  conv_update_kernel<T><<<(unsigned)((cells + 255) / 256), 256, 0, stream>>>(*a, xc);
  MAMBA_CUDA_LAUNCHED("decode step (cuda): conv update launch");
  const dim3 proj_grid((unsigned)rows, (unsigned)((a->batch + kProjBatchTile - 1) / kProjBatchTile));
  x_proj_kernel<T><<<proj_grid, kProjThreads, 0, stream>>>(*a, xc, p, rows);
  MAMBA_CUDA_LAUNCHED("decode step (cuda): x_proj launch");
  const dim3 state_grid((unsigned)((a->dim + kStateThreads - 1) / kStateThreads), (unsigned)a->batch);
  state_update_kernel<T><<<state_grid, kStateThreads, rows * sizeof(float), stream>>>(*a, xc, p, rows);
  MAMBA_CUDA_LAUNCHED("decode step (cuda): state update launch");
  return MAMBA_OK;
}

int check_args(const mamba_step_args* a) {
  if (!a) return invalid("args is NULL");
  if (a->batch < 1 || a->dim < 1 || a->dt_rank < 1) return invalid("batch, dim and dt_rank must be >= 1");
  if (a->state < 1 || a->state > 256) return invalid("state must be in 1..256, got " + std::to_string(a->state));
  if (a->width < 1 || a->width > kMaxWidth) return invalid("width must be in 1..8, got " + std::to_string(a->width));
  if (a->batch > 65535 || a->dim > (1 << 30) || a->dt_rank > 4096) return invalid("batch above 65535, dim above 2^30 or dt_rank above 4096");
  if (!a->x || !a->conv_state || !a->conv_weight || !a->x_proj_weight || !a->dt_proj_weight || !a->A_log ||
      !a->ssm_state || !a->workspace || !a->out)
    return invalid("x, conv_state, conv_weight, x_proj_weight, dt_proj_weight, A_log, ssm_state, workspace and out are required");
  if (a->dtype != MAMBA_F32 && a->dtype != MAMBA_F16 && a->dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, "decode step (cuda): dtype must be f32, f16 or bf16");
  return mamba::check_step_layout("decode step (cuda)", a);
}

}  // namespace
}  // namespace mamba::cuda

MAMBA_API int32_t mamba_decode_step_cuda(const mamba_step_args* args, void* stream) {
  using namespace mamba::cuda;
  mamba::clear_error();
  if (const int status = check_args(args); status != MAMBA_OK) return status;
  auto s = static_cast<cudaStream_t>(stream);
  switch (args->dtype) {
    case MAMBA_F32: return launch<float>(args, s);
    case MAMBA_F16: return launch<__half>(args, s);
    default: return launch<__nv_bfloat16>(args, s);
  }
}
