// RMSNorm of rows on CUDA (math in mamba_native.h): the forward for decoding, and the training pair, whose
// forward also keeps each row's 1/rms for the backward. Forward: one block per row. Backward: blocks walk
// rows, keep their dweight partial in shared memory, and a second kernel adds the partials in block order;
// every reduction has a fixed order, so results do not depend on scheduling.
// Loads are plain, not __ldg: nvcc hoisted the read-only loads of w[tid + 256k] out of their `i < size` guard
// and ahead of the row loop, so a norm narrower than 3 x 256 read past the end of w (an illegal address when w
// ended a mapped region: the bf16 hidden-192/256 training crash).
#include <algorithm>
#include "check.cuh"
#include "common/abi_validate.h"
#include "dtype.cuh"
#include "scratch.cuh"

namespace mamba::cuda {
namespace {

constexpr int kThreads = 256;

constexpr int64_t kMaxTrainSize = 12288;  // the backward's dweight partial lives in 48 KB of shared memory

// Sum of v over the block, in a fixed order, returned to every thread. `partial` is reusable after return.
__device__ __forceinline__ float block_sum(float v, float* partial) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
  for (int k = 0; k < kThreads / 32; ++k) total += partial[k];
  __syncthreads();
  return total;
}

template <typename T>
__global__ void rms_norm_kernel(int64_t size, const T* x, int64_t xs, const T* w, float eps, T* out, int64_t os,
                                float* rstd) {
  const T* xr = x + blockIdx.x * xs;
  T* o = out + blockIdx.x * os;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < size; i += kThreads) { const float v = to_f(xr[i]); sum += v * v; }
  __shared__ float partial[kThreads / 32];
  const float scale = rsqrtf(block_sum(sum, partial) / (float)size + eps);
  if (rstd && threadIdx.x == 0) rstd[blockIdx.x] = scale;
  for (int64_t i = threadIdx.x; i < size; i += kThreads) store_f(o + i, to_f(xr[i]) * scale * to_f(w[i]));
}

// dx for the rows of this block; its share of dweight, per column, into part[blockIdx.x, :].
template <typename T>
__global__ void rms_norm_bwd_kernel(int64_t rows, int size, const T* x, const T* w, const float* rstd, const T* dout,
                                    T* dx, float* part) {
  extern __shared__ float acc[];  // acc[i]: touched only by thread i % kThreads
  __shared__ float partial[kThreads / 32];
  for (int i = threadIdx.x; i < size; i += kThreads) acc[i] = 0.f;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * size;
    const T* gr = dout + r * size;
    const float rs = rstd[r];
    float dot = 0.f;
    for (int i = threadIdx.x; i < size; i += kThreads) {
      const float n = to_f(xr[i]) * rs, g = to_f(gr[i]);
      dot += g * to_f(w[i]) * n;
      acc[i] += g * n;
    }
    const float mean_dot = block_sum(dot, partial) / (float)size;
    for (int i = threadIdx.x; i < size; i += kThreads) {
      const float n = to_f(xr[i]) * rs;
      store_f(dx + r * size + i, rs * (to_f(gr[i]) * to_f(w[i]) - n * mean_dot));
    }
  }
  for (int i = threadIdx.x; i < size; i += kThreads) part[(int64_t)blockIdx.x * size + i] = acc[i];
}

template <typename T>
__global__ void rms_norm_dweight_kernel(int blocks, int size, const float* part, T* dweight) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= size) return;
  float s = 0.f;
  for (int b = 0; b < blocks; ++b) s += part[(int64_t)b * size + i];
  store_f(dweight + i, s);
}

template <typename T>
int launch(int64_t rows, int64_t size, const void* x, int64_t xs, const void* w, float eps, void* out, int64_t os,
           cudaStream_t stream, float* rstd = nullptr) {
  rms_norm_kernel<T><<<(unsigned)rows, kThreads, 0, stream>>>(size, static_cast<const T*>(x), xs, static_cast<const T*>(w),
                                                              eps, static_cast<T*>(out), os, rstd);
  MAMBA_CUDA_LAUNCHED("rms norm (cuda): launch");
  return MAMBA_OK;
}

