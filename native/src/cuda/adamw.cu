// AdamW over many tensors, one launch per kBatch tensors. The host lays the tensors out as 64K-element
// chunks; block i finds its tensor by binary search over the chunk offsets. Descriptors and offsets
// travel as the kernel's parameter (about 10 KB with CUDA 12.1+, which allows 32 KB; 2.8 KB before), so no host-to-device copy
// is needed, and none would be safe without a stream sync: the host list is gone when the kernel runs.
#include "check.cuh"
#include "common/adamw_check.h"
#include "dtype.cuh"

namespace mamba::cuda {
namespace {

constexpr int64_t kChunk = 1 << 16;
constexpr int kThreads = 256;
// Tensors per launch. Kernel parameters may take 32 KB from CUDA 12.1 but only 4 KB before (CUDA 11.8
// builds the packed fat binary): 32 descriptors are about 2.8 KB.
#if (__CUDACC_VER_MAJOR__ * 100 + __CUDACC_VER_MINOR__) >= 1201
constexpr int kBatch = 128;
#else
constexpr int kBatch = 32;
#endif

struct AdamwBatch {
  mamba_adamw_tensor tensors[kBatch];
  int64_t first_chunk[kBatch];  // chunk index where each tensor starts
  int count;
};

// Plain loads: the kernel writes param and both moments in place.
__device__ __forceinline__ float load_any(const void* p, int dtype, int64_t i) {
  switch (dtype) {
    case MAMBA_F32: return static_cast<const float*>(p)[i];
    case MAMBA_F16: return __half2float(static_cast<const __half*>(p)[i]);
    default: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  }
}
__device__ __forceinline__ void store_any(void* p, int dtype, int64_t i, float v) {
  switch (dtype) {
    case MAMBA_F32: static_cast<float*>(p)[i] = v; break;
    case MAMBA_F16: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    default: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
  }
}

__global__ void __launch_bounds__(kThreads) adamw_kernel(const __grid_constant__ AdamwBatch batch) {
  // Tensor whose chunks cover this block: the last k with first_chunk[k] <= blockIdx.x.
  int lo = 0, hi = batch.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (batch.first_chunk[mid] <= (int64_t)blockIdx.x) lo = mid;
    else hi = mid - 1;
  }
  const mamba_adamw_tensor& t = batch.tensors[lo];
  const int64_t* first_chunk = batch.first_chunk;
  const int64_t begin = ((int64_t)blockIdx.x - first_chunk[lo]) * kChunk;
  const int64_t end = min(t.numel, begin + kChunk);
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const float g = load_any(t.grad, t.grad_dtype, i);
    float p = load_any(t.param, t.dtype, i) * t.decay;
    const float m = t.beta1 * load_any(t.exp_avg, t.dtype, i) + t.one_minus_beta1 * g;
    const float v = t.beta2 * load_any(t.exp_avg_sq, t.dtype, i) + t.one_minus_beta2 * g * g;
    p -= t.step_size * m / (sqrtf(v) / t.bias_correction2_sqrt + t.eps);
    store_any(t.param, t.dtype, i, p);
    store_any(t.exp_avg, t.dtype, i, m);
    store_any(t.exp_avg_sq, t.dtype, i, v);
  }
}

}  // namespace
}  // namespace mamba::cuda

using namespace mamba::cuda;

MAMBA_API int32_t mamba_adamw_step_cuda(const mamba_adamw_tensor* tensors, int64_t count, void* stream) {
  mamba::clear_error();
  if (int rc = mamba::check_adamw(tensors, count, "cuda")) return rc;
  auto st = static_cast<cudaStream_t>(stream);
  AdamwBatch batch;
  int64_t chunks = 0;
  batch.count = 0;
  auto launch = [&]() -> int {
    if (batch.count == 0) return MAMBA_OK;
    adamw_kernel<<<(unsigned)chunks, kThreads, 0, st>>>(batch);
    MAMBA_CUDA_LAUNCHED("adamw (cuda): update kernel");
    batch.count = 0;
    chunks = 0;
    return MAMBA_OK;
  };
  for (int64_t k = 0; k < count; ++k) {
    const int64_t n = (tensors[k].numel + kChunk - 1) / kChunk;
    if (n == 0) continue;  // empty tensors get no block
    if (n > 0x7fffffff) return mamba::fail(MAMBA_ERR_UNSUPPORTED, "adamw (cuda): tensor over 2^47 elements");
    if (batch.count == kBatch || chunks + n > 0x7fffffff)
      if (int rc = launch()) return rc;
    batch.tensors[batch.count] = tensors[k];
    batch.first_chunk[batch.count] = chunks;
    batch.count++;
    chunks += n;
  }
  return launch();
}
