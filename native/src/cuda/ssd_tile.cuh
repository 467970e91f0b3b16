// Block-level 64x64 matrix products in shared memory, the building block of the chunked SSD kernels.
// Every operand tile is K-major: A[k * kSsdLd + m], B[k * kSsdLd + n] for k, m, n < 64, and the product
// out[m][n] = sum_k A[k][m] * B[k][n] accumulates in fp32. Operands are zero-padded by the fills, so every
// product runs the full K = 64 and no bounds are checked inside the product.
// Two accumulators with one interface: SimtAcc (fp32 FMA, 4x4 outputs per thread) and TcAcc (tensor cores,
// wmma m16n16k8 TF32 with fp32 accumulation, two 16x16 fragments per warp). Results leave through store()
// into a shared tile, so epilogues never depend on the accumulator's register layout.
#pragma once
#include <cuda_runtime.h>
#include <mma.h>

namespace mamba::cuda::ssd {

constexpr int kQ = 64;          // chunk length and tile edge
constexpr int kSsdLd = 68;      // tile row pitch in floats: 16-byte rows for float4 and wmma, fewer bank conflicts
constexpr int kTileFloats = kQ * kSsdLd;
constexpr int kSsdThreads = 256;

// fp32 FMA: thread (ty, tx) = (tid / 16, tid % 16) owns rows 4 ty..4 ty+3 and columns 4 tx..4 tx+3.
struct SimtAcc {
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

// Tensor cores: warp w owns output rows 16 (w / 2).. and columns 32 (w % 2)..+31 (two fragments).
// TF32 keeps 10 mantissa bits: exact for bf16 operands, about 5e-4 relative for fp32 ones.
struct TcAcc {
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float> f[2];
  __device__ __forceinline__ void zero() {
    nvcuda::wmma::fill_fragment(f[0], 0.f);
    nvcuda::wmma::fill_fragment(f[1], 0.f);
  }
  __device__ __forceinline__ void mm(const float* A, const float* B) {
    using namespace nvcuda::wmma;
    const int w = threadIdx.x >> 5, m0 = 16 * (w >> 1), n0 = 32 * (w & 1);
#pragma unroll 2
    for (int k = 0; k < kQ; k += 8) {
      fragment<matrix_a, 16, 16, 8, precision::tf32, col_major> a;
      fragment<matrix_b, 16, 16, 8, precision::tf32, row_major> b0, b1;
      load_matrix_sync(a, A + k * kSsdLd + m0, kSsdLd);
      load_matrix_sync(b0, B + k * kSsdLd + n0, kSsdLd);
      load_matrix_sync(b1, B + k * kSsdLd + n0 + 16, kSsdLd);
#pragma unroll
      for (int i = 0; i < a.num_elements; ++i) a.x[i] = __float_to_tf32(a.x[i]);
#pragma unroll
      for (int i = 0; i < b0.num_elements; ++i) {
        b0.x[i] = __float_to_tf32(b0.x[i]);
        b1.x[i] = __float_to_tf32(b1.x[i]);
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

// Fills a K-major tile: tile[k][m] = f(k, m) for k, m < 64. KFast walks k fastest (for sources contiguous
// along k, so global reads coalesce); otherwise m fastest.
template <bool KFast, typename F>
__device__ __forceinline__ void fill_tile(float* tile, F&& f) {
#pragma unroll 4  // several loads in flight per thread
  for (int i = threadIdx.x; i < kQ * kQ; i += kSsdThreads) {
    const int k = KFast ? (i & (kQ - 1)) : (i >> 6), m = KFast ? (i >> 6) : (i & (kQ - 1));
    tile[k * kSsdLd + m] = f(k, m);
  }
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
