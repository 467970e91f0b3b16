// Fused selective-scan forward. A block owns CH channels of one (batch, group); each channel's state
// lives in the registers of TPC lanes (NPT states each) and is carried across time chunks, so the
// (batch, dim, length, state) tensor never exists. Per chunk: the tiles fetched during the previous
// chunk's scan go to shared memory (dt = softplus(delta + bias) on the way), the next chunk's loads
// are issued, the scan runs, and the gate and D skip are applied on the way out.
// Modes: kFwdOut writes out (and final_state, and the checkpoints below when p.ckpt is set);
// kFwdCkpt stores the state before every backward chunk, for the backward pass; kFwdSegEnd stores segment end states for the time-segment fold
// (see ScanParams::n_seg). blockIdx.x = segment * channel blocks + channel block.
// VEC (2-byte storage types only, chosen by the launcher when strides and pointers allow): u, delta, z and out
// move as 16-byte vectors (VecTileRegs) and 2-byte B and C stay raw bits until put(); the math is the same.
#pragma once
#include <type_traits>
#include "scan_math.cuh"
#include "scan_params.cuh"
#include "tile.cuh"
#include "vec_tile.cuh"

namespace mamba::cuda {

// Sum over the TPC lanes that share one channel (they are adjacent lanes of one warp).
template <int TPC>
__device__ __forceinline__ float lane_group_sum(float v) {
#pragma unroll
  for (int off = TPC / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// A lane's NPT consecutive entries of row t of a B/C tile.
template <int NPT, int NPAD>
__device__ __forceinline__ void read_states(const float (*bc)[NPAD], int t, int slice, float (&out)[NPT]) {
#pragma unroll
  for (int i = 0; i < NPT; i += 4) {
    const float4 v = *reinterpret_cast<const float4*>(&bc[t][slice * NPT + i]);
    out[i] = v.x; out[i + 1] = v.y; out[i + 2] = v.z; out[i + 3] = v.w;
  }
}

enum ScanFwdMode { kFwdOut = 0, kFwdCkpt = 1, kFwdSegEnd = 2 };

template <typename T, typename BT, typename Cfg, int MODE, bool VEC = false>
__global__ void __launch_bounds__(Cfg::THREADS, 4) scan_fwd_kernel(ScanParams p) {
  static_assert(!VEC || sizeof(T) == 2, "vector tiles are for 2-byte storage types");
  constexpr bool CKPT = MODE != kFwdOut;  // state only: no C, z or output
  constexpr int NPT = Cfg::NPT, TPC = Cfg::TPC, CH = Cfg::CH, NPAD = Cfg::NPAD, TT = Cfg::FWD_T;
  constexpr int THREADS = Cfg::THREADS, BWD_T = Cfg::BWD_T;
  __shared__ float s_u[CH][TT + 1], s_dt[CH][TT + 1];
  __shared__ float s_z[CKPT ? 1 : CH][TT + 1], s_y[CKPT ? 1 : CH][TT + 1];
  __shared__ __align__(16) float s_B[TT][NPAD];
  __shared__ __align__(16) float s_C[CKPT ? 1 : TT][NPAD];
  __shared__ float s_bias[CH], s_D[CH];

  const int b = blockIdx.z, g = blockIdx.y;
  const int c = threadIdx.x / TPC, slice = threadIdx.x % TPC;
  const int nchb = (p.dim_per_group + CH - 1) / CH;
  const int cb = (int)blockIdx.x % nchb, seg = (int)blockIdx.x / nchb;
  const int d0 = g * p.dim_per_group + cb * CH;
  const int nch = min(CH, p.dim_per_group - cb * CH);
  const bool live = c < nch;
  const int d = d0 + c;
  const int64_t bd = (int64_t)b * p.dim + d;
  const int L = p.length, N = p.state;
  const int ts = seg * p.seg_len, te = min(L, ts + p.seg_len);  // this block's steps
  const bool has_z = !CKPT && p.z != nullptr, sp = p.softplus;

  if (threadIdx.x < CH) {
    const bool on = (int)threadIdx.x < nch;
    s_bias[threadIdx.x] = on && p.delta_bias ? p.delta_bias[d0 + threadIdx.x] : 0.f;
    s_D[threadIdx.x] = on && p.D ? p.D[d0 + threadIdx.x] : 0.f;
  }
  // A is pre-scaled by log2(e) so each decay is one exp2.
  float A2[NPT], h[NPT];
#pragma unroll
  for (int i = 0; i < NPT; ++i) {
    const int n = slice * NPT + i;
    const bool on = live && n < N;
    A2[i] = on ? p.A[d * p.A_s[0] + n * p.A_s[1]] * kLog2e : 0.f;
    h[i] = on && p.initial_state && seg == 0 ? p.initial_state[bd * N + n] : 0.f;
  }
  if (MODE != kFwdSegEnd && seg > 0 && live) {  // fold the end states of the segments before this one
    const float* eh = p.seg_h + bd * p.n_seg * NPAD + slice * NPT;
#pragma unroll
    for (int i = 0; i < NPT; ++i) h[i] = eh[i];
    for (int s = 1; s < seg; ++s) {
      const float sdt = p.seg_dt[bd * p.n_seg + s];
#pragma unroll
      for (int i = 0; i < NPT; ++i) h[i] = exp2_ftz(sdt * A2[i]) * h[i] + eh[s * NPAD + i];
    }
  }
  float dt_sum = 0.f;  // kFwdSegEnd: the segment's decay is exp2(A2 * dt_sum)

  using Tile = std::conditional_t<VEC, VecTileRegs<THREADS, CH, TT, T>, TileRegs<THREADS, CH, TT>>;
  using BC = std::conditional_t<VEC && sizeof(BT) == 2, RawBCRegs<THREADS, TT, NPAD, BT>, BCRegs<THREADS, TT, NPAD>>;
  Tile ru, rd, rz;
  BC rb, rc;
  auto fetch = [&](int t0) {
    const int tl = min(TT, te - t0);
    ru.fetch(static_cast<const T*>(p.u), p.u_s, b, d0, nch, t0, tl);
    rd.fetch(static_cast<const T*>(p.delta), p.delta_s, b, d0, nch, t0, tl);
    if (has_z) rz.fetch(static_cast<const T*>(p.z), p.z_s, b, d0, nch, t0, tl);
    rb.fetch(static_cast<const BT*>(p.B), p.B_s, b, g, N, t0, tl);
    if (!CKPT) rc.fetch(static_cast<const BT*>(p.C), p.C_s, b, g, N, t0, tl);
  };
  fetch(ts);
  __syncthreads();  // s_bias, s_D

  for (int t0 = ts; t0 < te; t0 += TT) {
    const int tl = min(TT, te - t0);
    ru.put(s_u, [](float x, int, int) { return x; });
    rd.put(s_dt, [&](float x, int cc, int) {
      x += s_bias[cc];
      return sp ? softplus(x) : x;
    });
    if (has_z) rz.put(s_z, [](float x, int, int) { return x; });
    rb.put(s_B);
    if (!CKPT) rc.put(s_C);
    __syncthreads();
    if (t0 + TT < te) fetch(t0 + TT);  // in flight during this chunk's scan

    auto step = [&](int t) {
      const bool store = MODE == kFwdCkpt || (MODE == kFwdOut && p.ckpt != nullptr);
      if (store && t % BWD_T == 0 && live) {  // state before backward chunk (t0 + t) / BWD_T
        float* dst = p.ckpt + (bd * p.n_ckpt + (t0 + t) / BWD_T) * NPAD + slice * NPT;
#pragma unroll
        for (int i = 0; i < NPT; i += 4) *reinterpret_cast<float4*>(dst + i) = make_float4(h[i], h[i + 1], h[i + 2], h[i + 3]);
      }
      const float dt = s_dt[c][t];
      const float dtu = dt * s_u[c][t];
      if (MODE == kFwdSegEnd) dt_sum += dt;
      float Bv[NPT], Cv[NPT];
      read_states<NPT, NPAD>(s_B, t, slice, Bv);
      if (!CKPT) read_states<NPT, NPAD>(s_C, t, slice, Cv);
      float y = 0.f;
#pragma unroll
      for (int i = 0; i < NPT; ++i) {
        h[i] = exp2_ftz(dt * A2[i]) * h[i] + dtu * Bv[i];
        if (!CKPT) y += Cv[i] * h[i];
      }
      if (!CKPT) {
        y = lane_group_sum<TPC>(y);
        if (slice == 0) s_y[c][t] = y;
      }
    };
    if (tl == TT) {  // full chunk: no bounds checks, unrolled so decays can be computed ahead
#pragma unroll
      for (int t = 0; t < TT; ++t) step(t);
    } else {
      for (int t = 0; t < tl; ++t) step(t);
    }
    __syncthreads();

    if (!CKPT) {
      auto out = [&](int cc, int t) {
        const float y = s_y[cc][t] + s_D[cc] * s_u[cc][t];
        return has_z ? y * silu(s_z[cc][t]) : y;
      };
      if constexpr (VEC) store_vec_tile<THREADS, CH, TT>(static_cast<T*>(p.out), p.out_s, b, d0, nch, t0, tl, out);
      else store_tile<THREADS, CH, TT>(static_cast<T*>(p.out), p.out_s, b, d0, nch, t0, tl, out);
      __syncthreads();  // tiles are rewritten by the next chunk
    }
  }

  if (MODE == kFwdSegEnd && live) {
    float* dst = p.seg_h + (bd * p.n_seg + seg) * NPAD + slice * NPT;
#pragma unroll
    for (int i = 0; i < NPT; i += 4) *reinterpret_cast<float4*>(dst + i) = make_float4(h[i], h[i + 1], h[i + 2], h[i + 3]);
    if (slice == 0) p.seg_dt[bd * p.n_seg + seg] = dt_sum;
  }
  if (MODE == kFwdOut && p.final_state && live && seg == p.n_seg - 1) {
#pragma unroll
    for (int i = 0; i < NPT; ++i) {
      const int n = slice * NPT + i;
      if (n < N) p.final_state[bd * N + n] = h[i];
    }
  }
}

}  // namespace mamba::cuda
