// RMSNorm of rows for decoding on CUDA (forward only; math in mamba_native.h). One block per row,
// fixed-order reduction, so the result does not depend on scheduling.
#include "check.cuh"
#include "dtype.cuh"

namespace mamba::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rms_norm_kernel(int64_t size, const T* x, int64_t xs, const T* w, float eps, T* out, int64_t os) {
  const T* xr = x + blockIdx.x * xs;
  T* o = out + blockIdx.x * os;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < size; i += kThreads) { const float v = load_f(xr + i); sum += v * v; }
  __shared__ float partial[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0.f;
  for (int k = 0; k < kThreads / 32; ++k) total += partial[k];
  const float scale = rsqrtf(total / (float)size + eps);
  for (int64_t i = threadIdx.x; i < size; i += kThreads) store_f(o + i, load_f(xr + i) * scale * load_f(w + i));
}

template <typename T>
int launch(int64_t rows, int64_t size, const void* x, int64_t xs, const void* w, float eps, void* out, int64_t os,
           cudaStream_t stream) {
  rms_norm_kernel<T><<<(unsigned)rows, kThreads, 0, stream>>>(size, static_cast<const T*>(x), xs, static_cast<const T*>(w),
                                                              eps, static_cast<T*>(out), os);
  MAMBA_CUDA_LAUNCHED("rms norm (cuda): launch");
  return MAMBA_OK;
}

}  // namespace
}  // namespace mamba::cuda

MAMBA_API int32_t mamba_rms_norm_cuda(int64_t rows, int64_t size, int32_t dtype, const void* x, int64_t x_row_stride,
                                      const void* weight, float eps, void* out, int64_t out_row_stride, void* stream) {
  using namespace mamba::cuda;
  if (rows < 1 || size < 1 || rows > 0x7fffffff)
    return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "rms norm (cuda): rows must be in 1..2^31-1 and size >= 1");
  if (!x || !weight || !out) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "rms norm (cuda): x, weight and out are required");
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case MAMBA_F32: return launch<float>(rows, size, x, x_row_stride, weight, eps, out, out_row_stride, s);
    case MAMBA_F16: return launch<__half>(rows, size, x, x_row_stride, weight, eps, out, out_row_stride, s);
    case MAMBA_BF16: return launch<__nv_bfloat16>(rows, size, x, x_row_stride, weight, eps, out, out_row_stride, s);
    default: return mamba::fail(MAMBA_ERR_UNSUPPORTED, "rms norm (cuda): dtype must be f32, f16 or bf16");
  }
}
