// Adjoint end states of the time segments, for the time-split backward. The adjoint the backward
// carries across a step is linear, adj <- a_t (adj + C_t dy_t), so a segment maps it as
// adj_in = exp2(A2 * sum dt) adj_out + E with E its result from adj_out = 0. This pass stores E for
// segments 1..n_seg-1 (the last one starts from dfinal_state instead of 0) in seg_adj; the backward
// block of segment s folds E over the segments after it. Needs only dt, C and dy, not the states.
#pragma once
#include "scan_fwd_kernel.cuh"

namespace mamba::cuda {

template <typename T, typename BT, typename Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, 4) scan_adj_seg_kernel(ScanParams p) {
  constexpr int NPT = Cfg::NPT, TPC = Cfg::TPC, CH = Cfg::CH, NPAD = Cfg::NPAD, TT = Cfg::FWD_T;
  constexpr int THREADS = Cfg::THREADS;
  __shared__ float s_dt[CH][TT + 1], s_dy[CH][TT + 1], s_z[CH][TT + 1];
  __shared__ __align__(16) float s_C[TT][NPAD];
  __shared__ float s_bias[CH];

  const int b = blockIdx.z, g = blockIdx.y;
  const int c = threadIdx.x / TPC, slice = threadIdx.x % TPC;
  const int nchb = (p.dim_per_group + CH - 1) / CH;
  const int cb = (int)blockIdx.x % nchb, seg = (int)blockIdx.x / nchb + 1;  // segment 0 is not needed
  const int d0 = g * p.dim_per_group + cb * CH;
  const int nch = min(CH, p.dim_per_group - cb * CH);
  const bool live = c < nch;
  const int d = d0 + c;
  const int64_t bd = (int64_t)b * p.dim + d;
  const int L = p.length, N = p.state;
  const int ts = seg * p.seg_len, te = min(L, ts + p.seg_len);
  const bool has_z = p.z != nullptr, sp = p.softplus;

  if (threadIdx.x < CH) {
    const bool on = (int)threadIdx.x < nch;
    s_bias[threadIdx.x] = on && p.delta_bias ? p.delta_bias[d0 + threadIdx.x] : 0.f;
  }
  float A2[NPT], adj[NPT];
#pragma unroll
  for (int i = 0; i < NPT; ++i) {
    const int n = slice * NPT + i;
    const bool on = live && n < N;
    A2[i] = on ? p.A[d * p.A_s[0] + n * p.A_s[1]] * kLog2e : 0.f;
    adj[i] = on && p.dfinal_state && seg == p.n_seg - 1 ? p.dfinal_state[bd * N + n] : 0.f;
  }
  __syncthreads();  // s_bias

  TileRegs<THREADS, CH, TT> rd, rg, rz;
  BCRegs<THREADS, TT, NPAD> rc;
  for (int t0 = ts + (te - ts - 1) / TT * TT; t0 >= ts; t0 -= TT) {
    const int tl = min(TT, te - t0);
    rd.fetch(static_cast<const T*>(p.delta), p.delta_s, b, d0, nch, t0, tl);
    rg.fetch(static_cast<const T*>(p.dout), p.dout_s, b, d0, nch, t0, tl);
    if (has_z) rz.fetch(static_cast<const T*>(p.z), p.z_s, b, d0, nch, t0, tl);
    rc.fetch(static_cast<const BT*>(p.C), p.C_s, b, g, N, t0, tl);
    rd.put(s_dt, [&](float x, int cc, int) {
      x += s_bias[cc];
      return sp ? softplus(x) : x;
    });
    rg.put(s_dy, [](float x, int, int) { return x; });
    if (has_z) rz.put(s_z, [](float x, int, int) { return silu(x); });
    rc.put(s_C);
    __syncthreads();
    for (int t = tl - 1; t >= 0; --t) {
      const float dt = s_dt[c][t];
      const float dy = has_z ? s_dy[c][t] * s_z[c][t] : s_dy[c][t];
      float Cv[NPT];
      read_states<NPT, NPAD>(s_C, t, slice, Cv);
#pragma unroll
      for (int i = 0; i < NPT; ++i) adj[i] = exp2_ftz(dt * A2[i]) * (adj[i] + Cv[i] * dy);
    }
    __syncthreads();  // tiles are rewritten by the next chunk
  }

  if (live) {
    float* dst = p.seg_adj + (bd * p.n_seg + seg) * NPAD + slice * NPT;
#pragma unroll
    for (int i = 0; i < NPT; i += 4) *reinterpret_cast<float4*>(dst + i) = make_float4(adj[i], adj[i + 1], adj[i + 2], adj[i + 3]);
  }
}

}  // namespace mamba::cuda
