// The chunk states and their passing in one kernel per direction (v3's default; MAMBA_SSD_PASS=separate runs
// chunk_state_kernel and state_pass_kernel of ssd_kernels.cuh instead). Each block owns one 64x64 tile of a head's
// (P, N) state and walks the chunks in order, keeping the running state of its tile in registers:
//   forward:  S[0] = initial,  S[c+1] = exp(aend_c) S[c] + S_loc[c],   S_loc[c] = x_c^T (w_c B_c)
//   backward: dS[nc] = dfinal, dS[c] = exp(aend_c) dS[c+1] + dS_loc[c], dS_loc[c] = (e_c dy_c)^T C_c
// The separate kernels write every chunk's fp32 S_loc (and dS_loc) to memory and read it back for the passing,
// at this project's benchmark shape 0.5 GB each way per direction; here only the passed states are written, in
// their stored dtype. The products, their operands and the chain's FMAs are those of the separate kernels, so
// the states, and everything computed from them, are bitwise the same; only the per-chunk sums dS[c+1].S[c+1]
// (the decay's gradient, dAend) are summed over other partitions, so ddt, dA and ddt_bias differ in rounding.
// The chain is sequential in the chunks; the parallelism is batch x heads x tiles of the state (1024 blocks at
// the benchmark shape), each block's loads overlapping the other resident blocks' products.
#pragma once
#include "ssd_kernels.cuh"

