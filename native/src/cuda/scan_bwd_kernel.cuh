// Fused selective-scan backward. Same block layout as the forward. Time is walked backwards in
// chunks of BWD_T steps; each chunk first re-runs the forward from its checkpointed start state
// (written by scan_fwd_kernel<CKPT>) keeping the decayed states a_t h_{t-1} in registers, then runs the adjoint
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
  static constexpr int CH = Cfg::CH, TB = Cfg::BWD_T, NPAD = Cfg::NPAD, TPC = Cfg::TPC;
  static constexpr int ROWS = 7;  // u, dt, softplus', dy, gate grad -> dz, du, ddelta
  static constexpr int TILE_FLOATS = (ROWS * CH * (TB + 1) + 3) / 4 * 4;
  // Per-step (channel, state) contributions to dB or dC, one plane per step. The 16 extra floats put the
  // two half-warps of block_reduce_bc, which read neighbouring planes, on different banks.
  static constexpr int RED_PLANE = CH * NPAD + 16;
  static constexpr int RED_FLOATS = TB * RED_PLANE;
  // Per-lane partial sums over the lane's states, [step][channel][lane]: (sum adj*B, sum dh*A) in the
  // adjoint, the output y in the recompute (first half). Summed over lanes after each loop by all threads.
  static constexpr int PART_FLOATS = TB * CH * TPC * 2;
  static constexpr int FLOATS = TILE_FLOATS + 2 * TB * NPAD + RED_FLOATS + PART_FLOATS;
  static constexpr int BYTES = FLOATS * 4;
};

// plane[j * state + n] = sum over the block's channels of red[j][c][n], in channel order, for j < tl; plane is
// this block's partials at the chunk's first step. Four interleaved chains instead of one: the same fixed
// order every run, a quarter of the latency. Whole chunks of full blocks take an unrolled path (the runtime
// loop bounds of the general one cost more instructions than its sums).
template <typename Cfg>
__device__ __forceinline__ void block_reduce_bc(const float* red, float* plane, int state, int nch, int tl) {
  constexpr int NPAD = Cfg::NPAD, CH = Cfg::CH, TB = Cfg::BWD_T, THREADS = Cfg::THREADS;
  constexpr int PLANE = BwdSmem<Cfg>::RED_PLANE;
  static_assert(CH % 4 == 0, "channel sums run in four chains");
  if (nch == CH && tl == TB) {
    constexpr int ITEMS = (TB * NPAD + THREADS - 1) / THREADS;
#pragma unroll
    for (int m = 0; m < ITEMS; ++m) {
      const int i = threadIdx.x + m * THREADS;
      if ((TB * NPAD) % THREADS != 0 && i >= TB * NPAD) break;
      const int j = i / NPAD, n = i % NPAD;
      const float* r = red + j * PLANE + n;
      float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
#pragma unroll
      for (int c = 0; c < CH; c += 4) {
        s0 += r[c * NPAD];
        s1 += r[(c + 1) * NPAD];
        s2 += r[(c + 2) * NPAD];
        s3 += r[(c + 3) * NPAD];
      }
      if (n < state) plane[j * state + n] = (s0 + s1) + (s2 + s3);
    }
    return;
  }
  for (int i = threadIdx.x; i < tl * NPAD; i += THREADS) {
    const int j = i / NPAD, n = i % NPAD;
    if (n >= state) continue;
    const float* r = red + j * PLANE + n;
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    int c = 0;
    for (; c + 4 <= nch; c += 4) {
      s0 += r[c * NPAD];
      s1 += r[(c + 1) * NPAD];
      s2 += r[(c + 2) * NPAD];
      s3 += r[(c + 3) * NPAD];
    }
    for (; c < nch; ++c) s0 += r[c * NPAD];
    plane[j * state + n] = (s0 + s1) + (s2 + s3);
  }
}

