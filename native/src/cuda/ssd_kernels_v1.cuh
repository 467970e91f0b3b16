// The first version of the chunked SSD kernels (commit 14e5def), kept unchanged and selectable with the
// environment variable MAMBA_SSD_KERNELS=v1 (ssd_api.cu): a baseline measured in the same run as the current
// kernels, and a fallback. Tile helpers (ssd_tile.cuh of that commit) and kernels (ssd_kernels.cuh) in one file,
// in namespace v1; SsdParams is shared (same 64-step chunks), so the functions that take it carry a v1_
// prefix (argument-dependent lookup would also find the current ones).
#pragma once
#include <cuda_runtime.h>
#include <mma.h>
#include "dtype.cuh"
#include "scan_math.cuh"
#include "ssd_params.cuh"

namespace mamba::cuda::ssd::v1 {


constexpr int kQ = 64;          // chunk length and tile edge
constexpr int kSsdLd = 68;      // tile row pitch in floats: 16-byte rows for float4 and wmma, fewer bank conflicts
constexpr int kTileFloats = kQ * kSsdLd;
constexpr int kSsdThreads = 256;

// fp32 FMA: thread (ty, tx) = (tid / 16, tid % 16) owns rows 4 ty..4 ty+3 and columns 4 tx..4 tx+3.
struct SimtAcc {
  static constexpr int kMinBlocks = 1;  // minimum resident blocks per SM asked of the register allocator
  float v[4][4];
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) v[i][j] = 0.f;
  }
  __device__ __forceinline__ void mm(const float* A, const float* B) {
    const int ty = threadIdx.x >> 4, tx = threadIdx.x & 15;
#pragma unroll 8
    for (int k = 0; k < kQ; ++k) {
      const float4 a = *reinterpret_cast<const float4*>(A + k * kSsdLd + 4 * ty);
      const float4 b = *reinterpret_cast<const float4*>(B + k * kSsdLd + 4 * tx);
      const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) v[i][j] = fmaf(av[i], bv[j], v[i][j]);
    }
  }
  __device__ __forceinline__ void store(float* out) const {
    const int ty = threadIdx.x >> 4, tx = threadIdx.x & 15;
#pragma unroll
    for (int i = 0; i < 4; ++i)
      *reinterpret_cast<float4*>(out + (4 * ty + i) * kSsdLd + 4 * tx) = make_float4(v[i][0], v[i][1], v[i][2], v[i][3]);
  }
};

