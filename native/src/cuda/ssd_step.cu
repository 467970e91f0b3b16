// One fused Mamba-2 decoding step on CUDA (mamba_ssd_step_cuda; math in mamba_native.h). Two launches:
//   1. conv window update + conv + SiLU, one thread per (batch, channel) of x | B | C  -> fp32 scratch v
//   2. dt, decay and state update, C.h and the D skip, one block per (batch, head), a warp per state row
// Two because B and C channels are shared by every head of a group: their conv state is updated once, in
// launch 1, before any head reads them.
#include <string>
#include "check.cuh"
#include "common/ssd_validate.h"
#include "dtype.cuh"
#include "scan_math.cuh"
#include "scratch.cuh"

namespace mamba::cuda {
namespace {

constexpr const char* kStep = "ssd step (cuda)";
constexpr int kMaxWidth = 8;
constexpr int kStepThreads = 256;

template <typename T>
__global__ void ssd_conv_kernel(const mamba_ssd_step_args a, int64_t channels, float* v) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= a.batch * channels) return;
  const int64_t b = i / channels, k = i % channels;
  const int W = (int)a.width;
  T* window = static_cast<T*>(a.conv_state) + b * a.conv_state_stride[0] + k * a.conv_state_stride[1];
  const int64_t ws = a.conv_state_stride[2];
  const float* w = a.conv_weight + k * W;
  float acc = a.conv_bias ? a.conv_bias[k] : 0.f;
  // Plain loads: this thread also writes the window.
#pragma unroll
  for (int j = 0; j < kMaxWidth - 1; ++j)
    if (j < W - 1) {
      const T old = window[(j + 1) * ws];
      window[j * ws] = old;
      acc += w[j] * to_f(old);
    }
  const T in = static_cast<const T*>(a.xBC)[b * a.xBC_stride[0] + k * a.xBC_stride[1]];
  window[(W - 1) * ws] = in;
  acc += w[W - 1] * to_f(in);
  v[i] = silu(acc);
}

template <typename T>
__global__ void __launch_bounds__(kStepThreads) ssd_state_kernel(const mamba_ssd_step_args a, int64_t channels,
                                                                  const float* v) {
  const int64_t b = blockIdx.x / a.heads;
  const int h = (int)(blockIdx.x % a.heads);
  const int P = (int)a.head_dim, N = (int)a.state, G = (int)a.groups;
  const int g = h / (int)(a.heads / a.groups);
  const float* vb = v + b * channels;
  const float* xv = vb + (int64_t)h * P;
  const float* Bv = vb + a.heads * a.head_dim + (int64_t)g * N;
  const float* Cv = vb + a.heads * a.head_dim + (int64_t)G * N + (int64_t)g * N;
  float dt = load_f(static_cast<const T*>(a.dt) + b * a.dt_stride[0] + h * a.dt_stride[1]) +
             (a.dt_bias ? a.dt_bias[h] : 0.f);
  if (a.dt_softplus) dt = softplus(dt);
  dt = fminf(fmaxf(dt, a.dt_min), a.dt_max);
  const float decay = __expf(-dt * __expf(a.A_log[h]));
  const float Dh = a.D ? a.D[h] : 0.f;
  float* hs = a.ssm_state + (b * a.heads + h) * (int64_t)P * N;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int p = warp; p < P; p += kStepThreads / 32) {
    const float x = xv[p], dtx = dt * x;
    float y = 0.f;
    for (int n = lane; n < N; n += 32) {
      float* s = hs + (int64_t)p * N + n;
      const float hn = decay * *s + dtx * Bv[n];
      *s = hn;
      y += Cv[n] * hn;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) y += __shfl_xor_sync(0xffffffffu, y, o);
    if (lane == 0)
      store_f(static_cast<T*>(a.out) + b * a.out_stride[0] + ((int64_t)h * P + p) * a.out_stride[1], y + Dh * x);
  }
}

template <typename T>
int launch_step(const mamba_ssd_step_args* a, int64_t channels, float* v, cudaStream_t st) {
  const int64_t cells = a->batch * channels;
  ssd_conv_kernel<T><<<(unsigned)((cells + 255) / 256), 256, 0, st>>>(*a, channels, v);
  MAMBA_CUDA_LAUNCHED("ssd step (cuda): conv launch");
  ssd_state_kernel<T><<<(unsigned)(a->batch * a->heads), kStepThreads, 0, st>>>(*a, channels, v);
  MAMBA_CUDA_LAUNCHED("ssd step (cuda): state update launch");
  return MAMBA_OK;
}

}  // namespace
}  // namespace mamba::cuda

MAMBA_API int32_t mamba_ssd_step_cuda(const mamba_ssd_step_args* args, void* stream) {
  using namespace mamba::cuda;
  mamba::clear_error();
  if (int rc = mamba::check_ssd_step(kStep, args)) return rc;
  if (args->batch * args->heads > INT32_MAX)
    return mamba::fail(MAMBA_ERR_UNSUPPORTED, std::string(kStep) + ": batch * heads above 2^31 - 1");
  auto st = static_cast<cudaStream_t>(stream);
  const int64_t channels = args->heads * args->head_dim + 2 * args->groups * args->state;
  void* mem = nullptr;
  if (int rc = alloc_scratch((size_t)(args->batch * channels), st, "ssd step", &mem)) return rc;
  float* v = static_cast<float*>(mem);
  int rc;
  switch (args->dtype) {
    case MAMBA_F32: rc = launch_step<float>(args, channels, v, st); break;
    case MAMBA_F16: rc = launch_step<__half>(args, channels, v, st); break;
    default: rc = launch_step<__nv_bfloat16>(args, channels, v, st); break;
  }
  const cudaError_t ef = cudaFreeAsync(mem, st);
  if (rc != MAMBA_OK) return rc;
  MAMBA_CUDA_TRY(ef, "ssd step (cuda): freeing scratch");
  return MAMBA_OK;
}
