// Gated RMSNorm on CUDA, the training pair (math in mamba_native.h). In TorchSharp ops this norm is a dozen
// fp32 kernels forward and more backward, each reading and writing a copy of the activations; here it is one
// kernel forward and two backward. Forward: one block per (row, group). Backward: blocks walk rows, keep their
// dweight partial in shared memory, and a second kernel adds the partials in block order; every reduction has a
// fixed order, so results do not depend on scheduling. Loads are plain, not __ldg (see rms_norm.cu).
#include <algorithm>
#include <string>
#include "check.cuh"
#include "common/abi_validate.h"
#include "dtype.cuh"
#include "scratch.cuh"

namespace mamba::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBackwardBlocks = 132 * 8;  // a constant, not the device's SM count: the partials' order stays fixed

// Sum of v over the block (blockDim.x a multiple of 32), in a fixed order, returned to every thread; `partial` is
// reusable after return.
__device__ __forceinline__ float block_sum(float v, float* partial) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
  for (int k = 0; k < (int)blockDim.x / 32; ++k) total += partial[k];
  __syncthreads();
  return total;
}

// v rounded to T's precision, as a float.
template <typename T> __device__ __forceinline__ float round_as(float v) { return v; }
template <> __device__ __forceinline__ float round_as<__half>(float v) { return __half2float(__float2half_rn(v)); }
template <> __device__ __forceinline__ float round_as<__nv_bfloat16>(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

__device__ __forceinline__ float sigmoid(float z) { return 1.f / (1.f + __expf(-z)); }

template <typename T>
__global__ void gated_norm_fwd_kernel(int gs, int groups, const T* y, const T* z, const float* w, float eps, T* out,
                                      float* rstd) {
  __shared__ float partial[kThreads / 32];
  const int64_t row = blockIdx.x / groups;
  const int g = blockIdx.x % groups;
  const int64_t at = row * gs * groups + (int64_t)g * gs;
  float sum = 0.f;
  for (int i = threadIdx.x; i < gs; i += blockDim.x) {
    const float zv = to_f(z[at + i]), h = to_f(y[at + i]) * zv * sigmoid(zv);
    sum += h * h;
  }
  const float rs = 1.f / sqrtf(block_sum(sum, partial) / (float)gs + eps);
  if (rstd && threadIdx.x == 0) rstd[blockIdx.x] = rs;
  for (int i = threadIdx.x; i < gs; i += blockDim.x) {
    const float zv = to_f(z[at + i]), h = to_f(y[at + i]) * zv * sigmoid(zv);
    store_f(out + at + i, w[g * gs + i] * round_as<T>(h * rs));
  }
}

// dy and dz for the rows of this block; its share of dweight, per column, into part[blockIdx.x, :]. Element i of
// group k is always handled by thread (i - k gs) % blockDim.x, so acc[i] has one owner and needs no atomics.
template <typename T>
__global__ void gated_norm_bwd_kernel(int64_t rows, int gs, int groups, const T* y, const T* z, const float* w,
                                      const float* rstd, const T* dout, T* dy, T* dz, float* part) {
  extern __shared__ float acc[];
  __shared__ float partial[kThreads / 32];
  const int size = gs * groups;
  for (int k = 0; k < groups; ++k)
    for (int i = threadIdx.x; i < gs; i += blockDim.x) acc[k * gs + i] = 0.f;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    for (int k = 0; k < groups; ++k) {
      const int64_t at = r * size + (int64_t)k * gs;
      const float rs = rstd[r * groups + k];
      float dot = 0.f;
      for (int i = threadIdx.x; i < gs; i += blockDim.x) {
        const float zv = to_f(z[at + i]), n = to_f(y[at + i]) * zv * sigmoid(zv) * rs, d = to_f(dout[at + i]);
        dot += d * w[k * gs + i] * n;
        acc[k * gs + i] += d * n;
      }
      const float mean = block_sum(dot, partial) / (float)gs;
      for (int i = threadIdx.x; i < gs; i += blockDim.x) {
        const float zv = to_f(z[at + i]), yv = to_f(y[at + i]), s = sigmoid(zv), n = yv * zv * s * rs;
        const float dh = rs * (to_f(dout[at + i]) * w[k * gs + i] - n * mean);
        store_f(dy + at + i, dh * zv * s);
        store_f(dz + at + i, dh * yv * s * (1.f + zv * (1.f - s)));
      }
    }
  }
  for (int k = 0; k < groups; ++k)
    for (int i = threadIdx.x; i < gs; i += blockDim.x) part[(int64_t)blockIdx.x * size + k * gs + i] = acc[k * gs + i];
}

__global__ void gated_norm_dweight_kernel(int blocks, int size, const float* part, float* dweight) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= size) return;
  float s = 0.f;
  for (int b = 0; b < blocks; ++b) s += part[(int64_t)b * size + i];
  dweight[i] = s;
}