// Tensor cores: warp w owns output rows 16 (w / 2).. and columns 32 (w % 2)..+31 (two fragments), wmma
// m16n16k8 TF32 with fp32 accumulation. TF32 keeps 10 mantissa bits: exact for bf16 operands, about 5e-4
// relative for fp32 ones. Split = true is "3xTF32": each operand is split into a TF32 part and a TF32 remainder
// and the product is hi*hi + hi*lo + lo*hi, three tensor-core products for about fp32 accuracy.
template <bool Split>
struct TcAccT {
  static constexpr int kMinBlocks = 2;
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float> f[2];
  __device__ __forceinline__ void zero() {
    nvcuda::wmma::fill_fragment(f[0], 0.f);
    nvcuda::wmma::fill_fragment(f[1], 0.f);
  }
  template <typename Frag>
  __device__ __forceinline__ static void split(Frag& hi, Frag& lo) {
#pragma unroll
    for (int i = 0; i < hi.num_elements; ++i) {
      const float v = hi.x[i];
      hi.x[i] = nvcuda::wmma::__float_to_tf32(v);
      if (Split) lo.x[i] = nvcuda::wmma::__float_to_tf32(v - hi.x[i]);
    }
  }
  __device__ __forceinline__ void mm(const float* A, const float* B) {
    using namespace nvcuda::wmma;
    const int w = threadIdx.x >> 5, m0 = 16 * (w >> 1), n0 = 32 * (w & 1);
#pragma unroll 2
    for (int k = 0; k < kQ; k += 8) {
      fragment<matrix_a, 16, 16, 8, precision::tf32, col_major> a, a_lo;
      fragment<matrix_b, 16, 16, 8, precision::tf32, row_major> b0, b1, b0_lo, b1_lo;
      load_matrix_sync(a, A + k * kSsdLd + m0, kSsdLd);
      load_matrix_sync(b0, B + k * kSsdLd + n0, kSsdLd);
      load_matrix_sync(b1, B + k * kSsdLd + n0 + 16, kSsdLd);
      split(a, a_lo);
      split(b0, b0_lo);
      split(b1, b1_lo);
      if (Split) {  // the small terms first
        mma_sync(f[0], a_lo, b0, f[0]);
        mma_sync(f[0], a, b0_lo, f[0]);
        mma_sync(f[1], a_lo, b1, f[1]);
        mma_sync(f[1], a, b1_lo, f[1]);
      }
      mma_sync(f[0], a, b0, f[0]);
      mma_sync(f[1], a, b1, f[1]);
    }
  }
  __device__ __forceinline__ void store(float* out) const {
    using namespace nvcuda::wmma;
    const int w = threadIdx.x >> 5, m0 = 16 * (w >> 1), n0 = 32 * (w & 1);
    store_matrix_sync(out + m0 * kSsdLd + n0, f[0], kSsdLd, mem_row_major);
    store_matrix_sync(out + m0 * kSsdLd + n0 + 16, f[1], kSsdLd, mem_row_major);
  }
};
using TcAcc = TcAccT<false>;
using Tc3Acc = TcAccT<true>;

// Elements of a 64x64 tile per thread.
constexpr int kPerThread = kQ * kQ / kSsdThreads;

// Fills a K-major tile: tile[k][m] = f(k, m) for k, m < 64. KFast walks k fastest (for sources contiguous
// along k, so global reads coalesce); otherwise m fastest. Loads go out in batches of kFillBatch before their
// stores, so a fill costs about two memory latencies rather than one per element (larger batches spill).
constexpr int kFillBatch = 8;
template <bool KFast, typename F>
__device__ __forceinline__ void fill_tile(float* tile, F&& f) {
#pragma unroll 1
  for (int r0 = 0; r0 < kPerThread; r0 += kFillBatch) {
    float v[kFillBatch];
#pragma unroll
    for (int r = 0; r < kFillBatch; ++r) {
      const int i = threadIdx.x + (r0 + r) * kSsdThreads;
      v[r] = KFast ? f(i & (kQ - 1), i >> 6) : f(i >> 6, i & (kQ - 1));
    }
#pragma unroll
    for (int r = 0; r < kFillBatch; ++r) {
      const int i = threadIdx.x + (r0 + r) * kSsdThreads;
      const int k = KFast ? (i & (kQ - 1)) : (i >> 6), m = KFast ? (i >> 6) : (i & (kQ - 1));
      tile[k * kSsdLd + m] = v[r];
    }
  }
}

// Calls f(row, col) for this thread's elements of a 64x64 tile, rows outer (partly unrolled: loads overlap).
template <typename F>
__device__ __forceinline__ void for_tile(F&& f) {
#pragma unroll 4
  for (int r = 0; r < kPerThread; ++r) {
    const int i = threadIdx.x + r * kSsdThreads;
    f(i >> 6, i & (kQ - 1));
  }
}

// Row sums of g(row, col) over the 64 columns, four threads per row in a fixed order; the total of row q
// is returned by thread 4 q (other threads return partial values). Every thread must call it.
template <typename G>
__device__ __forceinline__ float row_sum(G&& g) {
  const int q = threadIdx.x >> 2, part = threadIdx.x & 3;
  float v[kQ / 4];
#pragma unroll
  for (int j = 0; j < kQ / 4; ++j) v[j] = g(q, part * (kQ / 4) + j);
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < kQ / 4; ++j) s += v[j];
  s += __shfl_xor_sync(0xffffffffu, s, 1);
  s += __shfl_xor_sync(0xffffffffu, s, 2);
  return s;
}

