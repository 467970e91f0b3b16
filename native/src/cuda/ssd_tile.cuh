// Block-level 64x64 matrix products in shared memory, the building block of the chunked SSD kernels.
// Every operand tile is K-major: A[k * kSsdLd + m], B[k * kSsdLd + n] for k, m, n < 64, and the product
// out[m][n] = sum_k A[k][m] * B[k][n] accumulates in fp32. Operands are zero-padded by the fills, so every
// product runs the full K = 64 and no bounds are checked inside the product.
// Three accumulators with one interface: SimtAcc (fp32 FMA, 4x4 outputs per thread), TcAcc (tensor cores,
// wmma m16n16k8 TF32 with fp32 accumulation, two 16x16 fragments per warp) on fp32 operand tiles, and MmaAcc
// (mma m16n8k16 bf16/f16 with fp32 accumulation) on 16-bit operand tiles. Acc::Op is the operand tiles' element
// type. Results leave through store() into an fp32 shared tile, so epilogues never depend on the accumulator's
// register layout.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>
#include <cstdint>
#include <type_traits>

namespace mamba::cuda::ssd {

constexpr int kQ = 64;          // chunk length and tile edge
constexpr int kSsdLd = 68;      // tile row pitch in floats: 16-byte rows for float4 and wmma, fewer bank conflicts
constexpr int kTileFloats = kQ * kSsdLd;
constexpr int kSsdThreads = 256;

// Row pitch of an operand tile in elements: fp32 tiles as above; 16-bit tiles 72 (144-byte rows: 16-byte aligned
// for ldmatrix, and the 8 rows of one 8x8 ldmatrix block fall on 8 distinct 4-bank groups).
template <typename E> constexpr int kLd = sizeof(E) == 4 ? kSsdLd : 72;
template <typename E> constexpr int kOpTileBytes = kQ * kLd<E> * (int)sizeof(E);
constexpr int kOutTileBytes = kTileFloats * (int)sizeof(float);

// An fp32 value into an operand tile's element type (round to nearest for 16 bits).
template <typename E> __device__ __forceinline__ E to_op(float v);
template <> __device__ __forceinline__ float to_op<float>(float v) { return v; }
template <> __device__ __forceinline__ __half to_op<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 to_op<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// fp32 FMA: thread (ty, tx) = (tid / 16, tid % 16) owns rows 4 ty..4 ty+3 and columns 4 tx..4 tx+3.
struct SimtAcc {
  static constexpr int kMinBlocks = 1;  // minimum resident blocks per SM asked of the register allocator
  using Op = float;
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
  using Op = float;
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

// Tensor cores on 16-bit operands: mma.sync m16n8k16 (bf16 or f16 in, fp32 accumulators), twice TF32's rate,
// from tiles of half the bytes. Warp w owns output rows 16 (w / 2).. and columns 32 (w % 2)..+31: four m16n8
// tiles, v[j] for columns 8 j... The K-major tiles (A[k][m], B[k][n], rows of 144 bytes) reach the fragments
// through ldmatrix .trans, which hands each thread the two k-consecutive elements the fragment wants.
// K steps by 16 over the full 64 (the fills zero-pad, so a K that is not a multiple of 16 needs no masking).
template <typename T>
struct MmaAcc {
  static constexpr int kMinBlocks = 3;
  using Op = T;
  static constexpr int kL = kLd<T>;
  float v[4][4];
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) v[i][j] = 0.f;
  }
  __device__ __forceinline__ static void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
  }
  __device__ __forceinline__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (std::is_same<T, __nv_bfloat16>::value)
      asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
          "{%0, %1, %2, %3};\n"
          : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
      asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
          "{%0, %1, %2, %3};\n"
          : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  __device__ __forceinline__ void mm(const T* A, const T* B) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, m0 = 16 * (w >> 1), n0 = 32 * (w & 1);
    const int j = lane >> 3, r = lane & 7;  // lane j*8+r gives row r of 8x8 block j
    // A blocks (k, m): (0, 0), (0, 8), (8, 0), (8, 8) -> fragment registers a0a1, a2a3, a4a5, a6a7.
    const uint32_t a_addr =
        (uint32_t)__cvta_generic_to_shared(A + ((j >> 1) * 8 + r) * kL + m0 + (j & 1) * 8);
    // B blocks (k, n): (0, 0), (8, 0), (0, 8), (8, 8) -> b0b1, b2b3 of columns n0.., then of n0 + 8..
    const uint32_t b_addr =
        (uint32_t)__cvta_generic_to_shared(B + ((j & 1) * 8 + r) * kL + n0 + (j >> 1) * 8);
#pragma unroll
    for (int k = 0; k < kQ; k += 16) {
      uint32_t a[4], b01[4], b23[4];
      ldsm_x4_trans(a, a_addr + k * kL * (int)sizeof(T));
      ldsm_x4_trans(b01, b_addr + k * kL * (int)sizeof(T));
      ldsm_x4_trans(b23, b_addr + (k * kL + 16) * (int)sizeof(T));
      mma(v[0], a, b01[0], b01[1]);
      mma(v[1], a, b01[2], b01[3]);
      mma(v[2], a, b23[0], b23[1]);
      mma(v[3], a, b23[2], b23[3]);
    }
  }
  // Accumulator element (row g or g + 8, columns 2 c, 2 c + 1) of each m16n8 tile, g = lane / 4, c = lane % 4.
  __device__ __forceinline__ void store(float* out) const {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, m0 = 16 * (w >> 1), n0 = 32 * (w & 1);
    const int g = lane >> 2, c = lane & 3;
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      float* o = out + (m0 + g) * kSsdLd + n0 + 8 * t + 2 * c;
      *reinterpret_cast<float2*>(o) = make_float2(v[t][0], v[t][1]);
      *reinterpret_cast<float2*>(o + 8 * kSsdLd) = make_float2(v[t][2], v[t][3]);
    }
  }
};

// Elements of a 64x64 tile per thread.
constexpr int kPerThread = kQ * kQ / kSsdThreads;

// Loads per thread issued together before their stores, where a fill or a read-modify-write cannot keep all of
// its 16 in flight (edge tiles, clamped addresses): larger batches spill.
constexpr int kFillBatch = 8;

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

}  // namespace mamba::cuda::ssd