// Threads per block for groups of gs: a multiple of 32, at most kThreads.
int threads_for(int gs) { return std::min(kThreads, (gs + 31) / 32 * 32); }

template <typename T>
int launch_fwd(int64_t rows, int gs, int groups, const void* y, const void* z, const float* w, float eps, void* out,
               float* rstd, cudaStream_t stream) {
  gated_norm_fwd_kernel<T><<<(unsigned)(rows * groups), threads_for(gs), 0, stream>>>(
      gs, groups, static_cast<const T*>(y), static_cast<const T*>(z), w, eps, static_cast<T*>(out), rstd);
  MAMBA_CUDA_LAUNCHED("gated rms norm forward (cuda): launch");
  return MAMBA_OK;
}

template <typename T>
int launch_bwd(int64_t rows, int gs, int groups, const void* y, const void* z, const float* w, const float* rstd,
               const void* dout, void* dy, void* dz, float* dweight, cudaStream_t stream) {
  const int size = gs * groups;
  const int blocks = (int)std::min<int64_t>(rows, kBackwardBlocks);
  void* mem = nullptr;
  if (int rc = alloc_scratch((size_t)blocks * size, stream, "gated rms norm backward", &mem)) return rc;
  float* part = static_cast<float*>(mem);
  const size_t smem = (size_t)size * sizeof(float);
  cudaError_t e = cudaFuncSetAttribute(gated_norm_bwd_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (e == cudaSuccess) {
    gated_norm_bwd_kernel<T><<<blocks, threads_for(gs), smem, stream>>>(
        rows, gs, groups, static_cast<const T*>(y), static_cast<const T*>(z), w, rstd, static_cast<const T*>(dout),
        static_cast<T*>(dy), static_cast<T*>(dz), part);
    gated_norm_dweight_kernel<<<(size + 255) / 256, 256, 0, stream>>>(blocks, size, part, dweight);
    e = cudaGetLastError();
  }
  const cudaError_t freed = cudaFreeAsync(mem, stream);
  MAMBA_CUDA_TRY(e, "gated rms norm backward (cuda): launch");
  MAMBA_CUDA_TRY(freed, "gated rms norm backward (cuda): freeing scratch");
  return MAMBA_OK;
}

// The grid of the forward is rows * groups blocks.
int check_grid(int64_t rows, int64_t groups, const char* where) {
  if (rows * groups > 0x7fffffff)
    return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, std::string(where) + ": rows * groups must be below 2^31");
  return MAMBA_OK;
}

}  // namespace
}  // namespace mamba::cuda

MAMBA_API int32_t mamba_gated_rms_norm_fwd_cuda(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                                const void* z, const float* weight, float eps, void* out, float* rstd,
                                                void* stream) {
  using namespace mamba::cuda;
  const char* where = "gated rms norm forward (cuda)";
  mamba::clear_error();
  if (int rc = mamba::check_gated_rms_norm(where, rows, size, groups, dtype, y, z, weight, out, rstd, nullptr, nullptr,
                                           nullptr, nullptr, false))
    return rc;
  if (int rc = check_grid(rows, groups, where)) return rc;
  auto s = static_cast<cudaStream_t>(stream);
  const int gs = (int)(size / groups), g = (int)groups;
  switch (dtype) {
    case MAMBA_F32: return launch_fwd<float>(rows, gs, g, y, z, weight, eps, out, rstd, s);
    case MAMBA_F16: return launch_fwd<__half>(rows, gs, g, y, z, weight, eps, out, rstd, s);
    default: return launch_fwd<__nv_bfloat16>(rows, gs, g, y, z, weight, eps, out, rstd, s);
  }
}

MAMBA_API int32_t mamba_gated_rms_norm_bwd_cuda(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                                const void* z, const float* weight, const float* rstd, const void* dout,
                                                void* dy, void* dz, float* dweight, void* stream) {
  using namespace mamba::cuda;
  const char* where = "gated rms norm backward (cuda)";
  mamba::clear_error();
  if (int rc = mamba::check_gated_rms_norm(where, rows, size, groups, dtype, y, z, weight, nullptr, rstd, dout, dy, dz,
                                           dweight, true))
    return rc;
  auto s = static_cast<cudaStream_t>(stream);
  const int gs = (int)(size / groups), g = (int)groups;
  switch (dtype) {
    case MAMBA_F32: return launch_bwd<float>(rows, gs, g, y, z, weight, rstd, dout, dy, dz, dweight, s);
    case MAMBA_F16: return launch_bwd<__half>(rows, gs, g, y, z, weight, rstd, dout, dy, dz, dweight, s);
    default: return launch_bwd<__nv_bfloat16>(rows, gs, g, y, z, weight, rstd, dout, dy, dz, dweight, s);
  }
}
