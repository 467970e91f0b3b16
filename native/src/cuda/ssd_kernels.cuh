// Kernels of the chunked SSD (Mamba-2) scan on CUDA, forward and backward. The math (mamba_native.h):
//   h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T,   y_t = h_t C_t + D x_t
// in chunks of kQ = 64 steps, with acum_t the inclusive sum of dt A within the chunk and aend its last value:
//   chunk state     S_loc  = sum_s exp(aend - acum_s) dt_s x_s B_s^T                    (chunk_state_kernel)
//   C.B^T per group CB[q][s] = C_q . B_s                                                 (chunk_cb_kernel)
//   state passing   S[c+1] = exp(aend) S[c] + S_loc[c]                                   (state_pass_kernel)
//   chunk scan      y_q    = exp(acum_q) S[c] C_q + sum_{s<=q} (C_q.B_s) exp(acum_q - acum_s) dt_s x_s + D x_q
// Every product is a 64x64 block tile (ssd_tile.cuh). The backward recomputes S, runs the state passing in
// reverse for dS (the gradient of each chunk's start state), then one kernel per (batch, chunk, group) does
// the intra-chunk gradients for the group's heads in turn, so dB and dC are summed over heads without atomics
// (unless few blocks split a group's heads). The gradient of acum_t has a closed form per step:
//   dacum_t = dy_t.y_off_t + dy_t.y_diag_t - dt_t x_t.Z_t (+ dS[c+1].S[c+1] at the chunk's last step)
// where Z is dx / dt without the D term; d(dt A) is its reverse cumulative sum within the chunk.
// Second version (the first, ssd_kernels_v1.cuh, stays selectable): the kernels are bound by memory latency,
// not by the products, so the operand fills carry no branch around their loads (v1's did, which made every
// element one full memory latency), keep all 16 loads per thread of a whole tile in flight, and issue both
// operands of a product together (fill_pair); the state passing moves 16 bytes per access and sums dS.S for 8
// chunks per pair of barriers.
// Third version (v3, the default; MAMBA_SSD_KERNELS=v2 runs the same kernels with v2's products): for 2-byte
// inputs the operand tiles hold bf16/f16 (Acc::Op) and the products run on mma m16n8k16 (MmaAcc): half the
// shared memory per operand tile, so the chunk gradients fit 3 blocks per SM instead of 2, and twice TF32's
// tensor-core rate. Product outputs and epilogue tiles stay fp32. With 2-byte inputs, v3 also stores the states
// the state passing writes (the passed S, and in the backward the recomputed S and the passed dS) in the input
// dtype, as mamba_ssm does (ssd_api.cu); the chunk state's outputs and the running sums stay fp32.
// v3 also fuses the chunk state into the state passing by default (ssd_state_chain.cuh: one kernel per direction,
// the running state of a 64x64 tile in the block), so the fp32 local states never go to memory;
// chunk_state_kernel and state_pass_kernel below stay for v1/v2-style runs and MAMBA_SSD_PASS=separate.
#pragma once
#include "dtype.cuh"
#include "scan_math.cuh"
#include "ssd_params.cuh"
#include "ssd_tile.cuh"

namespace mamba::cuda::ssd {

// Element (i1, i3) of a 4-d view with its indices 0 and 2 fixed (batch and head or group), times `scale`; 0
// outside [0, lim1) x [0, lim3). The load is unconditional, at indices clamped into the view: without a branch
// around it, the loads of a fill go out together instead of one memory latency per element.
template <typename T>
struct View {
  const T* base;
  int64_t s1, s3;
  int64_t lim1;
  int lim3;
  __device__ __forceinline__ View(const void* p, const int64_t* s, int64_t i0, int64_t i2, int64_t lim1_, int lim3_)
      : base(static_cast<const T*>(p) + i0 * s[0] + i2 * s[2]), s1(s[1]), s3(s[3]), lim1(lim1_), lim3(lim3_) {}
  // A row-major (rows, cols) matrix with rows `pitch` elements apart, e.g. a (P, N) state in scratch.
  __device__ __forceinline__ View(const T* p, int64_t rows, int cols, int64_t pitch)
      : base(p), s1(pitch), s3(1), lim1(rows), lim3(cols) {}
  __device__ __forceinline__ float operator()(int64_t i1, int i3, float scale = 1.f) const {
    const bool ok = i1 < lim1 && i3 < lim3;
    const float v = load_f(base + (i1 < lim1 ? i1 : lim1 - 1) * s1 + (int64_t)(i3 < lim3 ? i3 : lim3 - 1) * s3);
    return ok ? v * scale : 0.f;
  }
};

// Fills a K-major 64x64 tile from rows r0.. and columns c0.. of a view (rows: time steps, or head-dim rows of a
// state; columns: features), row i times scale[i] when scale is given. RowIsK puts the rows on k
// (tile[row][col]), otherwise on m (tile[col][row]). Thread tid owns column c0 + tid % 64 and rows tid / 64 + 4 r,
// so a warp reads 32 consecutive columns. A tile wholly inside the view (every tile but the edges) takes
// unclamped addresses that advance by a constant step; edge tiles clamp through View::operator().
template <bool RowIsK, typename E, typename T>
__device__ __forceinline__ void fill_rows(E* tile, const View<T>& v, int64_t r0, int c0, const float* scale) {
  constexpr int kRowStep = kSsdThreads / kQ;
  const int col = threadIdx.x & (kQ - 1), row = threadIdx.x / kQ;
  auto put = [&](int r, float x) {
    const int i = row + kRowStep * r;
    tile[RowIsK ? i * kLd<E> + col : col * kLd<E> + i] = to_op<E>(scale ? x * scale[i] : x);
  };
  if (r0 + kQ <= v.lim1 && c0 + kQ <= v.lim3) {
    const T* ptr = v.base + (r0 + row) * v.s1 + (int64_t)(c0 + col) * v.s3;
    const int64_t step = kRowStep * v.s1;
    float x[kPerThread];  // all loads in flight at once: one memory latency per fill
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) x[r] = load_f(ptr + r * step);
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) put(r, x[r]);
  } else {
#pragma unroll 1
    for (int b0 = 0; b0 < kPerThread; b0 += kFillBatch) {
      float x[kFillBatch];
#pragma unroll
      for (int r = 0; r < kFillBatch; ++r) x[r] = v(r0 + row + kRowStep * (b0 + r), c0 + col);
#pragma unroll
      for (int r = 0; r < kFillBatch; ++r) put(b0 + r, x[r]);
    }
  }
}

