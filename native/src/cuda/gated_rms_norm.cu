// Gated RMSNorm on CUDA, the training pair (math in mamba_native.h). In TorchSharp ops this norm is a dozen
// fp32 kernels forward and more backward, each reading and writing a copy of the activations; here it is one
// kernel forward and two backward. Forward: one block per (row, group). Backward: blocks walk rows, keep their
// dweight partial in shared memory, and a second kernel adds the partials in block order; every reduction has a
// fixed order, so results do not depend on scheduling. Groups whose width is a multiple of 16 bytes' worth of
// elements move them in 16-byte vectors (one thread per vector); others go element by element. Loads are plain,
// not __ldg (see rms_norm.cu).
#include <algorithm>
#include <cstdint>
#include <initializer_list>
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

// V consecutive elements of T as one 16-byte access (V = 16 / sizeof(T)), or one element (V = 1).
template <typename T, int V>
__device__ __forceinline__ void load_v(const T* p, float (&v)[V]) {
  if constexpr (V == 1) {
    v[0] = to_f(*p);
  } else {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = to_f(e[k]);
  }
}
template <typename T, int V>
__device__ __forceinline__ void store_v(T* p, const float (&v)[V]) {
  if constexpr (V == 1) {
    store_f(p, v[0]);
  } else {
    uint4 u;
    T* e = reinterpret_cast<T*>(&u);
#pragma unroll
    for (int k = 0; k < V; ++k) store_f(e + k, v[k]);
    *reinterpret_cast<uint4*>(p) = u;
  }
}

// Element j of a group: thread t handles elements V t .. V t + V - 1, then V (t + blockDim.x) .., so each element
// always has the same thread (the backward's dweight partial relies on it).
template <typename T, int V>
__global__ void gated_norm_fwd_kernel(int gs, int groups, const T* y, const T* z, const float* w, float eps, T* out,
                                      float* rstd) {
  __shared__ float partial[kThreads / 32];
  const int64_t row = blockIdx.x / groups;
  const int g = blockIdx.x % groups;
  const int64_t at = row * gs * groups + (int64_t)g * gs;
  float sum = 0.f;
  for (int i = V * threadIdx.x; i < gs; i += V * blockDim.x) {
    float yv[V], zv[V];
    load_v<T, V>(y + at + i, yv);
    load_v<T, V>(z + at + i, zv);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float h = yv[k] * zv[k] * sigmoid(zv[k]);
      sum += h * h;
    }
  }
  const float rs = 1.f / sqrtf(block_sum(sum, partial) / (float)gs + eps);
  if (rstd && threadIdx.x == 0) rstd[blockIdx.x] = rs;
  for (int i = V * threadIdx.x; i < gs; i += V * blockDim.x) {
    float yv[V], zv[V], o[V];
    load_v<T, V>(y + at + i, yv);
    load_v<T, V>(z + at + i, zv);
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = w[g * gs + i + k] * round_as<T>(yv[k] * zv[k] * sigmoid(zv[k]) * rs);
    store_v<T, V>(out + at + i, o);
  }
}

// dy and dz for the rows of this block; its share of dweight, per column, into part[blockIdx.x, :]. Element i of
// group k always has the same thread, so acc[i] has one owner and needs no atomics.
template <typename T, int V>
__global__ void gated_norm_bwd_kernel(int64_t rows, int gs, int groups, const T* y, const T* z, const float* w,
                                      const float* rstd, const T* dout, T* dy, T* dz, float* part) {
  extern __shared__ float acc[];
  __shared__ float partial[kThreads / 32];
  const int size = gs * groups;
  for (int i = threadIdx.x; i < size; i += blockDim.x) acc[i] = 0.f;
  __syncthreads();
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    for (int k = 0; k < groups; ++k) {
      const int64_t at = r * size + (int64_t)k * gs;
      const float rs = rstd[r * groups + k];
      float dot = 0.f;
      for (int i = V * threadIdx.x; i < gs; i += V * blockDim.x) {
        float yv[V], zv[V], dv[V];
        load_v<T, V>(y + at + i, yv);
        load_v<T, V>(z + at + i, zv);
        load_v<T, V>(dout + at + i, dv);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float n = yv[j] * zv[j] * sigmoid(zv[j]) * rs;
          dot += dv[j] * w[k * gs + i + j] * n;
          acc[k * gs + i + j] += dv[j] * n;
        }
      }
      const float mean = block_sum(dot, partial) / (float)gs;
      for (int i = V * threadIdx.x; i < gs; i += V * blockDim.x) {
        float yv[V], zv[V], dv[V], a[V], b[V];
        load_v<T, V>(y + at + i, yv);
        load_v<T, V>(z + at + i, zv);
        load_v<T, V>(dout + at + i, dv);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float s = sigmoid(zv[j]), n = yv[j] * zv[j] * s * rs;
          const float dh = rs * (dv[j] * w[k * gs + i + j] - n * mean);
          a[j] = dh * zv[j] * s;
          b[j] = dh * yv[j] * s * (1.f + zv[j] * (1.f - s));
        }
        store_v<T, V>(dy + at + i, a);
        store_v<T, V>(dz + at + i, b);
      }
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < size; i += blockDim.x) part[(int64_t)blockIdx.x * size + i] = acc[i];
}

