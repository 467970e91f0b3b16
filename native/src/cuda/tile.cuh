// Moving (channel, time) tiles between strided global tensors and shared memory, in two halves:
// fetch() issues a thread's global loads into registers, put() later writes them to shared memory.
// Splitting the two lets a kernel keep the next chunk's loads in flight while it scans this one.
// Consecutive threads walk the axis whose global stride is 1 (time when possible, else channel), so
// both the (batch, dim, length) layout and its (batch, length, dim) view load coalesced. Shared rows
// are T+1 long, which keeps both walks free of bank conflicts.
#pragma once
#include <stdint.h>
#include "dtype.cuh"

namespace mamba::cuda {

// A thread's share of a (CH channels x T steps) tile of a (batch, dim, length) tensor.
template <int THREADS, int CH, int T>
struct TileRegs {
  static constexpr int ITEMS = (CH * T + THREADS - 1) / THREADS;
  float v[ITEMS];
  bool time_fast;

  __device__ __forceinline__ void coords(int k, int& c, int& t) const {
    const int i = threadIdx.x + k * THREADS;
    c = time_fast ? i / T : i % CH;
    t = time_fast ? i % T : i / CH;
  }
  __device__ __forceinline__ static bool in_tile(int k) { return threadIdx.x + k * THREADS < CH * T; }

  // v = x[b, d0+c, t0+t] for c < nch, t < tl; 0 elsewhere.
  template <typename X>
  __device__ __forceinline__ void fetch(const X* x, const int64_t* s, int b, int d0, int nch, int t0, int tl) {
    time_fast = s[2] == 1 || s[1] != 1;
    const X* base = x + b * s[0] + d0 * s[1] + t0 * s[2];
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      int c, t;
      coords(k, c, t);
      v[k] = (in_tile(k) && c < nch && t < tl) ? load_f(base + c * s[1] + t * s[2]) : 0.f;
    }
  }
  // tile[c][t] = f(v, c) for every cell of the tile (padding cells get f(0, c)).
  template <typename F>
  __device__ __forceinline__ void put(float (*tile)[T + 1], F f) const {
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      int c, t;
      coords(k, c, t);
      if (in_tile(k)) tile[c][t] = f(v[k], c);
    }
  }
  // Two tiles from one value: (a[c][t], b[c][t]) = f(v, c) as a float2.
  template <typename F>
  __device__ __forceinline__ void put2(float (*ta)[T + 1], float (*tb)[T + 1], F f) const {
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      int c, t;
      coords(k, c, t);
      if (in_tile(k)) {
        const float2 r = f(v[k], c);
        ta[c][t] = r.x;
        tb[c][t] = r.y;
      }
    }
  }
};

// A thread's share of a (T steps x NPAD states) tile of B or C, stored [t][n] in shared memory so
// the scan reads a lane's states as float4. States >= `state` and steps >= tl are 0.
template <int THREADS, int T, int NPAD>
struct BCRegs {
  static constexpr int ITEMS = (T * NPAD + THREADS - 1) / THREADS;
  float v[ITEMS];
  bool time_fast;

  __device__ __forceinline__ void coords(int k, int& n, int& t) const {
    const int i = threadIdx.x + k * THREADS;
    n = time_fast ? i / T : i % NPAD;
    t = time_fast ? i % T : i / NPAD;
  }
  __device__ __forceinline__ static bool in_tile(int k) { return threadIdx.x + k * THREADS < T * NPAD; }

  template <typename X>
  __device__ __forceinline__ void fetch(const X* x, const int64_t* s, int b, int g, int state, int t0, int tl) {
    time_fast = s[3] == 1 || s[2] != 1;
    const X* base = x + b * s[0] + g * s[1] + t0 * s[3];
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      int n, t;
      coords(k, n, t);
      v[k] = (in_tile(k) && n < state && t < tl) ? load_f(base + n * s[2] + t * s[3]) : 0.f;
    }
  }
  __device__ __forceinline__ void put(float (*bc)[NPAD]) const {
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      int n, t;
      coords(k, n, t);
      if (in_tile(k)) bc[t][n] = v[k];
    }
  }
};

// x[b, d0+c, t0+t] = f(c, t) for c < nch, t < tl.
template <int THREADS, int CH, int T, typename X, typename F>
__device__ __forceinline__ void store_tile(X* x, const int64_t* s, int b, int d0, int nch, int t0, int tl, F f) {
  constexpr int ITEMS = (CH * T + THREADS - 1) / THREADS;
  const bool time_fast = s[2] == 1 || s[1] != 1;
  X* base = x + b * s[0] + d0 * s[1] + t0 * s[2];
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {
    const int i = threadIdx.x + k * THREADS;
    const int c = time_fast ? i / T : i % CH, t = time_fast ? i % T : i / CH;
    if (i < CH * T && c < nch && t < tl) store_f(base + c * s[1] + t * s[2], f(c, t));
  }
}

}  // namespace mamba::cuda