// Both operand tiles of a product, as two fill_rows calls; when both tiles are whole, all their 32 loads per
// thread go out before any store (one memory latency for the pair).
template <bool RowIsKa, bool RowIsKb, typename Ea, typename Ta, typename Eb, typename Tb>
__device__ __forceinline__ void fill_pair(Ea* ta, const View<Ta>& va, int64_t ra, int ca, const float* sa,
                                          Eb* tb, const View<Tb>& vb, int64_t rb, int cb, const float* sb) {
  constexpr int kRowStep = kSsdThreads / kQ;
  if (ra + kQ <= va.lim1 && ca + kQ <= va.lim3 && rb + kQ <= vb.lim1 && cb + kQ <= vb.lim3) {
    const int col = threadIdx.x & (kQ - 1), row = threadIdx.x / kQ;
    const Ta* pa = va.base + (ra + row) * va.s1 + (int64_t)(ca + col) * va.s3;
    const Tb* pb = vb.base + (rb + row) * vb.s1 + (int64_t)(cb + col) * vb.s3;
    const int64_t stepa = kRowStep * va.s1, stepb = kRowStep * vb.s1;
    float xa[kPerThread], xb[kPerThread];
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      xa[r] = load_f(pa + r * stepa);
      xb[r] = load_f(pb + r * stepb);
    }
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int i = row + kRowStep * r;
      ta[RowIsKa ? i * kLd<Ea> + col : col * kLd<Ea> + i] = to_op<Ea>(sa ? xa[r] * sa[i] : xa[r]);
      tb[RowIsKb ? i * kLd<Eb> + col : col * kLd<Eb> + i] = to_op<Eb>(sb ? xb[r] * sb[i] : xb[r]);
    }
  } else {
    fill_rows<RowIsKa>(ta, va, ra, ca, sa);
    fill_rows<RowIsKb>(tb, vb, rb, cb, sb);
  }
}

// Shared memory of the tile kernels: n_out fp32 tiles (product outputs, epilogue data) first, then operand tiles
// of the accumulator's element type (fp32, or bf16/f16 for MmaAcc: half the bytes).
template <typename E>
__device__ __forceinline__ E* op_tile(float* smem, int n_out, int i) {
  return reinterpret_cast<E*>(smem + n_out * kTileFloats) + i * kQ * kLd<E>;
}
template <typename Acc>
constexpr int tiles_smem(int n_out, int n_op) {
  return n_out * kOutTileBytes + n_op * kOpTileBytes<typename Acc::Op>;
}
constexpr int kStateTiles[2] = {1, 2}, kCbTiles[2] = {1, 2}, kScanTiles[2] = {1, 3}, kBwdTiles[2] = {2, 4};

// (dt, d dt / d dt_in) after bias, softplus and clamp; the derivative is 0 where the clamp holds.
template <typename T>
__device__ __forceinline__ float2 dt_value(const SsdParams& p, int b, int64_t t, int h) {
  const float in = load_f(static_cast<const T*>(p.dt) + b * p.dt_s[0] + t * p.dt_s[1] + h * p.dt_s[2]) +
                   (p.dt_bias ? p.dt_bias[h] : 0.f);
  float2 r = p.softplus ? softplus_and_grad(in) : make_float2(in, 1.f);
  if (r.x < p.dt_min) r = make_float2(p.dt_min, 0.f);
  if (r.x > p.dt_max) r = make_float2(p.dt_max, 0.f);
  return r;
}

// Block (b, c, h), h fastest so the heads of one chunk run together and share B and C in L2.
struct ChunkHead {
  int b, c, h, g;
  int64_t t0, bh;
  __device__ ChunkHead(const SsdParams& p) {
    const int64_t i = blockIdx.x;
    h = (int)(i % p.heads);
    c = (int)((i / p.heads) % p.nc);
    b = (int)(i / ((int64_t)p.heads * p.nc));
    g = h / p.heads_per_group;
    t0 = (int64_t)c * kQ;
    bh = (int64_t)b * p.heads + h;
  }
};

// Slot `slot` of head bh's states in p.S or p.dS as stored by the state passing (ssd_params.cuh): (P, N) rows of
// fp32 N apart, or of St = the 2-byte input dtype 2 N apart (the first half of each fp32 row's bytes), or N apart
// when p.packed.
template <typename St>
__device__ __forceinline__ int64_t state_spread(const SsdParams& p) {
  return std::is_same<St, float>::value || p.packed ? 1 : 2;
}
template <typename St>
__device__ __forceinline__ const St* state_slot(const SsdParams& p, const float* buf, int64_t bh, int slot) {
  return reinterpret_cast<const St*>(buf) + (bh * (p.nc + 1) + slot) * p.PN() * state_spread<St>(p);
}
template <typename St>
__device__ __forceinline__ int64_t state_pitch(const SsdParams& p) {
  return state_spread<St>(p) * (int64_t)p.state;
}