template <typename T>
int launch_bwd(int64_t rows, int size, const void* x, const void* w, const float* rstd, const void* dout, void* dx,
               void* dweight, cudaStream_t stream) {
  const int blocks = (int)std::min<int64_t>(rows, 132 * 8);
  void* mem = nullptr;
  if (int rc = alloc_scratch((size_t)blocks * size, stream, "rms norm backward", &mem)) return rc;
  float* part = static_cast<float*>(mem);
  const size_t smem = (size_t)size * sizeof(float);
  cudaError_t e = cudaFuncSetAttribute(rms_norm_bwd_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (e == cudaSuccess) {
    rms_norm_bwd_kernel<T><<<blocks, kThreads, smem, stream>>>(rows, size, static_cast<const T*>(x), static_cast<const T*>(w),
                                                               rstd, static_cast<const T*>(dout), static_cast<T*>(dx), part);
    rms_norm_dweight_kernel<T><<<(size + 255) / 256, 256, 0, stream>>>(blocks, size, part, static_cast<T*>(dweight));
    e = cudaGetLastError();
  }
  const cudaError_t freed = cudaFreeAsync(mem, stream);
  MAMBA_CUDA_TRY(e, "rms norm backward (cuda): launch");
  MAMBA_CUDA_TRY(freed, "rms norm backward (cuda): freeing scratch");
  return MAMBA_OK;
}

int check_train(int64_t rows, int64_t size, int32_t dtype, const char* what) {
  if (rows < 1 || size < 1 || rows > 0x7fffffff || size > kMaxTrainSize)
    return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, std::string(what) + ": rows must be in 1..2^31-1 and size in 1..12288");
  if (dtype != MAMBA_F32 && dtype != MAMBA_F16 && dtype != MAMBA_BF16)
    return mamba::fail(MAMBA_ERR_UNSUPPORTED, std::string(what) + ": dtype must be f32, f16 or bf16");
  return MAMBA_OK;
}

}  // namespace
}  // namespace mamba::cuda

MAMBA_API int32_t mamba_rms_norm_cuda(int64_t rows, int64_t size, int32_t dtype, const void* x, int64_t x_row_stride,
                                      const void* weight, float eps, void* out, int64_t out_row_stride, void* stream) {
  using namespace mamba::cuda;
  mamba::clear_error();
  if (int rc = mamba::check_rms_norm("rms norm (cuda)", rows, size, dtype, x, x_row_stride, weight, out, out_row_stride))
    return rc;
  if (rows > 0x7fffffff) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "rms norm (cuda): rows must be in 1..2^31-1");
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case MAMBA_F32: return launch<float>(rows, size, x, x_row_stride, weight, eps, out, out_row_stride, s);
    case MAMBA_F16: return launch<__half>(rows, size, x, x_row_stride, weight, eps, out, out_row_stride, s);
    case MAMBA_BF16: return launch<__nv_bfloat16>(rows, size, x, x_row_stride, weight, eps, out, out_row_stride, s);
    default: return mamba::fail(MAMBA_ERR_UNSUPPORTED, "rms norm (cuda): dtype must be f32, f16 or bf16");
  }
}

MAMBA_API int32_t mamba_rms_norm_train_fwd_cuda(int64_t rows, int64_t size, int32_t dtype, const void* x,
                                                const void* weight, float eps, void* out, float* rstd, void* stream) {
  using namespace mamba::cuda;
  mamba::clear_error();
  if (int rc = check_train(rows, size, dtype, "rms norm forward (cuda)")) return rc;
  if (!x || !weight || !out || !rstd)
    return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "rms norm forward (cuda): x, weight, out and rstd are required");
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case MAMBA_F32: return launch<float>(rows, size, x, size, weight, eps, out, size, s, rstd);
    case MAMBA_F16: return launch<__half>(rows, size, x, size, weight, eps, out, size, s, rstd);
    default: return launch<__nv_bfloat16>(rows, size, x, size, weight, eps, out, size, s, rstd);
  }
}

MAMBA_API int32_t mamba_rms_norm_train_bwd_cuda(int64_t rows, int64_t size, int32_t dtype, const void* x,
                                                const void* weight, const float* rstd, const void* dout, void* dx,
                                                void* dweight, void* stream) {
  using namespace mamba::cuda;
  mamba::clear_error();
  if (int rc = check_train(rows, size, dtype, "rms norm backward (cuda)")) return rc;
  if (!x || !weight || !rstd || !dout || !dx || !dweight)
    return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "rms norm backward (cuda): every pointer is required");
  auto s = static_cast<cudaStream_t>(stream);
  const int n = (int)size;
  switch (dtype) {
    case MAMBA_F32: return launch_bwd<float>(rows, n, x, weight, rstd, dout, dx, dweight, s);
    case MAMBA_F16: return launch_bwd<__half>(rows, n, x, weight, rstd, dout, dx, dweight, s);
    default: return launch_bwd<__nv_bfloat16>(rows, n, x, weight, rstd, dout, dx, dweight, s);
  }
}