// MIN_BLOCKS: blocks per SM the register budget is cut for (launch_scan_bwd picks 3 or 4).
// Every chunk runs all BWD_T steps: the steps past the sequence's end are padded with dt = u = dy = 0 and
// B = C = 0, which leave the state and the adjoint unchanged and add nothing to any gradient, so the
// unrolled loops need no bounds checks. Sums over a channel's lanes (y, sum adj*B, sum dh*A) go through
// shared memory and are finished after each loop by all threads, instead of by shuffles and one lane in
// four inside it.
template <typename T, typename BT, typename Cfg, int MIN_BLOCKS>
__global__ void __launch_bounds__(Cfg::THREADS, MIN_BLOCKS) scan_bwd_kernel(ScanParams p) {
  constexpr int NPT = Cfg::NPT, TPC = Cfg::TPC, CH = Cfg::CH, NPAD = Cfg::NPAD, TB = Cfg::BWD_T;
  constexpr int THREADS = Cfg::THREADS;
  using S = BwdSmem<Cfg>;
  constexpr int PLANE = S::RED_PLANE;
  static_assert(THREADS % CH == 0, "post-loop passes keep one channel per thread");
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
  float* s_red = smem + S::TILE_FLOATS + 2 * TB * NPAD;
  float2* s_part = reinterpret_cast<float2*>(s_red + S::RED_FLOATS);  // [TB][CH][TPC]
  float* s_yp = reinterpret_cast<float*>(s_part);                     // [TB][CH][TPC], recompute only

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
  const bool want_dB = p.dB != nullptr, want_dC = p.dC != nullptr;
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
  // Per-channel sums over time of the post-loop passes; this thread's channel there is threadIdx.x % CH.
  float dD_acc = 0.f, dbias_acc = 0.f;

  __shared__ float s_bias[CH], s_D[CH];
  if (threadIdx.x < CH) {
    const bool on = (int)threadIdx.x < nch;
    s_bias[threadIdx.x] = on && bias ? bias[d0 + threadIdx.x] : 0.f;
    s_D[threadIdx.x] = on && p.D ? p.D[d0 + threadIdx.x] : 0.f;
  }
  TileOffsets<THREADS, CH, TB> o_u, o_dt, o_dy, o_z, o_du, o_ddt, o_dz;
  o_u.init(p.u_s, nch);
  o_dt.init(p.delta_s, nch);
  o_dy.init(p.dout_s, nch);
  if (has_z) o_z.init(p.z_s, nch);
  if (p.du) o_du.init(p.du_s, nch);
  if (p.ddelta) o_ddt.init(p.ddelta_s, nch);
  if (has_z && p.dz) o_dz.init(p.dz_s, nch);
  // Per (batch, channel) tensor: the offset of element (b, d0, 0) and the walk, computed once; redoing the
  // 64-bit stride arithmetic per tile and chunk was a measurable share of the instructions.
  enum { kU, kDelta, kDout, kZ, kDu, kDdelta, kDz, kTiles };
  __shared__ int64_t s_row[kTiles];
  __shared__ unsigned s_walk;  // bit i: tensor i walks time
  if (threadIdx.x == 0) {
    const int64_t* st[kTiles] = {p.u_s, p.delta_s, p.dout_s, p.z_s, p.du_s, p.ddelta_s, p.dz_s};
    unsigned walk = 0;
    for (int i = 0; i < kTiles; ++i) {
      s_row[i] = b * st[i][0] + d0 * st[i][1];
      walk |= walks_time(st[i]) ? 1u << i : 0u;
    }
    s_walk = walk;
  }
  __syncthreads();
  const unsigned walk = s_walk;
  // dB/dC partials of this (channel block, b, g): (length, state) planes of part_dB/part_dC.
  const int64_t part_row = (((int64_t)cb * p.batch + b) * p.groups + g) * p.length * p.state;
  // Element (b, d0, t0) of tensor i, of storage type X.
  auto at = [&](auto* x, int i, const int64_t* st, int t0) { return x + s_row[i] + t0 * st[2]; };
  // Chunk k's global loads go out while chunk k + 1 finishes (its dB sums, ddelta/du and stores), so their
  // latency overlaps work instead of stalling the tile stores at the top of each chunk.
  TileRegs<THREADS, CH, TB> ru, rd, rg, rz;
  BCRegs<THREADS, TB, NPAD> rb, rc;
  float h[NPT];  // the chunk's checkpointed start state (scan_fwd_kernel<CKPT>)
  auto fetch = [&](int k) {
    const int t0 = k * TB, tl = min(TB, te - t0);
    if (tl == TB) {
      ru.fetch_full(at(static_cast<const T*>(p.u), kU, p.u_s, t0), walk >> kU & 1, o_u);
      rd.fetch_full(at(static_cast<const T*>(p.delta), kDelta, p.delta_s, t0), walk >> kDelta & 1, o_dt);
      rg.fetch_full(at(static_cast<const T*>(p.dout), kDout, p.dout_s, t0), walk >> kDout & 1, o_dy);
      if (has_z) rz.fetch_full(at(static_cast<const T*>(p.z), kZ, p.z_s, t0), walk >> kZ & 1, o_z);
    } else {
      ru.fetch(static_cast<const T*>(p.u), p.u_s, b, d0, nch, t0, tl);
      rd.fetch(static_cast<const T*>(p.delta), p.delta_s, b, d0, nch, t0, tl);
      rg.fetch(static_cast<const T*>(p.dout), p.dout_s, b, d0, nch, t0, tl);
      if (has_z) rz.fetch(static_cast<const T*>(p.z), p.z_s, b, d0, nch, t0, tl);
    }
    rb.fetch(static_cast<const BT*>(p.B), p.B_s, b, g, N, t0, tl);
    rc.fetch(static_cast<const BT*>(p.C), p.C_s, b, g, N, t0, tl);
    const float* src = p.ckpt + (bd * p.n_ckpt + k) * NPAD + slice * NPT;
#pragma unroll
    for (int i = 0; i < NPT; i += 4) {
      const float4 v = live ? *reinterpret_cast<const float4*>(src + i) : make_float4(0.f, 0.f, 0.f, 0.f);
      h[i] = v.x; h[i + 1] = v.y; h[i + 2] = v.z; h[i + 3] = v.w;
    }
  };
  const int k_last = ts / TB;
  fetch((te + TB - 1) / TB - 1);

  for (int k = (te + TB - 1) / TB - 1; k >= k_last; --k) {
    const int t0 = k * TB, tl = min(TB, te - t0);
    const bool full = tl == TB;
    float hist[TB][NPT];  // hist[j] = a_j * h_{j-1}, the decayed state before step j's input
    ru.put(s_u, [](float x, int, int) { return x; });
    rd.put2(s_dt, s_dsp, [&](float x, int cc, int t) {
      if (t >= tl) return make_float2(0.f, 0.f);  // padding step: no decay, no gradient
      x += s_bias[cc];
      return sp ? softplus_and_grad(x) : make_float2(x, 1.f);
    });
    rg.put(s_dy, [](float x, int, int) { return x; });
    if (has_z) rz.put(s_gz, [](float x, int, int) { return x; });
    rb.put(s_B);
    rc.put(s_C);
    __syncthreads();
    if (has_z) {  // dy = dout * silu(z); s_gz = dout * silu'(z), times y later gives dz
      for (int i = threadIdx.x; i < CH * TB; i += THREADS) {
        const int cc = i / TB, t = i % TB;
        const float go = s_dy[cc][t];
        const float2 g = silu_and_grad(s_gz[cc][t]);
        s_dy[cc][t] = go * g.x;
        s_gz[cc][t] = go * g.y;
      }
      __syncthreads();
    }

    // Re-run the forward over the chunk from its checkpoint; keep the decayed states for the adjoint.
#pragma unroll
    for (int j = 0; j < TB; ++j) {
      const float dt = s_dt[c][j], u = s_u[c][j], dy = s_dy[c][j];
      const float dtu = dt * u;
      float Bv[NPT], Cv[NPT], y = 0.f;
      read_states<NPT, NPAD>(s_B, j, slice, Bv);
      read_states<NPT, NPAD>(s_C, j, slice, Cv);
#pragma unroll
      for (int i = 0; i < NPT; ++i) {
        hist[j][i] = exp2_ftz(dt * A2[i]) * h[i];
        h[i] = hist[j][i] + dtu * Bv[i];
        y += Cv[i] * h[i];
      }
      if (want_dC) {
        float* r = s_red + j * PLANE + c * NPAD + slice * NPT;
#pragma unroll
        for (int i = 0; i < NPT; i += 4)
          *reinterpret_cast<float4*>(r + i) = make_float4(dy * h[i], dy * h[i + 1], dy * h[i + 2], dy * h[i + 3]);
      }
      if (has_z) s_yp[(j * CH + c) * TPC + slice] = y;
    }
    __syncthreads();
    if (want_dC) block_reduce_bc<Cfg>(s_red, p.part_dC + part_row + (int64_t)t0 * N, N, nch, tl);
    if (has_z) {  // dz = dout * silu'(z) * (y + D u)
      for (int i = threadIdx.x; i < CH * TB; i += THREADS) {
        const int cc = i % CH, j = i / CH;
        const float* yp = s_yp + (j * CH + cc) * TPC;
        float y = 0.f;
#pragma unroll
        for (int l = 0; l < TPC; ++l) y += yp[l];
        s_gz[cc][j] *= y + s_D[cc] * s_u[cc][j];
      }
    }
    __syncthreads();

    // Adjoint, backwards through the chunk.
#pragma unroll
    for (int j = TB - 1; j >= 0; --j) {
      const float dt = s_dt[c][j], u = s_u[c][j], dy = s_dy[c][j];
      const float dtu = dt * u;
      float Bv[NPT], Cv[NPT], contrib[NPT], sB = 0.f, sH = 0.f;
      read_states<NPT, NPAD>(s_B, j, slice, Bv);
      read_states<NPT, NPAD>(s_C, j, slice, Cv);
#pragma unroll
      for (int i = 0; i < NPT; ++i) {
        adj[i] += Cv[i] * dy;
        const float gh = adj[i] * hist[j][i];  // d(a_j h_{j-1}) / d(dt) = A a_j h_{j-1}
        sH += gh * A2[i];
        dA[i] += gh * dt;
        sB += adj[i] * Bv[i];
        contrib[i] = adj[i] * dtu;
        adj[i] *= exp2_ftz(dt * A2[i]);
      }
      if (want_dB) {
        float* r = s_red + j * PLANE + c * NPAD + slice * NPT;
#pragma unroll
        for (int i = 0; i < NPT; i += 4)
          *reinterpret_cast<float4*>(r + i) = make_float4(contrib[i], contrib[i + 1], contrib[i + 2], contrib[i + 3]);
      }
      s_part[(j * CH + c) * TPC + slice] = make_float2(sB, sH);
    }
    __syncthreads();
    if (k > k_last) fetch(k - 1);  // h and the tile registers are free again
    if (want_dB) block_reduce_bc<Cfg>(s_red, p.part_dB + part_row + (int64_t)t0 * N, N, nch, tl);
    for (int i = threadIdx.x; i < CH * TB; i += THREADS) {  // ddelta and du from the lanes' sums
      const int cc = i % CH, j = i / CH;
      const float2* pp = s_part + (j * CH + cc) * TPC;
      float sB = 0.f, sH = 0.f;
#pragma unroll
      for (int l = 0; l < TPC; ++l) {
        const float2 v = pp[l];
        sB += v.x;
        sH += v.y;
      }
      const float u = s_u[cc][j], dy = s_dy[cc][j];
      const float ddelta = (sH * kLn2 + u * sB) * s_dsp[cc][j];  // A2 carries log2(e); kLn2 undoes it
      s_ddt[cc][j] = ddelta;
      s_du[cc][j] = s_dt[cc][j] * sB + s_D[cc] * dy;
      dbias_acc += ddelta;
      dD_acc += dy * u;
    }
    __syncthreads();
    if (full) {
      if (p.du)
        store_tile_full(at(static_cast<T*>(p.du), kDu, p.du_s, t0), walk >> kDu & 1, o_du,
                        [&](int cc, int t) { return s_du[cc][t]; });
      if (p.ddelta)
        store_tile_full(at(static_cast<T*>(p.ddelta), kDdelta, p.ddelta_s, t0), walk >> kDdelta & 1, o_ddt,
                        [&](int cc, int t) { return s_ddt[cc][t]; });
      if (has_z && p.dz)
        store_tile_full(at(static_cast<T*>(p.dz), kDz, p.dz_s, t0), walk >> kDz & 1, o_dz,
                        [&](int cc, int t) { return s_gz[cc][t]; });
    } else {
      if (p.du)
        store_tile<THREADS, CH, TB>(static_cast<T*>(p.du), p.du_s, b, d0, nch, t0, tl,
                                    [&](int cc, int t) { return s_du[cc][t]; });
      if (p.ddelta)
        store_tile<THREADS, CH, TB>(static_cast<T*>(p.ddelta), p.ddelta_s, b, d0, nch, t0, tl,
                                    [&](int cc, int t) { return s_ddt[cc][t]; });
      if (has_z && p.dz)
        store_tile<THREADS, CH, TB>(static_cast<T*>(p.dz), p.dz_s, b, d0, nch, t0, tl,
                                    [&](int cc, int t) { return s_gz[cc][t]; });
    }
    __syncthreads();
  }

  const int64_t sbd0 = (int64_t)seg * p.batch * p.dim + (int64_t)b * p.dim + d0;  // partials are per (segment, b, d)
  if (live) {
#pragma unroll
    for (int i = 0; i < NPT; ++i) {
      const int n = slice * NPT + i;
      p.part_dA[(sbd0 + c) * NPAD + n] = dA[i];
      if (n < N && p.dinitial_state && p.initial_state && seg == 0) p.dinitial_state[bd * N + n] = adj[i];
    }
  }
  // dD and ddelta_bias: THREADS / CH threads hold sums for each channel; add them in thread order.
  float* s_acc = s_red;  // free after the last chunk's sync
  s_acc[threadIdx.x] = dD_acc;
  s_acc[THREADS + threadIdx.x] = dbias_acc;
  __syncthreads();
  if ((int)threadIdx.x < nch) {
    float sd = 0.f, sb = 0.f;
#pragma unroll
    for (int r = 0; r < THREADS / CH; ++r) {
      sd += s_acc[r * CH + threadIdx.x];
      sb += s_acc[THREADS + r * CH + threadIdx.x];
    }
    p.part_dD[sbd0 + threadIdx.x] = sd;
    p.part_dbias[sbd0 + threadIdx.x] = sb;
  }
}

}  // namespace mamba::cuda