// dt (after bias, softplus and clamp) and acum (the inclusive sum of dt A) of chunk t0.. of head (b, h) into
// s_dtv and s_acum, and into the scratch p.dtv, p.acum when `keep`. A shuffle scan in each of the first two warps,
// then the second warp adds the first one's total: a fixed order, so every kernel that recomputes them gets the
// same values. Every thread must call it; it ends with a barrier.
template <typename T>
__device__ __forceinline__ void chunk_decay(const SsdParams& p, int b, int h, int64_t bh, int64_t t0, bool keep,
                                            float* s_dtv, float* s_acum) {
  if (threadIdx.x < kQ) {
    const int64_t t = t0 + threadIdx.x;
    s_dtv[threadIdx.x] = t < p.length ? dt_value<T>(p, b, t, h).x : 0.f;
  }
  __syncthreads();
  if (threadIdx.x < kQ) {
    const int lane = threadIdx.x & 31;
    float v = s_dtv[threadIdx.x] * p.A[h];
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float n = __shfl_up_sync(0xffffffffu, v, o);
      if (lane >= o) v += n;
    }
    s_acum[threadIdx.x] = v;
  }
  __syncthreads();
  if (threadIdx.x >= 32 && threadIdx.x < kQ) s_acum[threadIdx.x] += s_acum[31];
  __syncthreads();
  if (keep && threadIdx.x < kQ) {
    const int64_t o = bh * p.Lp() + t0 + threadIdx.x;
    p.dtv[o] = s_dtv[threadIdx.x];
    p.acum[o] = s_acum[threadIdx.x];
  }
}

// dt and acum of the chunk into scratch; the local chunk state into S[c + 1]; for the backward also
// dS_loc[c] = sum_q exp(acum_q) dy_q^T C_q (the chunk's own contribution to dS[c]) into dS[c].
template <typename T, typename Acc>
__global__ void __launch_bounds__(kSsdThreads, 4) chunk_state_kernel(const SsdParams p, const bool backward) {
  using E = typename Acc::Op;
  extern __shared__ __align__(128) float smem[];
  float* tout = smem;
  E* ta = op_tile<E>(smem, 1, 0);  // x (or dy) scaled per step: rounded to E (mamba_ssm rounds its scaled B)
  E* tb = op_tile<E>(smem, 1, 1);
  __shared__ float s_dtv[kQ], s_acum[kQ], s_w[kQ], s_e[kQ];
  const ChunkHead k(p);
  const int P = p.head_dim, N = p.state;
  const int64_t PN = p.PN();
  chunk_decay<T>(p, k.b, k.h, k.bh, k.t0, true, s_dtv, s_acum);
  if (threadIdx.x < kQ) {
    const int i = threadIdx.x;
    s_w[i] = s_dtv[i] * __expf(s_acum[kQ - 1] - s_acum[i]);
    s_e[i] = __expf(s_acum[i]);
  }
  __syncthreads();
  for (int p0 = 0; p0 < P; p0 += kQ)
    for (int pass = 0; pass < (backward ? 2 : 1); ++pass) {
      const View<T> xs(pass == 0 ? p.x : p.dy, pass == 0 ? p.x_s : p.dy_s, k.b, k.h, p.length, P);
      const View<T> bs(pass == 0 ? p.B : p.C, pass == 0 ? p.B_s : p.C_s, k.b, k.g, p.length, N);
      const float* wt = pass == 0 ? s_w : s_e;
      fill_rows<true>(ta, xs, k.t0, p0, wt);  // once for all the state's column tiles
      for (int n0 = 0; n0 < N; n0 += kQ) {
        fill_rows<true>(tb, bs, k.t0, n0, nullptr);
        __syncthreads();
        Acc acc;
        acc.zero();
        acc.mm(ta, tb);
        acc.store(tout);
        __syncthreads();
        float* dst = pass == 0 ? p.S + (k.bh * (p.nc + 1) + k.c + 1) * PN : p.dS + (k.bh * (p.nc + 1) + k.c) * PN;
        for_tile([&](int pp, int nn) {
          if (p0 + pp < P && n0 + nn < N) dst[(int64_t)(p0 + pp) * N + n0 + nn] = tout[pp * kSsdLd + nn];
        });
        __syncthreads();
      }
    }
}

// The 16 bits of a 2-byte state element, and back (round to nearest, as to_op).
template <typename St> __device__ __forceinline__ uint32_t state_bits(float v);
template <> __device__ __forceinline__ uint32_t state_bits<__nv_bfloat16>(float v) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}
template <> __device__ __forceinline__ uint32_t state_bits<__half>(float v) {
  return __half_as_ushort(__float2half_rn(v));
}
template <typename St> __device__ __forceinline__ float state_value(uint32_t bits);
template <> __device__ __forceinline__ float state_value<__nv_bfloat16>(uint32_t bits) {
  return __uint_as_float(bits << 16);
}
template <> __device__ __forceinline__ float state_value<__half>(uint32_t bits) {
  return __half2float(__ushort_as_half((unsigned short)bits));
}