// Sum over the block in a fixed order (bitwise reproducible); `red` holds kSsdThreads / 32 floats. The result
// is valid in thread 0 only. Every thread must call it.
__device__ __forceinline__ float block_sum(float v, float* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // red may still be read from the previous call
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  float s = 0.f;
  if (threadIdx.x == 0)
    for (int w = 0; w < kSsdThreads / 32; ++w) s += red[w];
  return s;
}


// ---- kernels ----


template <typename T>
__device__ __forceinline__ float ld4(const void* base, const int64_t* s, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
  return load_f(static_cast<const T*>(base) + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3]);
}

// (dt, d dt / d dt_in) after bias, softplus and clamp; the derivative is 0 where the clamp holds.
template <typename T>
__device__ __forceinline__ float2 v1_dt_value(const SsdParams& p, int b, int64_t t, int h) {
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

// dt and acum of the chunk into scratch; the local chunk state into S[c + 1]; for the backward also
// dS_loc[c] = sum_q exp(acum_q) dy_q^T C_q (the chunk's own contribution to dS[c]) into dS[c].
template <typename T, typename Acc>
__global__ void __launch_bounds__(kSsdThreads) chunk_state_kernel(const SsdParams p, const bool backward) {
  extern __shared__ __align__(128) float smem[];
  float* ta = smem;
  float* tb = ta + kTileFloats;
  float* tout = tb + kTileFloats;
  __shared__ float s_dtv[kQ], s_acum[kQ], s_w[kQ], s_e[kQ];
  const ChunkHead k(p);
  const int P = p.head_dim, N = p.state;
  const int64_t Lp = p.Lp(), PN = p.PN();
  if (threadIdx.x < kQ) {
    const int64_t t = k.t0 + threadIdx.x;
    s_dtv[threadIdx.x] = t < p.length ? v1_dt_value<T>(p, k.b, t, k.h).x : 0.f;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const float a = p.A[k.h];
    float s = 0.f;
    for (int i = 0; i < kQ; ++i) {
      s += s_dtv[i] * a;
      s_acum[i] = s;
    }
  }
  __syncthreads();
  if (threadIdx.x < kQ) {
    const int i = threadIdx.x;
    p.dtv[k.bh * Lp + k.t0 + i] = s_dtv[i];
    p.acum[k.bh * Lp + k.t0 + i] = s_acum[i];
    s_w[i] = s_dtv[i] * __expf(s_acum[kQ - 1] - s_acum[i]);
    s_e[i] = __expf(s_acum[i]);
  }
  __syncthreads();
  for (int p0 = 0; p0 < P; p0 += kQ)
    for (int n0 = 0; n0 < N; n0 += kQ)
      for (int pass = 0; pass < (backward ? 2 : 1); ++pass) {
        const void* xs = pass == 0 ? p.x : p.dy;
        const int64_t* xst = pass == 0 ? p.x_s : p.dy_s;
        const void* bs = pass == 0 ? p.B : p.C;
        const int64_t* bst = pass == 0 ? p.B_s : p.C_s;
        const float* wt = pass == 0 ? s_w : s_e;
        fill_tile<false>(ta, [&](int s, int pp) {
          const int64_t t = k.t0 + s;
          return t < p.length && p0 + pp < P ? ld4<T>(xs, xst, k.b, t, k.h, p0 + pp) * wt[s] : 0.f;
        });
        fill_tile<false>(tb, [&](int s, int nn) {
          const int64_t t = k.t0 + s;
          return t < p.length && n0 + nn < N ? ld4<T>(bs, bst, k.b, t, k.g, n0 + nn) : 0.f;
        });
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

// One thread per state element of (b, h): S[0] = initial state, S[c+1] = exp(aend_c) S[c] + S_loc[c] in place.
// Backward also runs the gradient in reverse: dS[nc] = dfinal, dS[c] = exp(aend_c) dS[c+1] + dS_loc[c], and
// writes each chunk's partial sum of dS[c+1] . S[c+1] (the gradient of aend_c through the state) to dAend.
__global__ void __launch_bounds__(kSsdThreads) state_pass_kernel(const SsdParams p, const bool backward) {
  __shared__ float red[kSsdThreads / 32];
  const int split = (int)(blockIdx.x % p.pass_split);
  const int64_t bh = blockIdx.x / p.pass_split;
  const int64_t PN = p.PN(), Lp = p.Lp();
  const int64_t e = (int64_t)split * kSsdThreads + threadIdx.x;
  const bool valid = e < PN;
  float* Sb = p.S + bh * (p.nc + 1) * PN;
  const float* aend = p.acum + bh * Lp + kQ - 1;  // aend of chunk c at aend[c * kQ]
  float s = valid && p.initial_state ? p.initial_state[bh * PN + e] : 0.f;
  if (valid) Sb[e] = s;
  // Loads kAhead chunks ahead of the dependent chain: the chain is one FMA per chunk, the loads are the cost.
  constexpr int kAhead = 8;
  for (int c0 = 0; c0 < p.nc; c0 += kAhead) {
    float loc[kAhead], ea[kAhead];
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 + j;
      loc[j] = valid && c < p.nc ? Sb[(int64_t)(c + 1) * PN + e] : 0.f;
      ea[j] = c < p.nc ? __expf(aend[(int64_t)c * kQ]) : 0.f;
    }
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 + j;
      if (valid && c < p.nc) {
        s = ea[j] * s + loc[j];
        Sb[(int64_t)(c + 1) * PN + e] = s;
      }
    }
  }
  if (!backward) {
    if (valid && p.final_state) p.final_state[bh * PN + e] = s;
    return;
  }
  float* dSb = p.dS + bh * (p.nc + 1) * PN;
  float d = valid && p.dfinal_state ? p.dfinal_state[bh * PN + e] : 0.f;
  for (int c0 = p.nc - 1; c0 >= 0; c0 -= kAhead) {
    float loc[kAhead], sn[kAhead], ea[kAhead];
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 - j;
      loc[j] = valid && c >= 0 ? dSb[(int64_t)c * PN + e] : 0.f;
      sn[j] = valid && c >= 0 ? Sb[(int64_t)(c + 1) * PN + e] : 0.f;
      ea[j] = c >= 0 ? __expf(aend[(int64_t)c * kQ]) : 0.f;
    }
#pragma unroll
    for (int j = 0; j < kAhead; ++j) {
      const int c = c0 - j;
      if (c < 0) break;  // uniform over the block
      const float part = block_sum(d * sn[j], red);
      if (threadIdx.x == 0) p.dAend[(bh * p.nc + c) * p.pass_split + split] = part;
      if (valid) {
        dSb[(int64_t)(c + 1) * PN + e] = d;
        d = ea[j] * d + loc[j];
      }
    }
  }
  if (valid && p.dinitial_state && p.initial_state) p.dinitial_state[bh * PN + e] = d;
}

