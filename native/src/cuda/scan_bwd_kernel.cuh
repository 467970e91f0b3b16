// Fused selective-scan backward. Same block layout as the forward. Time is walked backwards in
// chunks of BWD_T steps; each chunk first re-runs the forward from its checkpointed start state
// (written by scan_fwd_kernel<CKPT>) keeping the pre-step states in registers, then runs the adjoint
// recurrence  g_t = C_t dy_t + a_{t+1} g_{t+1}  backwards over them. Sums over channels (dB, dC) go
// through shared memory and per-block partials; sums over batch (dA, dD, dbias) through per-(b, d)
// partials. Every sum has a fixed order, so the result is bitwise reproducible.
// With time segments (ScanParams::n_seg) blockIdx.x = segment * channel blocks + channel block; a
// block starts from the adjoint folded from scan_adj_seg_kernel's end states of later segments.
#pragma once
#include "scan_fwd_kernel.cuh"

namespace mamba::cuda {

template <typename Cfg>
struct BwdSmem {
  static constexpr int CH = Cfg::CH, TB = Cfg::BWD_T, NPAD = Cfg::NPAD;
  static constexpr int ROWS = 7;  // u, dt, softplus', dy, gate grad -> dz, du, ddelta
  static constexpr int TILE_FLOATS = (ROWS * CH * (TB + 1) + 3) / 4 * 4;
  static constexpr int FLOATS = TILE_FLOATS + 2 * TB * NPAD + TB * CH * NPAD;
  static constexpr int BYTES = FLOATS * 4;
};

// part[cb, b, g, t0 + j, n] = sum over the block's channels of red[j][c][n], in channel order.
template <typename Cfg>
__device__ __forceinline__ void block_reduce_bc(const float (*red)[Cfg::CH][Cfg::NPAD], float* part, const ScanParams& p,
                                                int cb, int b, int g, int nch, int t0, int tl) {
  constexpr int NPAD = Cfg::NPAD;
  for (int i = threadIdx.x; i < tl * NPAD; i += Cfg::THREADS) {
    const int j = i / NPAD, n = i % NPAD;
    if (n >= p.state) continue;
    // Four interleaved chains instead of one: same fixed order every run, a quarter of the latency.
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    int c = 0;
    for (; c + 4 <= nch; c += 4) {
      s0 += red[j][c][n];
      s1 += red[j][c + 1][n];
      s2 += red[j][c + 2][n];
      s3 += red[j][c + 3][n];
    }
    for (; c < nch; ++c) s0 += red[j][c][n];
    const float s = (s0 + s1) + (s2 + s3);
    part[((((int64_t)cb * p.batch + b) * p.groups + g) * p.length + t0 + j) * p.state + n] = s;
  }
}

// MIN_BLOCKS: blocks per SM the register budget is cut for. 4 (128 registers) spills the adjoint's
// history at N = 16; 3 (168) does not and is ~20% faster, but only while the grid fits one wave at 3 per SM
// (launch_scan_bwd picks).
template <typename T, typename BT, typename Cfg, int MIN_BLOCKS>
__global__ void __launch_bounds__(Cfg::THREADS, MIN_BLOCKS) scan_bwd_kernel(ScanParams p) {
  constexpr int NPT = Cfg::NPT, TPC = Cfg::TPC, CH = Cfg::CH, NPAD = Cfg::NPAD, TB = Cfg::BWD_T;
  constexpr int THREADS = Cfg::THREADS;
  using S = BwdSmem<Cfg>;
  extern __shared__ __align__(16) float smem[];
  using Row = float[TB + 1];
  Row* s_u = reinterpret_cast<Row*>(smem);
  Row* s_dt = s_u + CH;
  Row* s_dsp = s_dt + CH;
  Row* s_dy = s_dsp + CH;
  Row* s_gz = s_dy + CH;
  Row* s_du = s_gz + CH;
  Row* s_ddt = s_du + CH;
  float(*s_B)[NPAD] = reinterpret_cast<float(*)[NPAD]>(smem + S::TILE_FLOATS);
  float(*s_C)[NPAD] = s_B + TB;
  float(*s_red)[CH][NPAD] = reinterpret_cast<float(*)[CH][NPAD]>(smem + S::TILE_FLOATS + 2 * TB * NPAD);

  const int b = blockIdx.z, g = blockIdx.y;
  const int c = threadIdx.x / TPC, slice = threadIdx.x % TPC;
  const int nchb = (p.dim_per_group + CH - 1) / CH;
  const int cb = (int)blockIdx.x % nchb, seg = (int)blockIdx.x / nchb;
  const int d0 = g * p.dim_per_group + cb * CH;
  const int nch = min(CH, p.dim_per_group - cb * CH);
  const bool live = c < nch;
  const int d = d0 + c;
  const int L = p.length, N = p.state;
  const int64_t bd = (int64_t)b * p.dim + d;
  const int ts = seg * p.seg_len, te = min(L, ts + p.seg_len);  // this block's steps
  const bool last_seg = seg == p.n_seg - 1;
  const bool has_z = p.z != nullptr;
  const float* bias = p.delta_bias;
  const bool sp = p.softplus;

  float A2[NPT], adj[NPT], dA[NPT];
#pragma unroll
  for (int i = 0; i < NPT; ++i) {
    const int n = slice * NPT + i;
    const bool on = live && n < N;
    A2[i] = on ? p.A[d * p.A_s[0] + n * p.A_s[1]] * kLog2e : 0.f;
    adj[i] = on && p.dfinal_state && last_seg ? p.dfinal_state[bd * N + n] : 0.f;
    dA[i] = 0.f;
  }
  if (!last_seg && live) {  // adjoint entering this segment: fold the later segments, last first
    const float* ea = p.seg_adj + bd * p.n_seg * NPAD + slice * NPT;
#pragma unroll
    for (int i = 0; i < NPT; ++i) adj[i] = ea[(p.n_seg - 1) * NPAD + i];
    for (int s = p.n_seg - 2; s > seg; --s) {
      const float sdt = p.seg_dt[bd * p.n_seg + s];
#pragma unroll
      for (int i = 0; i < NPT; ++i) adj[i] = exp2_ftz(sdt * A2[i]) * adj[i] + ea[s * NPAD + i];
    }
  }
  float dD_acc = 0.f, dbias_acc = 0.f;

  __shared__ float s_bias[CH], s_D[CH];
  if (threadIdx.x < CH) {
    const bool on = (int)threadIdx.x < nch;
    s_bias[threadIdx.x] = on && bias ? bias[d0 + threadIdx.x] : 0.f;
    s_D[threadIdx.x] = on && p.D ? p.D[d0 + threadIdx.x] : 0.f;
  }
  __syncthreads();

  for (int k = (te + TB - 1) / TB - 1; k >= ts / TB; --k) {
    const int t0 = k * TB, tl = min(TB, te - t0);
    // All global loads of the chunk first (one exposed latency), then the shared-memory stores.
    TileRegs<THREADS, CH, TB> ru, rd, rg, rz;
    BCRegs<THREADS, TB, NPAD> rb, rc;
    ru.fetch(static_cast<const T*>(p.u), p.u_s, b, d0, nch, t0, tl);
    rd.fetch(static_cast<const T*>(p.delta), p.delta_s, b, d0, nch, t0, tl);
    rg.fetch(static_cast<const T*>(p.dout), p.dout_s, b, d0, nch, t0, tl);
    if (has_z) rz.fetch(static_cast<const T*>(p.z), p.z_s, b, d0, nch, t0, tl);
    rb.fetch(static_cast<const BT*>(p.B), p.B_s, b, g, N, t0, tl);
    rc.fetch(static_cast<const BT*>(p.C), p.C_s, b, g, N, t0, tl);
    float h[NPT], hist[TB][NPT];
    {  // checkpointed state before this chunk (scan_fwd_kernel<CKPT>)
      const float* src = p.ckpt + (bd * p.n_ckpt + k) * NPAD + slice * NPT;
#pragma unroll
      for (int i = 0; i < NPT; i += 4) {
        const float4 v = live ? *reinterpret_cast<const float4*>(src + i) : make_float4(0.f, 0.f, 0.f, 0.f);
        h[i] = v.x; h[i + 1] = v.y; h[i + 2] = v.z; h[i + 3] = v.w;
      }
    }
    ru.put(s_u, [](float x, int) { return x; });
    rd.put2(s_dt, s_dsp, [&](float x, int cc) {
      x += s_bias[cc];
      return sp ? make_float2(softplus(x), softplus_grad(x)) : make_float2(x, 1.f);
    });
    rg.put(s_dy, [](float x, int) { return x; });
    if (has_z) rz.put(s_gz, [](float x, int) { return x; });
    rb.put(s_B);
    rc.put(s_C);
    __syncthreads();
    if (has_z) {  // dy = dout * silu(z); s_gz = dout * silu'(z), times y later gives dz
      for (int i = threadIdx.x; i < CH * TB; i += THREADS) {
        const int cc = i / TB, t = i % TB;
        const float zv = s_gz[cc][t], go = s_dy[cc][t];
        s_dy[cc][t] = go * silu(zv);
        s_gz[cc][t] = go * silu_grad(zv);
      }
      __syncthreads();
    }

    // Re-run the forward over the chunk from its checkpoint; keep pre-step states for the adjoint.
    const bool want_dC = p.dC != nullptr;
#pragma unroll
    for (int j = 0; j < TB; ++j) {
      if (j < tl) {
        const float dt = s_dt[c][j], u = s_u[c][j], dy = s_dy[c][j];
        const float dtu = dt * u;
        float y = 0.f, contrib[NPT];
        // Scalar B/C reads: float4 reads (tried, run 4) gave no measurable gain in this kernel.
#pragma unroll
        for (int i = 0; i < NPT; ++i) {
          const float Bv = s_B[j][slice * NPT + i], Cv = s_C[j][slice * NPT + i];
          hist[j][i] = h[i];
          h[i] = exp2_ftz(dt * A2[i]) * h[i] + dtu * Bv;
          y += Cv * h[i];
          contrib[i] = dy * h[i];
        }
        if (want_dC) {
#pragma unroll
          for (int i = 0; i < NPT; i += 4)
            *reinterpret_cast<float4*>(&s_red[j][c][slice * NPT + i]) =
                make_float4(contrib[i], contrib[i + 1], contrib[i + 2], contrib[i + 3]);
        }
        if (has_z) {
          y = lane_group_sum<TPC>(y);
          if (slice == 0) s_gz[c][j] *= y + s_D[c] * u;  // now dz
        }
      }
    }
    __syncthreads();
    if (want_dC) {
      block_reduce_bc<Cfg>(s_red, p.part_dC, p, cb, b, g, nch, t0, tl);
      __syncthreads();
    }

    // Adjoint, backwards through the chunk.
    const bool want_dB = p.dB != nullptr;
#pragma unroll
    for (int j = TB - 1; j >= 0; --j) {
      if (j < tl) {
        const float dt = s_dt[c][j], u = s_u[c][j], dy = s_dy[c][j];
        const float dtu = dt * u;
        float sB = 0.f, sH = 0.f, contrib[NPT];
#pragma unroll
        for (int i = 0; i < NPT; ++i) {
          const float Bv = s_B[j][slice * NPT + i], Cv = s_C[j][slice * NPT + i];
          adj[i] += Cv * dy;
          const float a = exp2_ftz(dt * A2[i]);
          const float gha = adj[i] * hist[j][i] * a;
          sH += gha * A2[i];
          dA[i] += gha * dt;
          sB += adj[i] * Bv;
          contrib[i] = adj[i] * dtu;
          adj[i] *= a;
        }
        if (want_dB) {
#pragma unroll
          for (int i = 0; i < NPT; i += 4)
            *reinterpret_cast<float4*>(&s_red[j][c][slice * NPT + i]) =
                make_float4(contrib[i], contrib[i + 1], contrib[i + 2], contrib[i + 3]);
        }
        sB = lane_group_sum<TPC>(sB);
        sH = lane_group_sum<TPC>(sH);
        if (slice == 0) {
          const float ddt = sH * kLn2 + u * sB;  // A2 carries log2(e); undo it
          const float ddelta = ddt * s_dsp[c][j];
          s_ddt[c][j] = ddelta;
          s_du[c][j] = dt * sB + s_D[c] * dy;
          dbias_acc += ddelta;
          dD_acc += dy * u;
        }
      }
    }
    __syncthreads();
    if (want_dB) block_reduce_bc<Cfg>(s_red, p.part_dB, p, cb, b, g, nch, t0, tl);
    if (p.du)
      store_tile<THREADS, CH, TB>(static_cast<T*>(p.du), p.du_s, b, d0, nch, t0, tl,
                                  [&](int cc, int t) { return s_du[cc][t]; });
    if (p.ddelta)
      store_tile<THREADS, CH, TB>(static_cast<T*>(p.ddelta), p.ddelta_s, b, d0, nch, t0, tl,
                                  [&](int cc, int t) { return s_ddt[cc][t]; });
    if (has_z && p.dz)
      store_tile<THREADS, CH, TB>(static_cast<T*>(p.dz), p.dz_s, b, d0, nch, t0, tl,
                                  [&](int cc, int t) { return s_gz[cc][t]; });
    __syncthreads();
  }

  if (!live) return;
  const int64_t sbd = (int64_t)seg * p.batch * p.dim + bd;  // partials are per (segment, b, d)
#pragma unroll
  for (int i = 0; i < NPT; ++i) {
    const int n = slice * NPT + i;
    p.part_dA[sbd * NPAD + n] = dA[i];
    if (n < N && p.dinitial_state && p.initial_state && seg == 0) p.dinitial_state[bd * N + n] = adj[i];
  }
  if (slice == 0) {
    p.part_dD[sbd] = dD_acc;
    p.part_dbias[sbd] = dbias_acc;
  }
}

}  // namespace mamba::cuda
