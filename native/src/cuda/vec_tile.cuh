// Tiles of 2-byte tensors (bf16, f16) moved as 16-byte vectors of 8 elements along the tensor's stride-1 axis:
// one load per thread per (32 channels x 32 steps) tile instead of 8 two-byte loads. The forward keeps what it
// fetched as raw bits until put() converts it: converting right after the load (as TileRegs' load_f does) makes
// the thread wait for the load there, which for 2-byte types exposed the prefetch's latency every chunk.
// The caller checks that vectors can be used (vec_tiles_ok in scan_launch.cuh): stride-1 axis of time or channels,
// the other strides and the pointer multiples of 8 elements / 16 bytes. Vectors cut by the end of the tile's
// valid region (a partial last chunk, the last channels) fall back to element loads and stores for that vector.
#pragma once
#include <stdint.h>
#include "dtype.cuh"

namespace mamba::cuda {

constexpr int kVec = 8;  // elements per 16-byte vector of a 2-byte type

// Raw 2-byte storage bits to fp32 and back (rounding as store_f does).
template <typename X> __device__ __forceinline__ float bits_to_f(unsigned short h);
template <> __device__ __forceinline__ float bits_to_f<__nv_bfloat16>(unsigned short h) {
  return __uint_as_float((unsigned)h << 16);
}
template <> __device__ __forceinline__ float bits_to_f<__half>(unsigned short h) { return __half2float(__ushort_as_half(h)); }
template <typename X> __device__ __forceinline__ unsigned short f_to_bits(float v);
template <> __device__ __forceinline__ unsigned short f_to_bits<__nv_bfloat16>(float v) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}
template <> __device__ __forceinline__ unsigned short f_to_bits<__half>(float v) { return __half_as_ushort(__float2half_rn(v)); }

// Element j (0..7) of a vector: word j / 2, low half first (little-endian).
__device__ __forceinline__ unsigned short vec_get(const uint4& v, int j) {
  const unsigned w = j < 2 ? v.x : j < 4 ? v.y : j < 6 ? v.z : v.w;
  return (unsigned short)(j & 1 ? w >> 16 : w & 0xffffu);
}
__device__ __forceinline__ void vec_set(uint4& v, int j, unsigned short h) {
  unsigned& w = j < 2 ? v.x : j < 4 ? v.y : j < 6 ? v.z : v.w;
  w = j & 1 ? (w & 0xffffu) | ((unsigned)h << 16) : (w & 0xffff0000u) | h;
}

// Calls g(k, c, t) for each vector k of a thread's share of a (CH channels x T steps) tile; (c, t) is the vector's
// first element and it runs along t (time_fast) or along c. Vector i = threadIdx.x + k * THREADS of the tile's
// vectors in row order; as in for_each_item, one branch on the walk keeps c and t affine in k. With fewer than
// 8 channels per block the channel walk cannot be vectorised: the launcher never asks for it.
template <int THREADS, int CH, int T, typename G>
__device__ __forceinline__ void for_each_vec(bool time_fast, G g) {
  static_assert(T % kVec == 0, "time tiles must hold whole vectors");
  constexpr int NV = CH * T / kVec, ITEMS = (NV + THREADS - 1) / THREADS;
  constexpr bool exact = NV % THREADS == 0;
  if (CH % kVec != 0 || time_fast) {
    constexpr int VR = T / kVec;  // vectors per channel row
    static_assert(THREADS % VR == 0, "items must advance by whole rows");
    const int c0 = (int)threadIdx.x / VR, t = (int)threadIdx.x % VR * kVec;
#pragma unroll
    for (int k = 0; k < ITEMS; ++k)
      if (exact || (int)threadIdx.x + k * THREADS < NV) g(k, c0 + k * (THREADS / VR), t);
  } else {
    constexpr int VC = CH % kVec == 0 ? CH / kVec : 1;  // vectors per time step
    static_assert(THREADS % VC == 0, "items must advance by whole rows");
    const int c = (int)threadIdx.x % VC * kVec, t0 = (int)threadIdx.x / VC;
#pragma unroll
    for (int k = 0; k < ITEMS; ++k)
      if (exact || (int)threadIdx.x + k * THREADS < NV) g(k, c, t0 + k * (THREADS / VC));
  }
}

// A thread's share of a (CH channels x T steps) tile of a 2-byte (batch, dim, length) tensor, as raw vectors.
// Same interface as TileRegs: fetch() now, put() into shared memory later.
template <int THREADS, int CH, int T, typename X>
struct VecTileRegs {
  static_assert(sizeof(X) == 2, "16-byte vectors of 8 elements");
  static constexpr int ITEMS = (CH * T / kVec + THREADS - 1) / THREADS;
  uint4 v[ITEMS];
  bool time_fast;

