// Causal depthwise conv1d (+ optional SiLU), forward and backward, for width <= 8.
// Memory-bound and small next to the scan, so the kernels stay simple: one thread per output element
// with time fastest (coalesced for time-contiguous tensors), recomputing the pre-activation where the
// backward needs it. Weight and bias gradients use one block per channel and a fixed-order tree sum.
#include <algorithm>
#include <string>
#include "check.cuh"
#include "dtype.cuh"
#include "scan_math.cuh"

namespace mamba::cuda {
namespace {

constexpr int kMaxWidth = 8;

struct ConvParams {
  int batch, dim, length, width;
  bool silu;
  const void* x;  int64_t x_s[3];
  const float* weight;
  const float* bias;
};

// bias + sum_k w[k] * x[t - W + 1 + k], zero before t = 0.
template <typename T>
__device__ __forceinline__ float conv_pre(const ConvParams& p, const T* xrow, int64_t xs, const float* w, int t) {
  float acc = p.bias ? p.bias[0] : 0.f;
#pragma unroll
  for (int k = 0; k < kMaxWidth; ++k) {
    const int s = t - p.width + 1 + k;
    if (k < p.width && s >= 0) acc += w[k] * load_f(xrow + s * xs);
  }
  return acc;
}

template <typename T>
__global__ void conv_fwd_kernel(ConvParams p, T* out, int64_t o0, int64_t o1, int64_t o2) {
  const int64_t total = (int64_t)p.batch * p.dim * p.length;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int t = (int)(i % p.length), d = (int)((i / p.length) % p.dim), b = (int)(i / ((int64_t)p.length * p.dim));
    const T* xrow = static_cast<const T*>(p.x) + b * p.x_s[0] + d * p.x_s[1];
    ConvParams q = p;
    q.bias = p.bias ? p.bias + d : nullptr;
    float v = conv_pre(q, xrow, p.x_s[2], p.weight + (int64_t)d * p.width, t);
    if (p.silu) v = silu(v);
    store_f(out + b * o0 + d * o1 + t * o2, v);
  }
}

// Gradient at the pre-activation: dout, times silu'(pre) when SiLU is on.
template <typename T>
__device__ __forceinline__ float conv_dpre(const ConvParams& p, const T* xrow, const T* dorow, int64_t ds,
                                           const float* w, const float* bias, int t) {
  const float go = load_f(dorow + t * ds);
  if (!p.silu) return go;
  ConvParams q = p;
  q.bias = bias;
  return go * silu_grad(conv_pre(q, xrow, p.x_s[2], w, t));
}

template <typename T>
__global__ void conv_dx_kernel(ConvParams p, const T* dout, int64_t g0, int64_t g1, int64_t g2, T* dx, int64_t x0,
                               int64_t x1, int64_t x2) {
  const int64_t total = (int64_t)p.batch * p.dim * p.length;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int t = (int)(i % p.length), d = (int)((i / p.length) % p.dim), b = (int)(i / ((int64_t)p.length * p.dim));
    const T* xrow = static_cast<const T*>(p.x) + b * p.x_s[0] + d * p.x_s[1];
    const T* dorow = dout + b * g0 + d * g1;
    const float* w = p.weight + (int64_t)d * p.width;
    const float* bias = p.bias ? p.bias + d : nullptr;
    float acc = 0.f;  // x[t] feeds out[t + W - 1 - k] through w[k]
#pragma unroll
    for (int k = 0; k < kMaxWidth; ++k) {
      const int s = t + p.width - 1 - k;
      if (k < p.width && s < p.length) acc += w[k] * conv_dpre(p, xrow, dorow, g2, w, bias, s);
    }
    store_f(dx + b * x0 + d * x1 + t * x2, acc);
  }
}

constexpr int kWThreads = 256;