// V consecutive state elements of scratch (fp32 or 2-byte St) as one access for V = 4: 16 bytes (fp32) or 8
// bytes, aligned because the groups of 4 are (pass_vec, ssd_api.cu). Plain loads: the state passing reads back
// what it wrote.
template <int V, typename St>
__device__ __forceinline__ void vload(const St* src, float (&v)[V]) {
  if constexpr (V == 4 && std::is_same<St, float>::value) {
    const float4 t = *reinterpret_cast<const float4*>(src);
    v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
  } else if constexpr (V == 4) {
    const uint2 t = *reinterpret_cast<const uint2*>(src);
    v[0] = state_value<St>(t.x & 0xffffu); v[1] = state_value<St>(t.x >> 16);
    v[2] = state_value<St>(t.y & 0xffffu); v[3] = state_value<St>(t.y >> 16);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = to_f(src[i]);
  }
}
template <int V, typename St>
__device__ __forceinline__ void vstore(St* dst, const float (&v)[V]) {
  if constexpr (V == 4 && std::is_same<St, float>::value) {
    __stcg(reinterpret_cast<float4*>(dst), make_float4(v[0], v[1], v[2], v[3]));  // one 16-byte store
  } else if constexpr (V == 4) {  // element e + i in the low half first (little-endian), one 8-byte store
    __stcg(reinterpret_cast<uint2*>(dst), make_uint2(state_bits<St>(v[0]) | state_bits<St>(v[1]) << 16,
                                                     state_bits<St>(v[2]) | state_bits<St>(v[3]) << 16));
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) dst[i] = to_op<St>(v[i]);
  }
}

// V consecutive state elements of (b, h) per thread (V = 4 when P N % 4 == 0, or with 2-byte states N % 4 == 0:
// 16- or 8-byte accesses, four times the bytes in flight): S[0] = initial state, S[c+1] = exp(aend_c) S[c] +
// S_loc[c], written over S_loc[c]'s slot. Backward also runs the gradient in reverse: dS[nc] = dfinal,
// dS[c] = exp(aend_c) dS[c+1] + dS_loc[c], dS[c+1] written over dS_loc[c+1]'s slot, and writes each chunk's
// partial sum of dS[c+1] . S[c+1] (the gradient of aend_c through the state, S[c+1] read back as stored) to
// dAend. Loads go kAhead chunks ahead of the dependent chain (one FMA per chunk), unconditionally at clamped
// chunk indices. The running sums s and d stay fp32. St is the stored states' type: fp32, each element written
// by the thread that read it (blocks of 256 V consecutive elements); or the 2-byte input dtype, in the first half
// of each fp32 row's bytes (ssd_params.cuh), where a 2-byte element overwrites other threads' fp32 elements of its
// row: each block owns pass_rows whole rows, and a barrier between a batch's loads and its stores keeps every
// fp32 element read before its bytes are overwritten.
template <int V, typename St>
__global__ void __launch_bounds__(kSsdThreads, 2) state_pass_kernel(const SsdParams p, const bool backward) {
  constexpr int kAhead = 8, kWarps = kSsdThreads / 32;
  constexpr bool kF32 = std::is_same<St, float>::value;
  __shared__ float red[kAhead * kWarps];
  const int split = (int)(blockIdx.x % p.pass_split);
  const int64_t bh = blockIdx.x / p.pass_split;
  const int64_t PN = p.PN(), Lp = p.Lp();
  const int N = p.state;
  int64_t e, ec;
  bool valid;
  if constexpr (kF32) {
    e = ((int64_t)split * kSsdThreads + threadIdx.x) * V;
    valid = e < PN;  // all V elements or none: PN % V == 0
    ec = valid ? e : 0;
  } else {
    const int64_t first = (int64_t)split * p.pass_rows * N;  // the block's rows: whole ones
    e = first + (int64_t)threadIdx.x * V;
    valid = (int)threadIdx.x * V < p.pass_rows * N && e < PN;  // all V elements or none: N % V == 0
    ec = valid ? e : first;  // clamped loads stay in the block's rows
  }
  // Element ec within a slot of stored states, and the slots' pitch, in St elements.
  const int64_t te = kF32 ? ec : ec + ec / N * N;
  const int64_t sp = kF32 ? PN : 2 * PN;
  const float* Sb = p.S + bh * (p.nc + 1) * PN;
  St* Pb = reinterpret_cast<St*>(p.S + bh * (p.nc + 1) * PN);
  const float* aend = p.acum + bh * Lp + kQ - 1;  // aend of chunk c at aend[c * kQ]
  float s[V];
#pragma unroll
  for (int i = 0; i < V; ++i) s[i] = valid && p.initial_state ? p.initial_state[bh * PN + e + i] : 0.f;
  if (valid) vstore<V>(Pb + te, s);  // slot 0: no local state there
  // The final slot is read only by the backward (fp32 keeps writing it, as before).
  const int last = backward || kF32 ? p.nc : p.nc - 1;
  for (int c0 = 0; c0 < p.nc; c0 += kAhead) {
    float loc[kAhead][V], ea[kAhead];
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 + j, cc = c < p.nc ? c : p.nc - 1;
      vload<V>(Sb + (int64_t)(cc + 1) * PN + ec, loc[j]);
      ea[j] = __expf(aend[(int64_t)cc * kQ]);
    }
    if constexpr (!kF32) __syncthreads();  // the block's loads of these slots before its stores over them
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 + j;
      if (valid && c < p.nc) {
#pragma unroll
        for (int i = 0; i < V; ++i) s[i] = ea[j] * s[i] + loc[j][i];
        if (c < last) vstore<V>(Pb + (int64_t)(c + 1) * sp + te, s);
      }
    }
  }
  if (!backward) {
    if (valid && p.final_state)
#pragma unroll
      for (int i = 0; i < V; ++i) p.final_state[bh * PN + e + i] = s[i];
    return;
  }
  const float* dSb = p.dS + bh * (p.nc + 1) * PN;
  St* dPb = reinterpret_cast<St*>(p.dS + bh * (p.nc + 1) * PN);
  float d[V];
