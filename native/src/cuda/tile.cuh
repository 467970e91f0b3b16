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

// Calls g(k, c, t) for each item k of a thread's share of a (CH channels x T steps) tile: item k is element
// threadIdx.x + k * THREADS of the tile walked time-fastest (c = i / T, t = i % T) or channel-fastest
// (c = i % CH, t = i / CH). Branching once on the walk, which is the same for the whole block, keeps c and t
// affine in k (THREADS is a multiple of CH and T), so shared-memory addresses fold into immediates; a per-item
// select of the walk cost ~14 instructions per item.
template <int THREADS, int CH, int T, typename G>
__device__ __forceinline__ void for_each_item(bool time_fast, G g) {
  static_assert(THREADS % CH == 0 && THREADS % T == 0, "items must advance by whole rows");
  constexpr int ITEMS = (CH * T + THREADS - 1) / THREADS;
  constexpr bool exact = (CH * T) % THREADS == 0;  // every item of every thread lies in the tile
  if (time_fast) {
    const int c0 = (int)threadIdx.x / T, t = (int)threadIdx.x % T;
#pragma unroll
    for (int k = 0; k < ITEMS; ++k)
      if (exact || (int)threadIdx.x + k * THREADS < CH * T) g(k, c0 + k * (THREADS / T), t);
  } else {
    const int c = (int)threadIdx.x % CH, t0 = (int)threadIdx.x / CH;
#pragma unroll
    for (int k = 0; k < ITEMS; ++k)
      if (exact || (int)threadIdx.x + k * THREADS < CH * T) g(k, c, t0 + k * (THREADS / CH));
  }
}

// The walk for a (batch, dim, length) tensor with strides s: along time when its stride is 1, else along channels.
__device__ __forceinline__ bool walks_time(const int64_t* s) { return s[2] == 1 || s[1] != 1; }

// Where a thread's items of a (CH channels x T steps) tile sit relative to the tile's first element, computed
// once per kernel: recomputing them from 64-bit strides every chunk cost more instructions than the loads.
// -1 marks an item outside the tile or past the block's last channel. 32-bit: scan_api rejects strides of
// 2^23 elements or more.
template <int THREADS, int CH, int T>
struct TileOffsets {
  static constexpr int ITEMS = (CH * T + THREADS - 1) / THREADS;
  int off[ITEMS];

  __device__ __forceinline__ void init(const int64_t* s, int nch) {
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) off[k] = -1;
    for_each_item<THREADS, CH, T>(walks_time(s), [&](int k, int c, int t) {
      if (c < nch) off[k] = c * (int)s[1] + t * (int)s[2];
    });
  }
};

// A thread's share of a (CH channels x T steps) tile of a (batch, dim, length) tensor.
template <int THREADS, int CH, int T>
struct TileRegs {
  static constexpr int ITEMS = (CH * T + THREADS - 1) / THREADS;
  float v[ITEMS];
  bool time_fast;

  // v = x[b, d0+c, t0+t] for c < nch, t < tl; 0 elsewhere.
  template <typename X>
  __device__ __forceinline__ void fetch(const X* x, const int64_t* s, int b, int d0, int nch, int t0, int tl) {
    time_fast = walks_time(s);
    const X* base = x + b * s[0] + d0 * s[1] + t0 * s[2];
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) v[k] = 0.f;
    for_each_item<THREADS, CH, T>(time_fast, [&](int k, int c, int t) {
      if (c < nch && t < tl) v[k] = load_f(base + c * s[1] + t * s[2]);
    });
  }
  // The same for a chunk known to be whole, from the address of its element (b, d0, t0), the tensor's walk
  // (walks_time) and the precomputed offsets.
  template <typename X>
  __device__ __forceinline__ void fetch_full(const X* base, bool walk_time, const TileOffsets<THREADS, CH, T>& o) {
    time_fast = walk_time;  // put() walks the tile the same way
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) v[k] = o.off[k] >= 0 ? load_f(base + o.off[k]) : 0.f;
  }
  // tile[c][t] = f(v, c, t) for every cell of the tile (padding cells get f(0, c, t)).
  template <typename F>
  __device__ __forceinline__ void put(float (*tile)[T + 1], F f) const {
    for_each_item<THREADS, CH, T>(time_fast, [&](int k, int c, int t) { tile[c][t] = f(v[k], c, t); });
  }
  // Two tiles from one value: (a[c][t], b[c][t]) = f(v, c, t) as a float2.
  template <typename F>
  __device__ __forceinline__ void put2(float (*ta)[T + 1], float (*tb)[T + 1], F f) const {
    for_each_item<THREADS, CH, T>(time_fast, [&](int k, int c, int t) {
      const float2 r = f(v[k], c, t);
      ta[c][t] = r.x;
      tb[c][t] = r.y;
    });
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
  __device__ __forceinline__ static bool in_tile(int k) {
    return (T * NPAD) % THREADS == 0 || threadIdx.x + k * THREADS < T * NPAD;
  }

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
  X* base = x + b * s[0] + d0 * s[1] + t0 * s[2];
  for_each_item<THREADS, CH, T>(walks_time(s), [&](int, int c, int t) {
    if (c < nch && t < tl) store_f(base + c * s[1] + t * s[2], f(c, t));
  });
}

// store_tile for a whole chunk, from the address of its element (b, d0, t0), the tensor's walk and the
// precomputed offsets.
template <int THREADS, int CH, int T, typename X, typename F>
__device__ __forceinline__ void store_tile_full(X* base, bool walk_time, const TileOffsets<THREADS, CH, T>& o, F f) {
  for_each_item<THREADS, CH, T>(walk_time, [&](int k, int c, int t) {
    if (o.off[k] >= 0) store_f(base + o.off[k], f(c, t));
  });
}

}  // namespace mamba::cuda