// dweight[i] = sum over blocks of part[b, i], in block order per lane: a (32, 32) block takes 32 columns, lane y sums
// blocks y, y + 32, ..., and lane 0 adds the 32 lane sums in order.
__global__ void gated_norm_dweight_kernel(int blocks, int size, const float* part, float* dweight) {
  __shared__ float sums[32][33];
  const int i = blockIdx.x * 32 + threadIdx.x;
  float s = 0.f;
  if (i < size)
    for (int b = threadIdx.y; b < blocks; b += 32) s += part[(int64_t)b * size + i];
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y != 0 || i >= size) return;
  float total = 0.f;
  for (int k = 0; k < 32; ++k) total += sums[k][threadIdx.x];
  dweight[i] = total;
}

// Threads per block for groups of gs elements taken V at a time: a multiple of 32, at most kThreads.
int threads_for(int gs, int v) { return std::min(kThreads, (gs / v + 31) / 32 * 32); }

// 16-byte vectors when every group starts on a 16-byte boundary: the width a multiple of them and every tensor aligned.
template <typename T>
bool vectors_fit(int gs, std::initializer_list<const void*> tensors) {
  if (gs % (16 / (int)sizeof(T)) != 0) return false;
  for (const void* t : tensors)
    if (reinterpret_cast<uintptr_t>(t) % 16 != 0) return false;
  return true;
}

template <typename T>
int launch_fwd(int64_t rows, int gs, int groups, const void* y, const void* z, const float* w, float eps, void* out,
               float* rstd, cudaStream_t stream) {
  constexpr int V = 16 / sizeof(T);
  const auto go = [&](auto kernel, int v) {
    kernel<<<(unsigned)(rows * groups), threads_for(gs, v), 0, stream>>>(
        gs, groups, static_cast<const T*>(y), static_cast<const T*>(z), w, eps, static_cast<T*>(out), rstd);
  };
  if (vectors_fit<T>(gs, {y, z, out})) go(gated_norm_fwd_kernel<T, V>, V);
  else go(gated_norm_fwd_kernel<T, 1>, 1);
  MAMBA_CUDA_LAUNCHED("gated rms norm forward (cuda): launch");
  return MAMBA_OK;
}

template <typename T>
int launch_bwd(int64_t rows, int gs, int groups, const void* y, const void* z, const float* w, const float* rstd,
               const void* dout, void* dy, void* dz, float* dweight, cudaStream_t stream) {
  constexpr int V = 16 / sizeof(T);
  const int size = gs * groups;
  const int blocks = (int)std::min<int64_t>(rows, kBackwardBlocks);
  void* mem = nullptr;
  if (int rc = alloc_scratch((size_t)blocks * size, stream, "gated rms norm backward", &mem)) return rc;
  float* part = static_cast<float*>(mem);
  const size_t smem = (size_t)size * sizeof(float);
  const bool vec = vectors_fit<T>(gs, {y, z, dout, dy, dz});
  const auto kernel = vec ? gated_norm_bwd_kernel<T, V> : gated_norm_bwd_kernel<T, 1>;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (e == cudaSuccess) {
    kernel<<<blocks, threads_for(gs, vec ? V : 1), smem, stream>>>(
        rows, gs, groups, static_cast<const T*>(y), static_cast<const T*>(z), w, rstd, static_cast<const T*>(dout),
        static_cast<T*>(dy), static_cast<T*>(dz), part);
    gated_norm_dweight_kernel<<<(size + 31) / 32, dim3(32, 32), 0, stream>>>(blocks, size, part, dweight);
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