#pragma unroll
  for (int i = 0; i < V; ++i) d[i] = valid && p.dfinal_state ? p.dfinal_state[bh * PN + e + i] : 0.f;
  for (int c0 = p.nc - 1; c0 >= 0; c0 -= kAhead) {
    float loc[kAhead][V], sn[kAhead][V], ea[kAhead];
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 - j, cc = c >= 0 ? c : 0;
      vload<V>(dSb + (int64_t)cc * PN + ec, loc[j]);
      vload<V>(Pb + (int64_t)(cc + 1) * sp + te, sn[j]);  // this thread's own stores
      ea[j] = __expf(aend[(int64_t)cc * kQ]);
    }
    if constexpr (!kF32) __syncthreads();  // the block's loads of dS_loc before its stores over them
    float part[kAhead];
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 - j;
      part[j] = 0.f;
      if (valid && c >= 0) {
#pragma unroll
        for (int i = 0; i < V; ++i) part[j] += d[i] * sn[j][i];
        vstore<V>(dPb + (int64_t)(c + 1) * sp + te, d);
#pragma unroll
        for (int i = 0; i < V; ++i) d[i] = ea[j] * d[i] + loc[j][i];
      }
    }
    // The kAhead block sums at once (two barriers instead of two per chunk), each in a fixed order.
#pragma unroll
    for (int j = 0; j < kAhead; ++j)
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) part[j] += __shfl_xor_sync(0xffffffffu, part[j], o);
    __syncthreads();  // red may still be read from the previous chunks
    if ((threadIdx.x & 31) == 0)
#pragma unroll
      for (int j = 0; j < kAhead; ++j) red[j * kWarps + (threadIdx.x >> 5)] = part[j];
    __syncthreads();
    if (threadIdx.x < kAhead && c0 - (int)threadIdx.x >= 0) {
      float sum = 0.f;
      for (int w = 0; w < kWarps; ++w) sum += red[threadIdx.x * kWarps + w];
      p.dAend[(bh * p.nc + c0 - (int)threadIdx.x) * p.pass_split + split] = sum;
    }
  }
  if (valid && p.dinitial_state && p.initial_state)
#pragma unroll
    for (int i = 0; i < V; ++i) p.dinitial_state[bh * PN + e + i] = d[i];
}

// Loads the chunk's dt and acum of head bh from scratch, with exp(acum) and exp(aend - acum).
__device__ __forceinline__ void load_chunk_vectors(const SsdParams& p, int64_t bh, int64_t t0, float* s_dtv,
                                                   float* s_acum, float* s_e, float* s_ew) {
  if (threadIdx.x < kQ) {
    const int i = threadIdx.x;
    const int64_t o = bh * p.Lp() + t0;
    const float a = p.acum[o + i];
    s_dtv[i] = p.dtv[o + i];
    s_acum[i] = a;
    s_e[i] = __expf(a);
    if (s_ew) s_ew[i] = __expf(p.acum[o + kQ - 1] - a);
  }
}

// C.B^T of the chunk (rows q, columns s) into `out`, for group g.
template <typename T, typename Acc, typename E>
__device__ __forceinline__ void chunk_cb(const SsdParams& p, int b, int g, int64_t t0, E* ta, E* tb, float* out) {
  Acc acc;
  acc.zero();
  const View<T> Cv(p.C, p.C_s, b, g, p.length, p.state), Bv(p.B, p.B_s, b, g, p.length, p.state);
  for (int n0 = 0; n0 < p.state; n0 += kQ) {
    fill_pair<false, false>(ta, Cv, t0, n0, nullptr, tb, Bv, t0, n0, nullptr);
    __syncthreads();
    acc.mm(ta, tb);
    __syncthreads();
  }
  acc.store(out);
  __syncthreads();
}

// C.B^T of chunk c for group g into p.CB, once for all the group's heads. Block (b, c, g), g fastest.
template <typename T, typename Acc>
__global__ void __launch_bounds__(kSsdThreads) chunk_cb_kernel(const SsdParams p) {
  using E = typename Acc::Op;
  extern __shared__ __align__(128) float smem[];
  float* tout = smem;
  E* ta = op_tile<E>(smem, 1, 0);
  E* tb = op_tile<E>(smem, 1, 1);
  const int64_t i = blockIdx.x;
  const int g = (int)(i % p.groups);
  const int c = (int)((i / p.groups) % p.nc);
  const int b = (int)(i / ((int64_t)p.groups * p.nc));
  chunk_cb<T, Acc>(p, b, g, (int64_t)c * kQ, ta, tb, tout);
  float* out = p.CB + i * kQ * kQ;
  for_tile([&](int q, int s) { out[q * kQ + s] = tout[q * kSsdLd + s]; });
}

__device__ __forceinline__ const float* chunk_cb_of(const SsdParams& p, int b, int c, int g) {
  return p.CB + (((int64_t)b * p.nc + c) * p.groups + g) * kQ * kQ;
}