  // v = x[b, d0+c, t0+t] for c < nch, t < tl; 0 elsewhere.
  __device__ __forceinline__ void fetch(const X* x, const int64_t* s, int b, int d0, int nch, int t0, int tl) {
    time_fast = s[2] == 1;
    const X* base = x + b * s[0] + d0 * s[1] + t0 * s[2];
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) v[k] = make_uint4(0u, 0u, 0u, 0u);
    for_each_vec<THREADS, CH, T>(time_fast, [&](int k, int c, int t) {
      if (c >= nch || t >= tl) return;
      const unsigned short* e = reinterpret_cast<const unsigned short*>(base + c * s[1] + t * s[2]);
      const int left = time_fast ? tl - t : nch - c;  // valid elements from this vector's first one on
      if (left >= kVec) {
        v[k] = __ldg(reinterpret_cast<const uint4*>(e));
      } else {
#pragma unroll
        for (int j = 0; j < kVec; ++j)
          if (j < left) vec_set(v[k], j, __ldg(e + j));
      }
    });
  }
  // tile[c][t] = f(value, c, t) for every cell of the tile (cells outside the valid region get f(0, c, t)).
  template <typename F>
  __device__ __forceinline__ void put(float (*tile)[T + 1], F f) const {
    for_each_vec<THREADS, CH, T>(time_fast, [&](int k, int c, int t) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        const int cj = time_fast ? c : c + j, tj = time_fast ? t + j : t;
        tile[cj][tj] = f(bits_to_f<X>(vec_get(v[k], j)), cj, tj);
      }
    });
  }
};

// x[b, d0+c, t0+t] = f(c, t) for c < nch, t < tl, 8 elements per store (store_tile for VecTileRegs' tensors).
template <int THREADS, int CH, int T, typename X, typename F>
__device__ __forceinline__ void store_vec_tile(X* x, const int64_t* s, int b, int d0, int nch, int t0, int tl, F f) {
  const bool time_fast = s[2] == 1;
  X* base = x + b * s[0] + d0 * s[1] + t0 * s[2];
  for_each_vec<THREADS, CH, T>(time_fast, [&](int, int c, int t) {
    if (c >= nch || t >= tl) return;
    unsigned short* e = reinterpret_cast<unsigned short*>(base + c * s[1] + t * s[2]);
    const int left = time_fast ? tl - t : nch - c;
    if (left >= kVec) {
      uint4 w = make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
      for (int j = 0; j < kVec; ++j) vec_set(w, j, f_to_bits<X>(time_fast ? f(c, t + j) : f(c + j, t)));
      *reinterpret_cast<uint4*>(e) = w;
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j)
        if (j < left) e[j] = f_to_bits<X>(time_fast ? f(c, t + j) : f(c + j, t));
    }
  });
}

// BCRegs for 2-byte B or C, keeping raw bits until put() (the element loads and walk of BCRegs).
template <int THREADS, int T, int NPAD, typename X>
struct RawBCRegs {
  static constexpr int ITEMS = (T * NPAD + THREADS - 1) / THREADS;
  unsigned short v[ITEMS];
  bool time_fast;

  __device__ __forceinline__ void coords(int k, int& n, int& t) const {
    const int i = threadIdx.x + k * THREADS;
    n = time_fast ? i / T : i % NPAD;
    t = time_fast ? i % T : i / NPAD;
  }
  __device__ __forceinline__ static bool in_tile(int k) {
    return (T * NPAD) % THREADS == 0 || threadIdx.x + k * THREADS < T * NPAD;
  }

  __device__ __forceinline__ void fetch(const X* x, const int64_t* s, int b, int g, int state, int t0, int tl) {
    time_fast = s[3] == 1 || s[2] != 1;
    const unsigned short* base = reinterpret_cast<const unsigned short*>(x + b * s[0] + g * s[1] + t0 * s[3]);
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      int n, t;
      coords(k, n, t);
      v[k] = (in_tile(k) && n < state && t < tl) ? __ldg(base + n * s[2] + t * s[3]) : (unsigned short)0;
    }
  }
  __device__ __forceinline__ void put(float (*bc)[NPAD]) const {
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      int n, t;
      coords(k, n, t);
      if (in_tile(k)) bc[t][n] = bits_to_f<X>(v[k]);
    }
  }
};

}  // namespace mamba::cuda