// Loads the chunk's dt and acum of head bh from scratch, with exp(acum) and exp(aend - acum).
__device__ __forceinline__ void v1_load_chunk_vectors(const SsdParams& p, int64_t bh, int64_t t0, float* s_dtv,
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
template <typename T, typename Acc>
__device__ __forceinline__ void v1_chunk_cb(const SsdParams& p, int b, int g, int64_t t0, float* ta, float* tb, float* out) {
  Acc acc;
  acc.zero();
  for (int n0 = 0; n0 < p.state; n0 += kQ) {
    fill_tile<true>(ta, [&](int nn, int q) {
      const int64_t t = t0 + q;
      return t < p.length && n0 + nn < p.state ? ld4<T>(p.C, p.C_s, b, t, g, n0 + nn) : 0.f;
    });
    fill_tile<true>(tb, [&](int nn, int s) {
      const int64_t t = t0 + s;
      return t < p.length && n0 + nn < p.state ? ld4<T>(p.B, p.B_s, b, t, g, n0 + nn) : 0.f;
    });
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
  extern __shared__ __align__(128) float smem[];
  float* ta = smem;
  float* tb = ta + kTileFloats;
  float* tout = tb + kTileFloats;
  const int64_t i = blockIdx.x;
  const int g = (int)(i % p.groups);
  const int c = (int)((i / p.groups) % p.nc);
  const int b = (int)(i / ((int64_t)p.groups * p.nc));
  v1_chunk_cb<T, Acc>(p, b, g, (int64_t)c * kQ, ta, tb, tout);
  float* out = p.CB + i * kQ * kQ;
  for_tile([&](int q, int s) { out[q * kQ + s] = tout[q * kSsdLd + s]; });
}

__device__ __forceinline__ const float* v1_chunk_cb_of(const SsdParams& p, int b, int c, int g) {
  return p.CB + (((int64_t)b * p.nc + c) * p.groups + g) * kQ * kQ;
}

// y of chunk c, head h: the start state's contribution through C plus the causal intra-chunk product.
template <typename T, typename Acc>
__global__ void __launch_bounds__(kSsdThreads) chunk_scan_kernel(const SsdParams p) {
  extern __shared__ __align__(128) float smem[];
  float* ta = smem;
  float* tb = ta + kTileFloats;
  float* tout = tb + kTileFloats;
  float* tL = tout + kTileFloats;
  __shared__ float s_dtv[kQ], s_acum[kQ], s_e[kQ];
  const ChunkHead k(p);
  const int P = p.head_dim, N = p.state;
  const int64_t PN = p.PN();
  v1_load_chunk_vectors(p, k.bh, k.t0, s_dtv, s_acum, s_e, nullptr);
  __syncthreads();
  // tL[s][q] = (C_q.B_s) exp(acum_q - acum_s) dt_s for s <= q: the K-major operand of y_diag = L x.
  const float* cb = v1_chunk_cb_of(p, k.b, k.c, k.g);
  for_tile([&](int q, int s) {
    tL[s * kSsdLd + q] = s <= q ? cb[q * kQ + s] * __expf(s_acum[q] - s_acum[s]) * s_dtv[s] : 0.f;
  });
  __syncthreads();
  const bool has_state = k.c > 0 || p.initial_state;
  const float* Sc = p.S + (k.bh * (p.nc + 1) + k.c) * PN;
  const float Dh = p.D ? p.D[k.h] : 0.f;
  for (int p0 = 0; p0 < P; p0 += kQ) {
    Acc acc;
    acc.zero();
    if (has_state)
      for (int n0 = 0; n0 < N; n0 += kQ) {
        fill_tile<true>(ta, [&](int nn, int q) {
          const int64_t t = k.t0 + q;
          return t < p.length && n0 + nn < N ? ld4<T>(p.C, p.C_s, k.b, t, k.g, n0 + nn) * s_e[q] : 0.f;
        });
        fill_tile<true>(tb, [&](int nn, int pp) {
          return p0 + pp < P && n0 + nn < N ? Sc[(int64_t)(p0 + pp) * N + n0 + nn] : 0.f;
        });
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
    fill_tile<false>(tb, [&](int s, int pp) {
      const int64_t t = k.t0 + s;
      return t < p.length && p0 + pp < P ? ld4<T>(p.x, p.x_s, k.b, t, k.h, p0 + pp) : 0.f;
    });
    __syncthreads();
    acc.mm(tL, tb);
    acc.store(tout);
    __syncthreads();
    for_tile([&](int q, int pp) {
      const int64_t t = k.t0 + q;
      if (t < p.length && p0 + pp < P) {
        const float xv = tb[q * kSsdLd + pp];
        T* y = static_cast<T*>(p.y) + k.b * p.y_s[0] + t * p.y_s[1] + k.h * p.y_s[2] + (p0 + pp) * p.y_s[3];
        store_f(y, tout[q * kSsdLd + pp] + Dh * xv);
      }
    });
    __syncthreads();
  }
}

// Backward of chunk c for the heads [h_begin, h_end) of group g (see the file comment). Writes dx, ddt,
// the fp32 dB and dC accumulators, and per-chunk partial sums of dA, dD and ddt_bias.
template <typename T, typename Acc>
__global__ void __launch_bounds__(kSsdThreads, Acc::kMinBlocks) chunk_bwd_kernel(const SsdParams p) {
  extern __shared__ __align__(128) float smem[];
  float* ta = smem;
  float* tb = ta + kTileFloats;
  float* tout = tb + kTileFloats;
  float* tCB = tout + kTileFloats;  // C_q.B_s            [q][s]
  float* tLp = tCB + kTileFloats;   // C_q.B_s decay(q,s) [q][s]; later G1 transposed [s][q]
  float* tG1 = tLp + kTileFloats;   // dy_q.x_s decay(q,s) dt_s [q][s]
  __shared__ float s_dtv[kQ], s_acum[kQ], s_e[kQ], s_ew[kQ], s_rowM[kQ], s_rowZ[kQ], s_rowC[kQ], s_dac[kQ];
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
  const int64_t PN = p.PN(), Lp = p.Lp();
  const bool atomic = p.head_splits > 1;

  {
    const float* cb = v1_chunk_cb_of(p, b, c, g);
    for_tile([&](int q, int s) { tCB[q * kSsdLd + s] = cb[q * kQ + s]; });
  }
  for (int h = h_begin; h < h_end; ++h) {
    const int64_t bh = (int64_t)b * p.heads + h;
    const float* Sc = p.S + (bh * (p.nc + 1) + c) * PN;        // state at the chunk's start
    const float* dSn = p.dS + (bh * (p.nc + 1) + c + 1) * PN;  // gradient of the state at its end
    v1_load_chunk_vectors(p, bh, t0, s_dtv, s_acum, s_e, s_ew);
    if (threadIdx.x < kQ) s_rowZ[threadIdx.x] = s_rowC[threadIdx.x] = 0.f;
    __syncthreads();
    auto xval = [&](int s, int pp) {
      const int64_t t = t0 + s;
      return t < p.length && pp < P ? ld4<T>(p.x, p.x_s, b, t, h, pp) : 0.f;
    };
    auto dyval = [&](int q, int pp) {
      const int64_t t = t0 + q;
      return t < p.length && pp < P ? ld4<T>(p.dy, p.dy_s, b, t, h, pp) : 0.f;
    };
    auto bval = [&](const void* src, const int64_t* st, int s, int nn) {
      const int64_t t = t0 + s;
      return t < p.length && nn < N ? ld4<T>(src, st, b, t, g, nn) : 0.f;
    };

    // DX[q][s] = dy_q . x_s, then G1 = DX decay dt_s, Lp = CB decay and the row sums of M = CB G1.
    {
      Acc acc;
      acc.zero();
      for (int p0 = 0; p0 < P; p0 += kQ) {
        fill_tile<true>(ta, [&](int pp, int q) { return dyval(q, p0 + pp); });
        fill_tile<true>(tb, [&](int pp, int s) { return xval(s, p0 + pp); });
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
      tG1[q * kSsdLd + s] = g1;
      tLp[q * kSsdLd + s] = cb * dec;
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
      fill_tile<false>(tb, [&](int q, int pp) { return dyval(q, p0 + pp); });
      __syncthreads();
      acc.mm(tLp, tb);
      __syncthreads();
      for (int n0 = 0; n0 < N; n0 += kQ) {
        fill_tile<true>(ta, [&](int nn, int s) { return bval(p.B, p.B_s, s, n0 + nn) * s_ew[s]; });
        fill_tile<true>(tb, [&](int nn, int pp) {
          return p0 + pp < P && n0 + nn < N ? dSn[(int64_t)(p0 + pp) * N + n0 + nn] : 0.f;
        });
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
      acc.store(tout);
      __syncthreads();
      for_tile([&](int s, int pp) {
        const int64_t t = t0 + s;
        float xz = 0.f;
        if (t < p.length && p0 + pp < P) {
          const float z = tout[s * kSsdLd + pp], xv = xval(s, p0 + pp), dyv = dyval(s, p0 + pp);
          T* dx = static_cast<T*>(p.dx) + b * p.dx_s[0] + t * p.dx_s[1] + h * p.dx_s[2] + (p0 + pp) * p.dx_s[3];
          store_f(dx, s_dtv[s] * z + Dh * dyv);
          xz = xv * z;
          dD_sum += dyv * xv;
        }
        tout[s * kSsdLd + pp] = xz;
      });
      __syncthreads();
      const float r = row_sum([&](int s, int pp) { return tout[s * kSsdLd + pp]; });
      if ((threadIdx.x & 3) == 0) s_rowZ[threadIdx.x >> 2] += r;
    }
    __syncthreads();
    // Lp is done: its tile takes G1 transposed, the K-major operand of dC's intra-chunk part.
    for_tile([&](int q, int s) { tLp[s * kSsdLd + q] = tG1[q * kSsdLd + s]; });
    __syncthreads();

    // Adds a finished (rows t, columns n) tile to the fp32 dB or dC accumulator of the group.
    auto accumulate = [&](float* dst, int n0) {
      for_tile([&](int s, int nn) {
        if (n0 + nn >= N) return;
        float* d = dst + (((int64_t)b * Lp + t0 + s) * p.groups + g) * N + n0 + nn;
        const float v = tout[s * kSsdLd + nn];
        if (atomic) atomicAdd(d, v);
        else if (h == h_begin) *d = v;
        else *d += v;
      });
    };
    // dB[s][n] = sum_q G1[q][s] C_q,n + dt_s exp(aend - acum_s) sum_p x_s,p dS[p][n].
    for (int n0 = 0; n0 < N; n0 += kQ) {
      Acc acc;
      acc.zero();
      fill_tile<false>(tb, [&](int q, int nn) { return bval(p.C, p.C_s, q, n0 + nn); });
      __syncthreads();
      acc.mm(tG1, tb);
      __syncthreads();
      for (int p0 = 0; p0 < P; p0 += kQ) {
        fill_tile<true>(ta, [&](int pp, int s) { return xval(s, p0 + pp) * s_dtv[s] * s_ew[s]; });
        fill_tile<false>(tb, [&](int pp, int nn) {
          return p0 + pp < P && n0 + nn < N ? dSn[(int64_t)(p0 + pp) * N + n0 + nn] : 0.f;
        });
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
        fill_tile<true>(ta, [&](int pp, int q) { return dyval(q, p0 + pp) * s_e[q]; });
        fill_tile<false>(tb, [&](int pp, int nn) {
          return p0 + pp < P && n0 + nn < N ? Sc[(int64_t)(p0 + pp) * N + n0 + nn] : 0.f;
        });
        __syncthreads();
        acc.mm(ta, tb);
        __syncthreads();
      }
      acc.store(tout);
      __syncthreads();
      {
        const float r = row_sum([&](int q, int nn) { return bval(p.C, p.C_s, q, n0 + nn) * tout[q * kSsdLd + nn]; });
        if ((threadIdx.x & 3) == 0) s_rowC[threadIdx.x >> 2] += r;
      }
      fill_tile<false>(tb, [&](int s, int nn) { return bval(p.B, p.B_s, s, n0 + nn); });
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
        const float gin = ddtv * v1_dt_value<T>(p, b, t, h).y;
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

}  // namespace mamba::cuda::ssd::v1
