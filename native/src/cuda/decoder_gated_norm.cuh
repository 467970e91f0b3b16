// The Mamba-2 decoder's out_proj prologue (decoder_mamba2.cu): the gated RMSNorm, in a header of its own so that
// test_decoder_gemv_cuda can check it bitwise against the straightforward formulation.
#pragma once
#include <cstdint>
#include "decoder_gemv.cuh"

namespace mamba::cuda::decoder {

// GatedRmsNorm of the SSD output, norm(y * SiLU(z)) * weight, as the TorchSharp step computes it: y and z (both
// already rounded to T) multiplied in fp32, the mean square of each of the row's groups of `group` channels in fp32,
// the normalised value rounded to T, times the weight, rounded to T (out_proj's input).
// The step runs this norm as torch ops, so the gate and the mean take torch's CUDA formulas, not scan_math.cuh's:
// SiLU as x / (1 + expf(-x)) (ActivationSiluKernel.cu: accurate expf, IEEE division; silu() there is x times a
// fast-math sigmoid, a few ulps away), the squares rounded before they are added (square(), then mean(): no fused
// multiply-add) and the mean as the sum times fp32(1 / group) (MeanOps multiplies by the factor). Only the order of
// the sum differs from torch's reduction. A 1-ulp change of a gate or of the scale moves the norm's output to the
// other bf16 neighbour now and then, and a deep bf16 model with near-tied logits turns that into another greedy token.
// Few groups (the whole width: one per row) are summed by several warps each, so the prologue is not one warp's
// serial loop while the others wait; the partial sums are added in a fixed order.
// Latency: at batch 1 the prologue is what out_proj's blocks do before their first weight is used, so y, z and
// the norm's weight are loaded in ONE round (all three are ready: y and z from earlier kernels, the weight a
// parameter), the weight into registers until the scale is known, instead of a round for y, one for z and one or
// two for the weight after the sums.
__device__ __forceinline__ float torch_silu(float x) { return x / (1.f + expf(-x)); }

template <typename T>
struct GatedNormInput {
  static constexpr int kHeld = 8;  // weights per thread held in registers: rows of up to kHeld * kThreads channels
  const float* y;
  const float* z;
  const float* weight;
  float eps;
  int group;
  __device__ void stage(float* xs, int64_t b0, int tile, int cols) const {
    constexpr int kWarps = kThreads / 32;
    __shared__ float partial[kWarps];
    __shared__ float scale[kWarps];
    const int n = tile * cols;
    const int groups_per_row = cols / group, parts = tile * groups_per_row;  // part = t * groups_per_row + g
    const bool few = parts <= kWarps;
    // The weight of channels threadIdx.x + u * kThreads (the few-groups path's scaling pass below).
    float w[kHeld];
#pragma unroll
    for (int u = 0; u < kHeld; ++u) {
      const int k = threadIdx.x + u * kThreads;
      w[u] = few && k < cols ? weight[k] : 0.f;
    }
    // The gate: xs = y * SiLU(z), two 16-byte loads of each per thread in flight (a 1536-wide row in one round; more
    // would cost registers the tensor-core kernel's weights hold at the same time).
    const float* yt = y + b0 * cols;
    const float* zt = z + b0 * cols;
    if (((reinterpret_cast<uintptr_t>(yt) | reinterpret_cast<uintptr_t>(zt)) & 15) == 0 && n % 4 == 0) {
      const float4* y4 = reinterpret_cast<const float4*>(yt);
      const float4* z4 = reinterpret_cast<const float4*>(zt);
      float4* x4 = reinterpret_cast<float4*>(xs);
      const int n4 = n / 4;
      for (int i = threadIdx.x; i < n4; i += 2 * kThreads) {
        float4 yv[2], zv[2];
#pragma unroll
        for (int u = 0; u < 2; ++u)
          if (i + u * kThreads < n4) {
            yv[u] = y4[i + u * kThreads];
            zv[u] = z4[i + u * kThreads];
          }
#pragma unroll
        for (int u = 0; u < 2; ++u)
          if (i + u * kThreads < n4)
            x4[i + u * kThreads] = make_float4(yv[u].x * torch_silu(zv[u].x), yv[u].y * torch_silu(zv[u].y),
                                               yv[u].z * torch_silu(zv[u].z), yv[u].w * torch_silu(zv[u].w));
      }
    } else {
      for (int i = threadIdx.x; i < n; i += 4 * kThreads) {
        float yv[4], zv[4];
#pragma unroll
        for (int u = 0; u < 4; ++u)
          if (i + u * kThreads < n) {
            yv[u] = yt[i + u * kThreads];
            zv[u] = zt[i + u * kThreads];
          }
#pragma unroll
        for (int u = 0; u < 4; ++u)
          if (i + u * kThreads < n) xs[i + u * kThreads] = yv[u] * torch_silu(zv[u]);
      }
    }
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (few) {
      const int slices = kWarps / parts;  // warps per part
      if (warp < parts * slices) {
        const int part = warp / slices, slice = warp % slices;
        const float* v = xs + (int64_t)part * group;
        float sum = 0.f;
        for (int k = slice * 32 + lane; k < group; k += slices * 32) sum += __fmul_rn(v[k], v[k]);
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        if (lane == 0) partial[warp] = sum;
      }
      __syncthreads();
      if (threadIdx.x < parts) {
        float sum = 0.f;
        for (int j = 0; j < slices; ++j) sum += partial[threadIdx.x * slices + j];
        scale[threadIdx.x] = rsqrtf(sum * (1.f / (float)group) + eps);
      }
      __syncthreads();
      auto apply = [&](int k, float wk) {
        for (int t = 0; t < tile; ++t) {
          float& x = xs[t * cols + k];
          x = round_to<T>(round_to<T>(x * scale[(t * cols + k) / group]) * wk);
        }
      };
#pragma unroll
      for (int u = 0; u < kHeld; ++u) {
        const int k = threadIdx.x + u * kThreads;
        if (k < cols) apply(k, w[u]);
      }
      for (int k = threadIdx.x + kHeld * kThreads; k < cols; k += kThreads) apply(k, weight[k]);
    } else {
      // Many groups: a warp per group, which it sums and then scales in place.
      for (int part = warp; part < parts; part += kWarps) {
        float* v = xs + (int64_t)part * group;
        const float* wg = weight + (int64_t)(part % groups_per_row) * group;
        float sum = 0.f;
        for (int k = lane; k < group; k += 32) sum += __fmul_rn(v[k], v[k]);
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const float sc = rsqrtf(sum * (1.f / (float)group) + eps);
        for (int k = lane; k < group; k += 32) v[k] = round_to<T>(round_to<T>(v[k] * sc) * wg[k]);
      }
    }
    __syncthreads();
  }
};

}  // namespace mamba::cuda::decoder