namespace mamba::cuda::ssd {

// Block (b, h, p tile, n tile), the n tile fastest: the tiles of one head run together and share x (or dy) in L2.
// Thread t owns row p0 + t / 4 of the tile and its 16 columns n0 + 16 (t % 4) ..: one base address per thread,
// contiguous 16-element accesses.
struct StateTile {
  int b, h, g, p0, n0, split;
  int64_t bh;
  int row, col, cols;  // the thread's row and first column in the state; its columns inside it (0..16)
  int64_t at;          // (row, col) in (b, h)'s fp32 state
  __device__ StateTile(const SsdParams& p) {
    const int nt = (p.state + kQ - 1) / kQ, pt = (p.head_dim + kQ - 1) / kQ;
    int64_t i = blockIdx.x;
    split = (int)(i % ((int64_t)nt * pt));  // this tile's index among the head's: its column of dAend
    n0 = (split % nt) * kQ;
    p0 = (split / nt) * kQ;
    i /= (int64_t)nt * pt;
    h = (int)(i % p.heads);
    b = (int)(i / p.heads);
    g = h / p.heads_per_group;
    bh = (int64_t)b * p.heads + h;
    row = p0 + (int)(threadIdx.x >> 2);
    col = n0 + 16 * (int)(threadIdx.x & 3);
    const int left = p.state - col;
    cols = row < p.head_dim ? (left < 0 ? 0 : left < 16 ? left : 16) : 0;
    at = bh * p.PN() + (int64_t)row * p.state + col;
  }
  // (row, col) in a stored slot of St (ssd_params.cuh).
  template <typename St>
  __device__ int64_t slot_at(const SsdParams& p) const { return (int64_t)row * state_pitch<St>(p) + col; }
  // Where the thread's 16 values sit in the product's fp32 output tile.
  __device__ int out_index() const { return (int)(threadIdx.x >> 2) * kSsdLd + 16 * (int)(threadIdx.x & 3); }
};

// Blocks of the chain kernels, and the dAend columns per (b, h, chunk) of the backward one.
inline int64_t state_tiles(const SsdParams& p) {
  return (int64_t)((p.head_dim + kQ - 1) / kQ) * ((p.state + kQ - 1) / kQ);
}

constexpr int kChainBlocks = 4;  // resident blocks per SM asked of the register allocator

// Dynamic shared memory of the chain kernels: chunk_state_kernel's tiles (one fp32 output, two operands), then the
// running state of the block's tile, 16 values per thread ([j][thread]: no bank conflicts). Each thread reads back
// only its own values, so they need no barrier; in registers they would push the products' operand loads into
// local memory.
template <typename Acc>
constexpr int kChainTiles = tiles_smem<Acc>(1, 2);
template <typename Acc>
constexpr int kChainSmem = kChainTiles<Acc> + 16 * kSsdThreads * (int)sizeof(float);
template <typename Acc>
__device__ __forceinline__ float* chain_run(float* smem) {
  return reinterpret_cast<float*>(reinterpret_cast<char*>(smem) + kChainTiles<Acc>) + threadIdx.x;
}

// Slot `slot` of head bh's stored states (fp32 or the 2-byte St, ssd_params.cuh), writable.
template <typename St>
__device__ __forceinline__ St* state_slot_w(const SsdParams& p, float* buf, int64_t bh, int slot) {
  return const_cast<St*>(state_slot<St>(p, buf, bh, slot));
}

// n (0..16) values at dst or src, 16-byte accesses when all 16 are there and aligned.
template <typename St>
__device__ __forceinline__ void put16(St* dst, const float (&v)[16], int n) {
  if (n == 16 && (reinterpret_cast<uintptr_t>(dst) & 15) == 0) {
    if constexpr (std::is_same<St, float>::value) {
#pragma unroll
      for (int j = 0; j < 16; j += 4)
        __stcg(reinterpret_cast<float4*>(dst + j), make_float4(v[j], v[j + 1], v[j + 2], v[j + 3]));
    } else {
      uint32_t w[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) w[j] = state_bits<St>(v[2 * j]) | state_bits<St>(v[2 * j + 1]) << 16;
      __stcg(reinterpret_cast<uint4*>(dst), make_uint4(w[0], w[1], w[2], w[3]));
      __stcg(reinterpret_cast<uint4*>(dst + 8), make_uint4(w[4], w[5], w[6], w[7]));
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < 16; ++j)
    if (j < n) dst[j] = to_op<St>(v[j]);
}
template <typename St>
__device__ __forceinline__ void get16(const St* src, float (&v)[16], int n) {
  if (n == 16 && (reinterpret_cast<uintptr_t>(src) & 15) == 0) {
    if constexpr (std::is_same<St, float>::value) {
#pragma unroll
      for (int j = 0; j < 16; j += 4) {
        const float4 t = *reinterpret_cast<const float4*>(src + j);
        v[j] = t.x; v[j + 1] = t.y; v[j + 2] = t.z; v[j + 3] = t.w;
      }
    } else {
      const uint4 a = *reinterpret_cast<const uint4*>(src), b = *reinterpret_cast<const uint4*>(src + 8);
      const uint32_t w[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        v[2 * j] = state_value<St>(w[j] & 0xffffu);
        v[2 * j + 1] = state_value<St>(w[j] >> 16);
      }
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < 16; ++j) v[j] = j < n ? to_f(src[j]) : 0.f;
}

// The running values (run[j * kSsdThreads]) from the thread's part of an fp32 state (src + k.at), 0 without one;
// also into v.
__device__ __forceinline__ void start_run(const StateTile& k, const float* src, float* run, float (&v)[16]) {
  get16(src ? src + k.at : nullptr, v, src ? k.cols : 0);
#pragma unroll
  for (int j = 0; j < 16; ++j) run[j * kSsdThreads] = v[j];
}

// The block's tile of one chunk's product into the fp32 tile `out`: rows t0.. of av (columns p0..) scaled per step,
// against rows t0.. of bv (columns n0..), as chunk_state_kernel computes it. Ends with a barrier.
template <typename Acc, typename E, typename T>
__device__ __forceinline__ void chain_product(const StateTile& k, const View<T>& av, const float* scale,
                                              const View<T>& bv, int64_t t0, E* ta, E* tb, float* out) {
  fill_pair<true, true>(ta, av, t0, k.p0, scale, tb, bv, t0, k.n0, nullptr);
  __syncthreads();
  Acc acc;
  acc.zero();
  acc.mm(ta, tb);
  acc.store(out);
  __syncthreads();
}

// Forward chain: dt and acum into scratch (by each head's first tile), S[c] for the chunk scan (slots 0 .. nc - 1;
// slot nc too with all_slots or fp32 states, as state_pass_kernel: the backward chain reads it), and the final
// state when p.final_state is set.
template <typename T, typename Acc, typename St>
__global__ void __launch_bounds__(kSsdThreads, kChainBlocks) state_chain_fwd_kernel(const SsdParams p,
                                                                                     const bool all_slots) {
  using E = typename Acc::Op;
  extern __shared__ __align__(128) float smem[];
  float* tout = smem;
  E* ta = op_tile<E>(smem, 1, 0);
  E* tb = op_tile<E>(smem, 1, 1);
  __shared__ float s_dtv[kQ], s_acum[kQ], s_w[kQ];
  const StateTile k(p);
  const int64_t slot_at = k.slot_at<St>(p);
  const View<T> xs(p.x, p.x_s, k.b, k.h, p.length, p.head_dim);
  const View<T> bs(p.B, p.B_s, k.b, k.g, p.length, p.state);
  float* s = chain_run<Acc>(smem);  // the running state, value j at s[j * kSsdThreads]
  {
    float v[16];
    start_run(k, p.initial_state, s, v);
    put16(state_slot_w<St>(p, p.S, k.bh, 0) + slot_at, v, k.cols);
  }
  const int last = all_slots || std::is_same<St, float>::value ? p.nc : p.nc - 1;
  for (int c = 0; c < p.nc; ++c) {
    const int64_t t0 = (int64_t)c * kQ;
    chunk_decay<T>(p, k.b, k.h, k.bh, t0, k.split == 0, s_dtv, s_acum);
    if (threadIdx.x < kQ) s_w[threadIdx.x] = s_dtv[threadIdx.x] * __expf(s_acum[kQ - 1] - s_acum[threadIdx.x]);
    const float ea = __expf(s_acum[kQ - 1]);
    __syncthreads();
    chain_product<Acc>(k, xs, s_w, bs, t0, ta, tb, tout);
    float v[16];
    const float* o = tout + k.out_index();
#pragma unroll
    for (int j = 0; j < 16; ++j) v[j] = s[j * kSsdThreads] = ea * s[j * kSsdThreads] + o[j];
    if (c < last) put16(state_slot_w<St>(p, p.S, k.bh, c + 1) + slot_at, v, k.cols);
    if (c == p.nc - 1 && p.final_state) put16(p.final_state + k.at, v, k.cols);
    __syncthreads();  // tout, s_dtv and s_acum are rewritten by the next chunk
  }
}

// Backward chain, after state_chain_fwd_kernel wrote dt, acum and every S slot: dS[c + 1] for the chunk gradients
// (slots 1 .. nc), this tile's part of dS[c+1].S[c+1] (S as stored) into dAend column k.split, dinitial_state.
template <typename T, typename Acc, typename St>
__global__ void __launch_bounds__(kSsdThreads, kChainBlocks) state_chain_bwd_kernel(const SsdParams p) {
  using E = typename Acc::Op;
  extern __shared__ __align__(128) float smem[];
  float* tout = smem;
  E* ta = op_tile<E>(smem, 1, 0);
  E* tb = op_tile<E>(smem, 1, 1);
  __shared__ float s_dtv[kQ], s_acum[kQ], s_e[kQ], red[kSsdThreads / 32];
  const StateTile k(p);
  const int64_t slot_at = k.slot_at<St>(p);
  float* d = chain_run<Acc>(smem);  // the running gradient, value j at d[j * kSsdThreads]
  {
    float v[16];
    start_run(k, p.dfinal_state, d, v);
  }
  const View<T> dys(p.dy, p.dy_s, k.b, k.h, p.length, p.head_dim);
  const View<T> cs(p.C, p.C_s, k.b, k.g, p.length, p.state);
  for (int c = p.nc - 1; c >= 0; --c) {
    const int64_t t0 = (int64_t)c * kQ;
    load_chunk_vectors(p, k.bh, t0, s_dtv, s_acum, s_e, nullptr);
    __syncthreads();
    const float ea = __expf(s_acum[kQ - 1]);
    chain_product<Acc>(k, dys, s_e, cs, t0, ta, tb, tout);
    // dS[c+1] (the running d) dotted with S[c+1] as stored, stored itself, then carried to dS[c].
    float v[16], sn[16];
    get16(state_slot<St>(p, p.S, k.bh, c + 1) + slot_at, sn, k.cols);
#pragma unroll
    for (int j = 0; j < 16; ++j) v[j] = d[j * kSsdThreads];
    put16(state_slot_w<St>(p, p.dS, k.bh, c + 1) + slot_at, v, k.cols);
    float part = 0.f;
    const float* o = tout + k.out_index();
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      part += v[j] * sn[j];  // 0 past the state's edge: get16 fills 0 there
      d[j * kSsdThreads] = ea * v[j] + o[j];
    }
    const float sum = block_sum(part, red);  // its barriers also end this chunk's reads of tout and the vectors
    if (threadIdx.x == 0) p.dAend[(k.bh * p.nc + c) * p.pass_split + k.split] = sum;
  }
  if (p.dinitial_state && p.initial_state) {
    float v[16];
#pragma unroll
    for (int j = 0; j < 16; ++j) v[j] = d[j * kSsdThreads];
    put16(p.dinitial_state + k.at, v, k.cols);
  }
}

}  // namespace mamba::cuda::ssd
