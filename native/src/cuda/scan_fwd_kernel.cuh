// Fused selective-scan forward. A block owns CH channels of one (batch, group); each channel's state
// lives in the registers of TPC lanes (NPT states each) and is carried across time chunks, so the
// (batch, dim, length, state) tensor never exists. Per chunk: tiles of dt = softplus(delta + bias),
// u, B and C go to shared memory; the scan runs; the gate and D skip are applied on the way out.
// With CKPT the kernel instead stores the state before every backward chunk, for the backward pass.
#pragma once
#include "scan_math.cuh"
#include "scan_params.cuh"
#include "tile.cuh"

namespace mamba::cuda {

// Sum over the TPC lanes that share one channel (they are adjacent lanes of one warp).
template <int TPC>
__device__ __forceinline__ float lane_group_sum(float v) {
#pragma unroll
  for (int off = TPC / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

template <typename T, typename BT, typename Cfg, bool CKPT>
__global__ void __launch_bounds__(Cfg::THREADS, 4) scan_fwd_kernel(ScanParams p) {
  constexpr int NPT = Cfg::NPT, TPC = Cfg::TPC, CH = Cfg::CH, NPAD = Cfg::NPAD, TT = Cfg::FWD_T;
  constexpr int THREADS = Cfg::THREADS, BT_ = Cfg::BWD_T;
  __shared__ float s_u[CH][TT + 1], s_dt[CH][TT + 1], s_y[CH][TT + 1];
  __shared__ __align__(16) float s_B[TT][NPAD];
  __shared__ __align__(16) float s_C[CKPT ? 1 : TT][NPAD];

  const int b = blockIdx.z, g = blockIdx.y;
  const int c = threadIdx.x / TPC, slice = threadIdx.x % TPC;
  const int d0 = g * p.dim_per_group + blockIdx.x * CH;
  const int nch = min(CH, p.dim_per_group - (int)blockIdx.x * CH);
  const bool live = c < nch;
  const int d = d0 + c;
  const int L = p.length, N = p.state;

  // A is pre-scaled by log2(e) so each decay is one exp2.
  float A2[NPT], h[NPT];
#pragma unroll
  for (int i = 0; i < NPT; ++i) {
    const int n = slice * NPT + i;
    const bool on = live && n < N;
    A2[i] = on ? p.A[d * p.A_s[0] + n * p.A_s[1]] * kLog2e : 0.f;
    h[i] = on && p.initial_state ? p.initial_state[((int64_t)b * p.dim + d) * N + n] : 0.f;
  }
  const float* bias = p.delta_bias;
  const bool sp = p.softplus;

  for (int t0 = 0; t0 < L; t0 += TT) {
    const int tl = min(TT, L - t0);
    load_tile<THREADS, CH, TT>(s_u, static_cast<const T*>(p.u), p.u_s, b, d0, nch, t0, tl, [](float x, int) { return x; });
    load_tile<THREADS, CH, TT>(s_dt, static_cast<const T*>(p.delta), p.delta_s, b, d0, nch, t0, tl,
                               [&](float x, int cc) {
                                 x += bias ? bias[d0 + cc] : 0.f;
                                 return sp ? softplus(x) : x;
                               });
    load_bc_tile<THREADS, TT, NPAD>(s_B, static_cast<const BT*>(p.B), p.B_s, b, g, N, t0, tl);
    if (!CKPT) load_bc_tile<THREADS, TT, NPAD>(s_C, static_cast<const BT*>(p.C), p.C_s, b, g, N, t0, tl);
    __syncthreads();

    for (int tb = 0; tb < tl; tb += BT_) {
      if (CKPT && live) {  // state before backward chunk (t0 + tb) / BWD_T
        float* dst = p.ckpt + (((int64_t)b * p.dim + d) * p.n_ckpt + (t0 + tb) / BT_) * NPAD + slice * NPT;
#pragma unroll
        for (int i = 0; i < NPT; i += 4) *reinterpret_cast<float4*>(dst + i) = make_float4(h[i], h[i + 1], h[i + 2], h[i + 3]);
      }
#pragma unroll 4
      for (int j = 0; j < BT_; ++j) {
        const int t = tb + j;
        if (t >= tl) break;  // uniform across the block
        const float dt = s_dt[c][t];
        const float dtu = dt * s_u[c][t];
        float Bv[NPT], Cv[NPT];
#pragma unroll
        for (int i = 0; i < NPT; i += 4) {
          const float4 bb = *reinterpret_cast<const float4*>(&s_B[t][slice * NPT + i]);
          Bv[i] = bb.x; Bv[i + 1] = bb.y; Bv[i + 2] = bb.z; Bv[i + 3] = bb.w;
          if (!CKPT) {
            const float4 cc = *reinterpret_cast<const float4*>(&s_C[t][slice * NPT + i]);
            Cv[i] = cc.x; Cv[i + 1] = cc.y; Cv[i + 2] = cc.z; Cv[i + 3] = cc.w;
          }
        }
        float y = 0.f;
#pragma unroll
        for (int i = 0; i < NPT; ++i) {
          h[i] = exp2f(dt * A2[i]) * h[i] + dtu * Bv[i];
          if (!CKPT) y += Cv[i] * h[i];
        }
        if (!CKPT) {
          y = lane_group_sum<TPC>(y);
          if (slice == 0) s_y[c][t] = y;
        }
      }
    }
    __syncthreads();

    if (!CKPT) {
      const float* Dp = p.D;
      const T* z = static_cast<const T*>(p.z);
      const int64_t* zs = p.z_s;
      store_tile<THREADS, CH, TT>(static_cast<T*>(p.out), p.out_s, b, d0, nch, t0, tl, [&](int cc, int t) {
        float y = s_y[cc][t];
        if (Dp) y += Dp[d0 + cc] * s_u[cc][t];
        if (z) {
          const float zv = load_f(z + b * zs[0] + (int64_t)(d0 + cc) * zs[1] + (int64_t)(t0 + t) * zs[2]);
          y *= silu(zv);
        }
        return y;
      });
      __syncthreads();  // tiles are reused by the next chunk
    }
  }

  if (!CKPT && p.final_state && live) {
#pragma unroll
    for (int i = 0; i < NPT; ++i) {
      const int n = slice * NPT + i;
      if (n < N) p.final_state[((int64_t)b * p.dim + d) * N + n] = h[i];
    }
  }
}

}  // namespace mamba::cuda