// y of chunk c, head h: the start state's contribution through C plus the causal intra-chunk product. St: the
// type of the stored states (state_slot).
template <typename T, typename Acc, typename St>
__global__ void __launch_bounds__(kSsdThreads, 3) chunk_scan_kernel(const SsdParams p) {
  // With 16-bit operands (mamba_ssm's chunk scan does the same): C exp(acum) and the state S rounded to E, and
  // L = C.B^T decay dt rounded to E; x is exact. S stored in E (St == E) was rounded to nearest by the state
  // passing, as to_op rounds an fp32 S here: the same operand either way.
  using E = typename Acc::Op;
  extern __shared__ __align__(128) float smem[];
  float* tout = smem;
  E* ta = op_tile<E>(smem, 1, 0);
  E* tb = op_tile<E>(smem, 1, 1);
  E* tL = op_tile<E>(smem, 1, 2);
  __shared__ float s_dtv[kQ], s_acum[kQ], s_e[kQ];
  const ChunkHead k(p);
  const int P = p.head_dim, N = p.state;
  load_chunk_vectors(p, k.bh, k.t0, s_dtv, s_acum, s_e, nullptr);
  __syncthreads();
  // tL[s][q] = (C_q.B_s) exp(acum_q - acum_s) dt_s for s <= q: the K-major operand of y_diag = L x.
  {
    const float* cb = chunk_cb_of(p, k.b, k.c, k.g);
    float v[kPerThread];  // all loads first: one latency
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) v[r] = cb[threadIdx.x + r * kSsdThreads];
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int i = threadIdx.x + r * kSsdThreads, q = i >> 6, s = i & (kQ - 1);
      const float l = v[r] * __expf(s_acum[q] - s_acum[s]) * s_dtv[s];
      tL[s * kLd<E> + q] = to_op<E>(s <= q ? l : 0.f);
    }
  }
  __syncthreads();
  const bool has_state = k.c > 0 || p.initial_state;
  const float Dh = p.D ? p.D[k.h] : 0.f;
  const View<T> Cv(p.C, p.C_s, k.b, k.g, p.length, N), Xv(p.x, p.x_s, k.b, k.h, p.length, P);
  const View<St> Sv(state_slot<St>(p, p.S, k.bh, k.c), P, N, state_pitch<St>(p));
  for (int p0 = 0; p0 < P; p0 += kQ) {
    Acc acc;
    acc.zero();
    if (has_state)
      for (int n0 = 0; n0 < N; n0 += kQ) {
        fill_pair<false, false>(ta, Cv, k.t0, n0, s_e, tb, Sv, p0, n0, nullptr);
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
    fill_rows<true>(tb, Xv, k.t0, p0, nullptr);
    __syncthreads();
    acc.mm(tL, tb);
    acc.store(tout);
    __syncthreads();
    for_tile([&](int q, int pp) {
      const int64_t t = k.t0 + q;
      if (t < p.length && p0 + pp < P) {
        const float xv = to_f(tb[q * kLd<E> + pp]);
        T* y = static_cast<T*>(p.y) + k.b * p.y_s[0] + t * p.y_s[1] + k.h * p.y_s[2] + (p0 + pp) * p.y_s[3];
        store_f(y, tout[q * kSsdLd + pp] + Dh * xv);
      }
    });
    __syncthreads();
  }
}

