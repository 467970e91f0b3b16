// Causal depthwise conv1d (+ optional SiLU), forward and backward, for width <= 8.
// Tiled: a block takes 32 channels x 64 steps of one sequence, stages x (with the width - 1 steps of
// history the tile needs) in shared memory, and computes from there. Every global walk goes along the
// axis of stride 1 of its own tensor, so time-contiguous (batch, dim, length) tensors and the
// channel-contiguous (batch, length, dim) views Mamba's in_proj produces both load and store coalesced.
// The backward computes dx and, in the same pass, per-block partial sums of dweight and dbias, which a
// second kernel adds up in a fixed order (no atomics: results are the same on every run).
#include <algorithm>
#include <string>
#include "check.cuh"
#include "common/abi_validate.h"
#include "dtype.cuh"
#include "scan_math.cuh"
#include "scratch.cuh"

namespace mamba::cuda {
namespace {

constexpr int kMaxWidth = 8;
constexpr int kHalo = kMaxWidth - 1;
constexpr int kCh = 32;       // channels per tile
constexpr int kSteps = 64;    // time steps per tile
constexpr int kThreads = 256;
constexpr int kWPad = kMaxWidth + 1;  // weights, then the bias, per channel in shared memory
// Shared rows: x with history on both sides (backward) and dpre with the next tile's first width - 1
// steps. Odd lengths keep channel-fastest walks free of bank conflicts.
constexpr int kXRow = kSteps + 2 * kHalo + 1;  // 79
constexpr int kGRow = kSteps + kHalo;          // 71
static_assert(kThreads % kCh == 0, "threads per channel must be whole");
// At most this many (batch, time-tile) partials of dweight per channel; blocks loop when there are more.
constexpr int kMaxPartials = 128;

struct ConvParams {
  int batch, dim, length, width;
  bool silu;
  const void* x;  int64_t x_s[3];
  const float* weight;
  const float* bias;
};

// Element i of a (kCh channels x n steps) region: consecutive i walk time when the tensor's time stride
// is 1, else channels (the channel-contiguous layout).
__device__ __forceinline__ void walk(bool time_fast, int i, int n, int& c, int& j) {
  c = time_fast ? i / n : i % kCh;
  j = time_fast ? i % n : i / kCh;
}
__device__ __forceinline__ bool time_fast(const int64_t* s) { return s[2] == 1 || s[1] != 1; }

// ws[c][k] = weight[d0+c, k] for k < width, ws[c][kMaxWidth] = bias (0 without), zeros elsewhere.
__device__ __forceinline__ void stage_weights(const ConvParams& p, int d0, float (*ws)[kWPad]) {
  for (int i = threadIdx.x; i < kCh * kWPad; i += kThreads) {
    const int c = i / kWPad, k = i % kWPad, d = d0 + c;
    float v = 0.f;
    if (d < p.dim) {
      if (k < p.width) v = p.weight[(int64_t)d * p.width + k];
      else if (k == kMaxWidth && p.bias) v = p.bias[d];
    }
    ws[c][k] = v;
  }
}

// xs[c][j] = x[b, d0+c, first + j] for j < n; 0 outside the sequence or past the last channel.
template <typename T>
__device__ __forceinline__ void stage_x(const ConvParams& p, int b, int d0, int nch, int first, int n,
                                        float (*xs)[kXRow]) {
  const bool tf = time_fast(p.x_s);
  const T* base = static_cast<const T*>(p.x) + b * p.x_s[0] + d0 * p.x_s[1];
  for (int i = threadIdx.x; i < kCh * n; i += kThreads) {
    int c, j;
    walk(tf, i, n, c, j);
    const int t = first + j;
    xs[c][j] = (c < nch && t >= 0 && t < p.length) ? load_f(base + c * p.x_s[1] + (int64_t)t * p.x_s[2]) : 0.f;
  }
}

// Pre-activation at the step whose window starts at xs[c][j]: bias + sum_k w[k] * xs[c][j + k].
__device__ __forceinline__ float pre_at(const ConvParams& p, const float (*ws)[kWPad], const float (*xs)[kXRow],
                                        int c, int j) {
  float acc = ws[c][kMaxWidth];
#pragma unroll
  for (int k = 0; k < kMaxWidth; ++k)
    if (k < p.width) acc += ws[c][k] * xs[c][j + k];
  return acc;
}

// One block per (time tile, channel tile, sequence), grid-strided.
template <typename T>
__global__ void __launch_bounds__(kThreads) conv_fwd_kernel(ConvParams p, T* out, int64_t o0, int64_t o1, int64_t o2) {
  __shared__ float ws[kCh][kWPad];
  __shared__ float xs[kCh][kXRow];
  const int n_t = (p.length + kSteps - 1) / kSteps, n_c = (p.dim + kCh - 1) / kCh;
  const int64_t items = (int64_t)n_t * n_c * p.batch;
  const int64_t os[3] = {o0, o1, o2};
  const bool otf = time_fast(os);
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int tt = (int)(item % n_t), cb = (int)((item / n_t) % n_c), b = (int)(item / ((int64_t)n_t * n_c));
    const int t0 = tt * kSteps, d0 = cb * kCh;
    const int nch = min(kCh, p.dim - d0), tl = min(kSteps, p.length - t0);
    __syncthreads();  // the previous item's readers are done with the shared tiles
    stage_weights(p, d0, ws);
    stage_x<T>(p, b, d0, nch, t0 - (p.width - 1), kSteps + p.width - 1, xs);
    __syncthreads();
    T* base = out + b * o0 + d0 * o1;
    for (int i = threadIdx.x; i < kCh * kSteps; i += kThreads) {
      int c, t;
      walk(otf, i, kSteps, c, t);
      if (c >= nch || t >= tl) continue;
      const float v = pre_at(p, ws, xs, c, t);  // window x[t0+t-width+1 .. t0+t] = xs[c][t ..]
      store_f(base + c * o1 + (int64_t)(t0 + t) * o2, p.silu ? silu(v) : v);
    }
  }
}

// dx for one tile, plus this block's share of dweight/dbias for its channel tile. Work items are
// (channel tile, partial slot); a slot covers the (sequence, time tile) pairs slot, slot + n_slots, ...
template <typename T>
__global__ void __launch_bounds__(kThreads) conv_bwd_kernel(ConvParams p, const T* dout, int64_t g0, int64_t g1,
                                                            int64_t g2, T* dx, int64_t x0, int64_t x1, int64_t x2,
                                                            float* partial, int n_slots) {
  __shared__ float ws[kCh][kWPad];
  __shared__ float xs[kCh][kXRow];
  __shared__ float gs[kCh][kGRow];
  const int W = p.width;
  const int n_t = (p.length + kSteps - 1) / kSteps, n_c = (p.dim + kCh - 1) / kCh;
  const int64_t pairs = (int64_t)p.batch * n_t;
  const int64_t gstr[3] = {g0, g1, g2}, xstr[3] = {x0, x1, x2};
  const bool gtf = time_fast(gstr), dtf = time_fast(xstr);
  // Partial sums: kThreads / kCh lanes per channel, each over every (kThreads / kCh)-th step.
  constexpr int kLanes = kThreads / kCh;
  const int pc = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  for (int64_t item = blockIdx.x; item < (int64_t)n_c * n_slots; item += gridDim.x) {
    const int cb = (int)(item % n_c), slot = (int)(item / n_c);
    const int d0 = cb * kCh, nch = min(kCh, p.dim - d0);
    float acc[kWPad];
#pragma unroll
    for (int k = 0; k < kWPad; ++k) acc[k] = 0.f;
    __syncthreads();
    stage_weights(p, d0, ws);
    for (int64_t pair = slot; pair < pairs; pair += n_slots) {
      const int b = (int)(pair / n_t), t0 = (int)(pair % n_t) * kSteps;
      const int tl = min(kSteps, p.length - t0);
      __syncthreads();  // the previous pair's readers are done with xs and gs
      // x from t0 - (W-1) to t0 + kSteps + W - 2: the windows of every step whose gradient reaches the tile.
      stage_x<T>(p, b, d0, nch, t0 - (W - 1), kSteps + 2 * (W - 1), xs);
      __syncthreads();
      // gs[c][j] = dL/dpre at step t0 + j, for j < kSteps + W - 1 (0 past the end of the sequence).
      const T* gbase = dout + b * g0 + d0 * g1;
      const int gn = kSteps + W - 1;
      for (int i = threadIdx.x; i < kCh * gn; i += kThreads) {
        int c, j;
        walk(gtf, i, gn, c, j);
        const int s = t0 + j;
        float g = 0.f;
        if (c < nch && s < p.length) {
          g = load_f(gbase + c * g1 + (int64_t)s * g2);
          if (p.silu) g *= silu_grad(pre_at(p, ws, xs, c, j));
        }
        gs[c][j] = g;
      }
      __syncthreads();
      // dx[t] = sum_k w[k] * dpre[t + W - 1 - k]: x[t] reaches out[t + W - 1 - k] through w[k].
      if (dx) {
        T* dbase = dx + b * x0 + d0 * x1;
        for (int i = threadIdx.x; i < kCh * kSteps; i += kThreads) {
          int c, t;
          walk(dtf, i, kSteps, c, t);
          if (c >= nch || t >= tl) continue;
          float v = 0.f;
#pragma unroll
          for (int k = 0; k < kMaxWidth; ++k)
            if (k < W) v += ws[c][k] * gs[c][t + W - 1 - k];
          store_f(dbase + c * x1 + (int64_t)(t0 + t) * x2, v);
        }
      }
      // dweight[k] += dpre[t] * x[t - W + 1 + k] over the tile's own steps; dbias += dpre[t].
      if (partial) {
        for (int t = lane; t < tl; t += kLanes) {
          const float g = gs[pc][t];
#pragma unroll
          for (int k = 0; k < kMaxWidth; ++k)
            if (k < W) acc[k] += g * xs[pc][t + k];
          acc[kMaxWidth] += g;
        }
      }
    }
    if (partial) {
      // Fixed-order butterfly over the lanes of a channel, then one write per (slot, channel).
#pragma unroll
      for (int k = 0; k < kWPad; ++k)
#pragma unroll
        for (int off = kLanes / 2; off > 0; off >>= 1) acc[k] += __shfl_xor_sync(0xffffffffu, acc[k], off);
      if (lane == 0 && pc < nch) {
        float* dst = partial + ((int64_t)slot * p.dim + d0 + pc) * kWPad;
#pragma unroll
        for (int k = 0; k < kWPad; ++k) dst[k] = acc[k];
      }
    }
  }
}

// dweight[d, k] and dbias[d]: the partials of every slot, added in slot order.
__global__ void conv_reduce_kernel(const float* partial, int n_slots, int dim, int width, float* dweight,
                                   float* dbias) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (int64_t)dim * kWPad;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int d = (int)(i / kWPad), k = (int)(i % kWPad);
    if (k >= width && k != kMaxWidth) continue;
    if (k == kMaxWidth && !dbias) continue;
    float sum = 0.f;
    for (int s = 0; s < n_slots; ++s) sum += partial[(int64_t)s * dim * kWPad + i];
    if (k == kMaxWidth) dbias[d] = sum;
    else dweight[(int64_t)d * width + k] = sum;
  }
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