// One block per channel: dweight[d, k] and dbias[d], summed over (batch, time) in a fixed order.
template <typename T>
__global__ void __launch_bounds__(kWThreads) conv_dw_kernel(ConvParams p, const T* dout, int64_t g0, int64_t g1,
                                                            int64_t g2, float* dweight, float* dbias) {
  __shared__ float red[kMaxWidth + 1][kWThreads];
  const int d = blockIdx.x;
  const float* w = p.weight + (int64_t)d * p.width;
  const float* bias = p.bias ? p.bias + d : nullptr;
  float acc[kMaxWidth + 1] = {};
  const int64_t total = (int64_t)p.batch * p.length;
  for (int64_t i = threadIdx.x; i < total; i += kWThreads) {
    const int t = (int)(i % p.length), b = (int)(i / p.length);
    const T* xrow = static_cast<const T*>(p.x) + b * p.x_s[0] + d * p.x_s[1];
    const float gp = conv_dpre(p, xrow, dout + b * g0 + d * g1, g2, w, bias, t);
#pragma unroll
    for (int k = 0; k < kMaxWidth; ++k) {
      const int s = t - p.width + 1 + k;
      if (k < p.width && s >= 0) acc[k] += gp * load_f(xrow + s * p.x_s[2]);
    }
    acc[kMaxWidth] += gp;
  }
#pragma unroll
  for (int k = 0; k <= kMaxWidth; ++k) red[k][threadIdx.x] = acc[k];
  __syncthreads();
  for (int half = kWThreads / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) {
#pragma unroll
      for (int k = 0; k <= kMaxWidth; ++k) red[k][threadIdx.x] += red[k][threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x < p.width) dweight[(int64_t)d * p.width + threadIdx.x] = red[threadIdx.x][0];
  if (threadIdx.x == 0 && dbias) dbias[d] = red[kMaxWidth][0];
}

int invalid(const std::string& m) { return fail(MAMBA_ERR_INVALID_ARGUMENT, "conv1d (cuda): " + m); }

int check(const mamba_conv_args* a) {
  if (!a) return invalid("args is NULL");
  if (a->batch < 1 || a->dim < 1 || a->length < 1) return invalid("batch, dim and length must be >= 1");
  if (a->width < 1 || a->width > kMaxWidth) return invalid("width must be in 1..8");
  if (a->length > (1 << 30) || a->dim > (1 << 30) || a->batch > (1 << 30)) return invalid("sizes above 2^30");
  if (!a->x || !a->weight) return invalid("x and weight are required");
  if (a->dtype != MAMBA_F32 && a->dtype != MAMBA_F16 && a->dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, "conv1d (cuda): dtype must be f32, f16 or bf16");
  return MAMBA_OK;
}

ConvParams make(const mamba_conv_args* a) {
  ConvParams p{};
  p.batch = (int)a->batch; p.dim = (int)a->dim; p.length = (int)a->length; p.width = (int)a->width;
  p.silu = a->silu != 0;
  p.x = a->x;
  for (int i = 0; i < 3; ++i) p.x_s[i] = a->x_stride[i];
  p.weight = a->weight;
  p.bias = a->bias;
  return p;
}

unsigned grid_for(const ConvParams& p) {
  const int64_t total = (int64_t)p.batch * p.dim * p.length;
  return (unsigned)std::min<int64_t>((total + 255) / 256, 132 * 32);
}

template <typename F>
int by_dtype(int dtype, F&& f) {
  switch (dtype) {
    case MAMBA_F32: return f(float{});
    case MAMBA_F16: return f(__half{});
    default: return f(__nv_bfloat16{});
  }
}

}  // namespace
}  // namespace mamba::cuda

using namespace mamba::cuda;

MAMBA_API int32_t mamba_conv1d_fwd_cuda(const mamba_conv_args* args, void* out, const int64_t out_stride[3],
                                        void* stream) {
  mamba::clear_error();
  if (int rc = check(args)) return rc;
  if (!out || !out_stride) return invalid("out and out_stride are required");
  const ConvParams p = make(args);
  auto st = static_cast<cudaStream_t>(stream);
  return by_dtype(args->dtype, [&](auto t) {
    using T = decltype(t);
    conv_fwd_kernel<T><<<grid_for(p), 256, 0, st>>>(p, static_cast<T*>(out), out_stride[0], out_stride[1],
                                                    out_stride[2]);
    MAMBA_CUDA_LAUNCHED("conv1d forward kernel");
    return (int)MAMBA_OK;
  });
}

MAMBA_API int32_t mamba_conv1d_bwd_cuda(const mamba_conv_args* args, const void* dout, const int64_t dout_stride[3],
                                        void* dx, const int64_t dx_stride[3], float* dweight, float* dbias,
                                        void* stream) {
  mamba::clear_error();
  if (int rc = check(args)) return rc;
  if (!dout || !dout_stride) return invalid("dout and dout_stride are required");
  if (dx && !dx_stride) return invalid("dx_stride is required with dx");
  const ConvParams p = make(args);
  auto st = static_cast<cudaStream_t>(stream);
  return by_dtype(args->dtype, [&](auto t) {
    using T = decltype(t);
    const T* g = static_cast<const T*>(dout);
    if (dx) {
      conv_dx_kernel<T><<<grid_for(p), 256, 0, st>>>(p, g, dout_stride[0], dout_stride[1], dout_stride[2],
                                                     static_cast<T*>(dx), dx_stride[0], dx_stride[1], dx_stride[2]);
    }
    if (dweight || dbias) {
      if (!dweight) return invalid("dweight is required with dbias");
      conv_dw_kernel<T><<<p.dim, kWThreads, 0, st>>>(p, g, dout_stride[0], dout_stride[1], dout_stride[2], dweight,
                                                     dbias);
    }
    MAMBA_CUDA_LAUNCHED("conv1d backward kernels");
    return (int)MAMBA_OK;
  });
}