// Backward of chunk c for the heads [h_begin, h_end) of group g (see the file comment). Writes dx, ddt,
// the fp32 dB and dC accumulators, and per-chunk partial sums of dA, dD and ddt_bias.
// With 16-bit operands (MmaAcc), the operands computed in fp32 are rounded to the input dtype as mamba_ssm's
// backward kernels do before their tl.dot: Lp = C.B^T decay (its dx kernel's cb), G1 (its dC.B^T, multiplied
// in the input dtype by its bmm backward), the states S and dS, and the per-step scaled B, x and dy. The fp32
// tiles keep C.B^T (for the row sums of M) and every product's output. St is the type of the stored S and dS
// (state_slot): fp32, or E itself, rounded to nearest by the state passing as to_op rounds fp32 ones (same
// operands).
template <typename T, typename Acc, typename St>
__global__ void __launch_bounds__(kSsdThreads, Acc::kMinBlocks) chunk_bwd_kernel(const SsdParams p) {
  using E = typename Acc::Op;
  constexpr int LE = kLd<E>;
  extern __shared__ __align__(128) float smem[];
  float* tout = smem;
  float* tCB = smem + kTileFloats;  // C_q.B_s            [q][s]
  E* ta = op_tile<E>(smem, 2, 0);
  E* tb = op_tile<E>(smem, 2, 1);
  E* tLp = op_tile<E>(smem, 2, 2);  // C_q.B_s decay(q,s) [q][s]; later G1 transposed [s][q]
  E* tG1 = op_tile<E>(smem, 2, 3);  // dy_q.x_s decay(q,s) dt_s [q][s]
  __shared__ float s_dtv[kQ], s_acum[kQ], s_e[kQ], s_ew[kQ], s_rowM[kQ], s_rowZ[kQ], s_rowC[kQ], s_dac[kQ], s_xw[kQ];
  __shared__ float red[kSsdThreads / 32];
  int64_t i = blockIdx.x;
  const int split = (int)(i % p.head_splits);
  i /= p.head_splits;
  const int g = (int)(i % p.groups);
  i /= p.groups;
  const int c = (int)(i % p.nc);
  const int b = (int)(i / p.nc);
  const int64_t t0 = (int64_t)c * kQ;
  const int hps = (p.heads_per_group + p.head_splits - 1) / p.head_splits;
  const int h_begin = g * p.heads_per_group + split * hps;
  const int h_end = min(h_begin + hps, (g + 1) * p.heads_per_group);
  const int P = p.head_dim, N = p.state;
  const int64_t Lp = p.Lp();
  const bool atomic = p.head_splits > 1;

  {
    const float* cb = chunk_cb_of(p, b, c, g);
    float v[kPerThread];  // all loads first: one latency
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) v[r] = cb[threadIdx.x + r * kSsdThreads];
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int i = threadIdx.x + r * kSsdThreads;
      tCB[(i >> 6) * kSsdLd + (i & (kQ - 1))] = v[r];
    }
  }
  auto Bv = [&] { return View<T>(p.B, p.B_s, b, g, p.length, N); };
  auto Cv = [&] { return View<T>(p.C, p.C_s, b, g, p.length, N); };
  for (int h = h_begin; h < h_end; ++h) {
    const int64_t bh = (int64_t)b * p.heads + h;
    const St* Sc = state_slot<St>(p, p.S, bh, c);        // state at the chunk's start
    const St* dSn = state_slot<St>(p, p.dS, bh, c + 1);  // gradient of the state at its end
    load_chunk_vectors(p, bh, t0, s_dtv, s_acum, s_e, s_ew);
    if (threadIdx.x < kQ) {  // the thread that wrote s_dtv[i] and s_ew[i]
      s_xw[threadIdx.x] = s_dtv[threadIdx.x] * s_ew[threadIdx.x];
      s_rowZ[threadIdx.x] = s_rowC[threadIdx.x] = 0.f;
    }
    __syncthreads();
    // Views built where used (cheap from the kernel's parameters): kept live over the head they cost registers.
    auto Xv = [&] { return View<T>(p.x, p.x_s, b, h, p.length, P); };
    auto DYv = [&] { return View<T>(p.dy, p.dy_s, b, h, p.length, P); };
    auto Sv = [&] { return View<St>(Sc, P, N, state_pitch<St>(p)); };
    auto dSv = [&] { return View<St>(dSn, P, N, state_pitch<St>(p)); };

    // DX[q][s] = dy_q . x_s, then G1 = DX decay dt_s, Lp = CB decay and the row sums of M = CB G1.
    {
      Acc acc;
      acc.zero();
      for (int p0 = 0; p0 < P; p0 += kQ) {
        fill_pair<false, false>(ta, DYv(), t0, p0, nullptr,
                                tb, Xv(), t0, p0, nullptr);
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
      acc.store(tout);
      __syncthreads();
    }
    for_tile([&](int q, int s) {
      const float dec = s <= q ? __expf(s_acum[q] - s_acum[s]) : 0.f;
      const float g1 = tout[q * kSsdLd + s] * dec * s_dtv[s];
      const float cb = tCB[q * kSsdLd + s];
      tG1[q * LE + s] = to_op<E>(g1);
      tLp[q * LE + s] = to_op<E>(cb * dec);
      tout[q * kSsdLd + s] = cb * g1;
    });
    __syncthreads();
    {
      const float m = row_sum([&](int q, int s) { return tout[q * kSsdLd + s]; });
      if ((threadIdx.x & 3) == 0) s_rowM[threadIdx.x >> 2] = m;
    }

    // Z[s][p] = sum_q Lp[q][s] dy_q,p + exp(aend - acum_s) sum_n B_s,n dS[p][n]; dx = dt_s Z + D dy.
    const float Dh = p.D ? p.D[h] : 0.f;
    float dD_sum = 0.f;
    for (int p0 = 0; p0 < P; p0 += kQ) {
      Acc acc;
      acc.zero();
      for (int n0 = 0; n0 < N; n0 += kQ) {
        fill_pair<false, false>(ta, Bv(), t0, n0, s_ew,
                                tb, dSv(), p0, n0, nullptr);
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
      // dy (operand) and x (for the epilogue; exact in E) as [s][p] tiles, so the epilogue reads both from
      // shared memory. ta's last reader (the product above the fill) passed a barrier since.
      fill_pair<true, true>(tb, DYv(), t0, p0, nullptr,
                            ta, Xv(), t0, p0, nullptr);
      __syncthreads();
      acc.mm(tLp, tb);
      acc.store(tout);  // tout's last readers (the row sums) passed the barriers of the products above
      __syncthreads();
      for_tile([&](int s, int pp) {
        const int64_t t = t0 + s;
        const bool valid = t < p.length && p0 + pp < P;
        const float z = tout[s * kSsdLd + pp], xv = to_f(ta[s * LE + pp]), dyv = to_f(tb[s * LE + pp]);
        if (valid) {
          T* dx = static_cast<T*>(p.dx) + b * p.dx_s[0] + t * p.dx_s[1] + h * p.dx_s[2] + (p0 + pp) * p.dx_s[3];
          store_f(dx, s_dtv[s] * z + Dh * dyv);
        }
        dD_sum += valid ? dyv * xv : 0.f;
        tout[s * kSsdLd + pp] = valid ? xv * z : 0.f;
      });
      __syncthreads();
      const float r = row_sum([&](int s, int pp) { return tout[s * kSsdLd + pp]; });
      if ((threadIdx.x & 3) == 0) s_rowZ[threadIdx.x >> 2] += r;
    }
    __syncthreads();
    // Lp is done: its tile takes G1 transposed, the K-major operand of dC's intra-chunk part.
    for_tile([&](int q, int s) { tLp[s * LE + q] = tG1[q * LE + s]; });
    __syncthreads();

    // Adds a finished (rows t, columns n) tile to the fp32 dB or dC accumulator of the group. Without atomics,
    // a batch of old values is loaded (unconditionally, columns clamped) before any is written back.
    auto accumulate = [&](float* dst, int n0) {
      float* base = dst + (((int64_t)b * Lp + t0) * p.groups + g) * N + n0;
      const int64_t rs = (int64_t)p.groups * N;
      const int ncol = N - n0;
      if (atomic || h == h_begin) {
        for_tile([&](int s, int nn) {
          if (nn >= ncol) return;
          const float v = tout[s * kSsdLd + nn];
          if (atomic) atomicAdd(base + s * rs + nn, v);
          else base[s * rs + nn] = v;
        });
        return;
      }
#pragma unroll 1
      for (int r0 = 0; r0 < kPerThread; r0 += kFillBatch) {
        float old[kFillBatch];
#pragma unroll
        for (int r = 0; r < kFillBatch; ++r) {
          const int i = threadIdx.x + (r0 + r) * kSsdThreads, s = i >> 6, nn = i & (kQ - 1);
          old[r] = base[s * rs + (nn < ncol ? nn : ncol - 1)];
        }
#pragma unroll
        for (int r = 0; r < kFillBatch; ++r) {
          const int i = threadIdx.x + (r0 + r) * kSsdThreads, s = i >> 6, nn = i & (kQ - 1);
          if (nn < ncol) base[s * rs + nn] = old[r] + tout[s * kSsdLd + nn];
        }
      }
    };
    // dB[s][n] = sum_q G1[q][s] C_q,n + dt_s exp(aend - acum_s) sum_p x_s,p dS[p][n].
    for (int n0 = 0; n0 < N; n0 += kQ) {
      Acc acc;
      acc.zero();
      fill_rows<true>(tb, Cv(), t0, n0, nullptr);
      __syncthreads();
      acc.mm(tG1, tb);
      __syncthreads();
      for (int p0 = 0; p0 < P; p0 += kQ) {
        fill_pair<false, true>(ta, Xv(), t0, p0, s_xw,
                               tb, dSv(), p0, n0, nullptr);
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
      acc.store(tout);
      __syncthreads();
      accumulate(p.dBacc, n0);
      __syncthreads();
    }
    // dC[q][n] = exp(acum_q) sum_p dy_q,p S[p][n] + sum_s G1[q][s] B_s,n; the first part dotted with C_q
    // is dy_q . y_off_q, a term of dacum_q.
    for (int n0 = 0; n0 < N; n0 += kQ) {
      Acc acc;
      acc.zero();
      for (int p0 = 0; p0 < P; p0 += kQ) {
        fill_pair<false, true>(ta, DYv(), t0, p0, s_e,
                               tb, Sv(), p0, n0, nullptr);
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
      acc.store(tout);
      __syncthreads();
      {
        const float r = row_sum([&](int q, int nn) { return Cv()(t0 + q, n0 + nn, tout[q * kSsdLd + nn]); });
        if ((threadIdx.x & 3) == 0) s_rowC[threadIdx.x >> 2] += r;
      }
      fill_rows<true>(tb, Bv(), t0, n0, nullptr);
      __syncthreads();
      acc.mm(tLp, tb);
      acc.store(tout);
      __syncthreads();
      accumulate(p.dCacc, n0);
      __syncthreads();
    }

    // dacum, its reverse cumulative sum d(dt A), then ddt and the per-chunk parameter sums.
    const float dD_part = block_sum(dD_sum, red);
    if (threadIdx.x < kQ) {
      const int j = threadIdx.x;
      float dac = s_rowC[j] + s_rowM[j] - s_dtv[j] * s_rowZ[j];
      if (j == kQ - 1)
#pragma unroll 8  // independent loads, added in order
        for (int k = 0; k < p.pass_split; ++k) dac += p.dAend[(bh * p.nc + c) * p.pass_split + k];
      s_dac[j] = dac;
    }
    __syncthreads();
    float dA_j = 0.f, dbias_j = 0.f;
    if (threadIdx.x < kQ) {
      const int j = threadIdx.x;
      float run = 0.f;
      for (int q = kQ - 1; q >= j; --q) run += s_dac[q];
      const float ddtv = s_rowZ[j] + run * p.A[h];
      dA_j = run * s_dtv[j];
      const int64_t t = t0 + j;
      if (t < p.length) {
        const float gin = ddtv * dt_value<T>(p, b, t, h).y;
        store_f(static_cast<T*>(p.ddt) + b * p.ddt_s[0] + t * p.ddt_s[1] + h * p.ddt_s[2], gin);
        dbias_j = gin;
      }
    }
    const float dA_part = block_sum(dA_j, red);
    const float dbias_part = block_sum(dbias_j, red);
    if (threadIdx.x == 0) {
      float* out = p.part + (((int64_t)b * p.nc + c) * p.heads + h) * 3;
      out[0] = dA_part;
      out[1] = dD_part;
      out[2] = dbias_part;
    }
    __syncthreads();
  }
}

// dA, dD and ddt_bias of head blockIdx.x: the per-chunk partial sums in a fixed order.
__global__ void __launch_bounds__(kSsdThreads) param_grads_kernel(const SsdParams p) {
  __shared__ float red[kSsdThreads / 32];
  const int h = blockIdx.x;
  float s[3] = {0.f, 0.f, 0.f};
  const int64_t n = (int64_t)p.batch * p.nc;
  for (int64_t j = threadIdx.x; j < n; j += kSsdThreads)
    for (int k = 0; k < 3; ++k) s[k] += p.part[(j * p.heads + h) * 3 + k];
  const float dA = block_sum(s[0], red);
  const float dD = block_sum(s[1], red);
  const float db = block_sum(s[2], red);
  if (threadIdx.x == 0) {
    p.dA[h] = dA;
    if (p.dD) p.dD[h] = dD;
    if (p.ddt_bias) p.ddt_bias[h] = db;
  }
}

// dB and dC from their fp32 accumulators into the caller's dtype and strides.
template <typename T>
__global__ void bc_grads_kernel(const SsdParams p) {
  const int64_t n = (int64_t)p.batch * p.length * p.groups * p.state, Lp = p.Lp();
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int nn = (int)(i % p.state);
    int64_t r = i / p.state;
    const int g = (int)(r % p.groups);
    r /= p.groups;
    const int64_t t = r % p.length, b = r / p.length;
    const int64_t src = ((b * Lp + t) * p.groups + g) * p.state + nn;
    store_f(static_cast<T*>(p.dB) + b * p.dB_s[0] + t * p.dB_s[1] + g * p.dB_s[2] + nn * p.dB_s[3], p.dBacc[src]);
    store_f(static_cast<T*>(p.dC) + b * p.dC_s[0] + t * p.dC_s[1] + g * p.dC_s[2] + nn * p.dC_s[3], p.dCacc[src]);
  }
}

}  // namespace mamba::cuda::ssd