// Blocks for `items` tiles: enough to fill the GPU several times over, grid-strided beyond that.
unsigned grid_for(int64_t items) { return (unsigned)std::max<int64_t>(1, std::min<int64_t>(items, 132 * 64)); }

int64_t time_tiles(const ConvParams& p) { return (p.length + kSteps - 1) / kSteps; }
int64_t channel_tiles(const ConvParams& p) { return (p.dim + kCh - 1) / kCh; }

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
  if (int rc = mamba::check_conv_layout("conv1d (cuda)", args)) return rc;
  if (int rc = mamba::check_conv_tensor("conv1d (cuda)", "out", args, out_stride, true)) return rc;
  const ConvParams p = make(args);
  auto st = static_cast<cudaStream_t>(stream);
  const int64_t items = time_tiles(p) * channel_tiles(p) * p.batch;
  return by_dtype(args->dtype, [&](auto t) {
    using T = decltype(t);
    conv_fwd_kernel<T><<<grid_for(items), kThreads, 0, st>>>(p, static_cast<T*>(out), out_stride[0], out_stride[1],
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
  if (dbias && !dweight) return invalid("dweight is required with dbias");
  if (int rc = mamba::check_conv_layout("conv1d backward (cuda)", args)) return rc;
  if (int rc = mamba::check_conv_tensor("conv1d backward (cuda)", "dout", args, dout_stride, false)) return rc;
  if (dx)
    if (int rc = mamba::check_conv_tensor("conv1d backward (cuda)", "dx", args, dx_stride, true)) return rc;
  if (!dx && !dweight) return MAMBA_OK;
  const ConvParams p = make(args);
  auto st = static_cast<cudaStream_t>(stream);
  const int64_t pairs = time_tiles(p) * p.batch;
  const int n_slots = dweight ? (int)std::min<int64_t>(pairs, kMaxPartials) : (int)std::min<int64_t>(pairs, 1 << 20);
  void* mem = nullptr;
  if (dweight) {
    if (int rc = alloc_scratch((size_t)n_slots * p.dim * kWPad, st, "conv1d backward", &mem)) return rc;
  }
  const int64_t zero[3] = {0, 0, 0};
  const int64_t* xs = dx ? dx_stride : zero;
  const int rc = by_dtype(args->dtype, [&](auto t) {
    using T = decltype(t);
    conv_bwd_kernel<T><<<grid_for(channel_tiles(p) * n_slots), kThreads, 0, st>>>(
        p, static_cast<const T*>(dout), dout_stride[0], dout_stride[1], dout_stride[2], static_cast<T*>(dx), xs[0],
        xs[1], xs[2], static_cast<float*>(mem), n_slots);
    MAMBA_CUDA_LAUNCHED("conv1d backward kernel");
    if (dweight) {
      const int64_t outs = (int64_t)p.dim * kWPad;
      conv_reduce_kernel<<<(unsigned)std::min<int64_t>((outs + 255) / 256, 132 * 16), 256, 0, st>>>(
          static_cast<const float*>(mem), n_slots, p.dim, p.width, dweight, dbias);
      MAMBA_CUDA_LAUNCHED("conv1d weight-gradient reduction");
    }
    return (int)MAMBA_OK;
  });
  const cudaError_t ef = mem ? cudaFreeAsync(mem, st) : cudaSuccess;
  if (rc != MAMBA_OK) return rc;
  MAMBA_CUDA_TRY(ef, "conv1d backward: freeing scratch");
  return MAMBA_OK;
}
