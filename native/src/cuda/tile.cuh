// Moving (channel, time) tiles between strided global tensors and shared memory.
// Consecutive threads walk the axis whose global stride is 1 (time when possible, else channel), so
// both the (batch, dim, length) layout and its (batch, length, dim) view load coalesced. Shared rows
// are T+1 long, which keeps both walks free of bank conflicts.
#pragma once
#include <stdint.h>
#include "dtype.cuh"

namespace mamba::cuda {

// tile[c][t] = f(x[b, d0+c, t0+t], c) for c < nch, t < tl; 0 elsewhere.
template <int THREADS, int CH, int T, typename X, typename F>
__device__ __forceinline__ void load_tile(float (*tile)[T + 1], const X* x, const int64_t* s, int b, int d0, int nch,
                                          int t0, int tl, F f) {
  constexpr int ITEMS = (CH * T + THREADS - 1) / THREADS;
  const bool time_fast = s[2] == 1 || s[1] != 1;
  const X* base = x + b * s[0] + d0 * s[1] + t0 * s[2];
  float v[ITEMS];
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {  // all loads first, so they are in flight together
    const int i = threadIdx.x + k * THREADS;
    const int c = time_fast ? i / T : i % CH, t = time_fast ? i % T : i / CH;
    v[k] = (i < CH * T && c < nch && t < tl) ? f(load_f(base + c * s[1] + t * s[2]), c) : 0.f;
  }
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {
    const int i = threadIdx.x + k * THREADS;
    const int c = time_fast ? i / T : i % CH, t = time_fast ? i % T : i / CH;
    if (i < CH * T) tile[c][t] = v[k];
  }
}

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

// bc[t][n] = x[b, g, n, t0+t] for n < state, t < tl; 0 elsewhere (padded states then never move).
template <int THREADS, int T, int NPAD, typename X>
__device__ __forceinline__ void load_bc_tile(float (*bc)[NPAD], const X* x, const int64_t* s, int b, int g, int state,
                                             int t0, int tl) {
  constexpr int ITEMS = (T * NPAD + THREADS - 1) / THREADS;
  const bool time_fast = s[3] == 1 || s[2] != 1;
  const X* base = x + b * s[0] + g * s[1] + t0 * s[3];
  float v[ITEMS];
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {
    const int i = threadIdx.x + k * THREADS;
    const int n = time_fast ? i / T : i % NPAD, t = time_fast ? i % T : i / NPAD;
    v[k] = (i < T * NPAD && n < state && t < tl) ? load_f(base + n * s[2] + t * s[3]) : 0.f;
  }
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {
    const int i = threadIdx.x + k * THREADS;
    const int n = time_fast ? i / T : i % NPAD, t = time_fast ? i % T : i / NPAD;
    if (i < T * NPAD) bc[t][n] = v[k];
  }
}

}  // namespace mamba::cuda
