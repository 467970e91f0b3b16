// Matrix-vector products of the whole-model decoder (decoder.cu): Y[b, r] = sum_k W[r, k] * X[b, k] for a
// row-major weight W of T (fp32 or bf16) and a small batch of fp32 inputs.
// At batch 1 a decoding step is a sweep over every weight, so what counts is keeping enough loads in flight:
// each group of TPR threads owns a row, reads 16 bytes of it per load, and all groups of a block share the
// block's inputs, which a prologue stages once per batch tile in shared memory (optionally applying the block's
// RMSNorm on the way, so the norm costs no launch of its own). An epilogue receives every finished (b, r) value:
// the projections' different endings (conv step, residual add, argmax) are what makes fusing them worthwhile.
// Every reduction has a fixed order: results do not depend on scheduling.
#pragma once
#include <cstdint>
#include "dtype.cuh"

namespace mamba::cuda::decoder {

constexpr int kThreads = 256;

// Programmatic dependent launch (sm_90): kernels of a step are launched so that the next one starts while this one
// runs (launch_dependents right away), issues what does not depend on its predecessor (weight prefetches), and waits
// for the predecessor's completion and memory (griddepcontrol.wait) before reading or writing any activation or
// state. The wait covers every earlier kernel, since each one waited for its own predecessor before it ended.
// Both are no-ops for a kernel launched without the attribute, and below sm_90.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
constexpr int kMaxTile = 8;  // batch rows per tile: each weight element read from DRAM once per tile

// v rounded to T, as a float: where the TorchSharp step stores an activation in the model's dtype.
template <typename T> __device__ __forceinline__ float round_to(float v);
template <> __device__ __forceinline__ float round_to<float>(float v) { return v; }
template <> __device__ __forceinline__ float round_to<__nv_bfloat16>(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

// Eight consecutive weights (16 or 32 bytes, 16-byte aligned) as floats.
__device__ __forceinline__ void load8(const float* p, float w[8]) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(p)), b = __ldg(reinterpret_cast<const float4*>(p) + 1);
  w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float w[8]) {
  const uint4 u = __ldg(reinterpret_cast<const uint4*>(p));
  const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    // bf16 -> fp32 is a 16-bit shift: the low half is element 2i, the high half element 2i + 1.
    w[2 * i] = __uint_as_float(words[i] << 16);
    w[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}

// Copies n floats (rows b0.. of a row-major buffer are contiguous) into shared memory with independent 16-byte
// loads, four per thread in flight: a staging loop of dependent load/store pairs costs a memory latency per element
// and was most of a kernel's time at batch 1 and the bulk of it at large batches.
__device__ __forceinline__ void stage_copy(float* dst, const float* src, int n) {
  if ((reinterpret_cast<uintptr_t>(src) & 15) == 0 && n % 4 == 0) {
    const float4* s4 = reinterpret_cast<const float4*>(src);
    float4* d4 = reinterpret_cast<float4*>(dst);
    const int n4 = n / 4;
    for (int i = threadIdx.x; i < n4; i += 4 * kThreads) {
      float4 v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u)
        if (i + u * kThreads < n4) v[u] = s4[i + u * kThreads];
#pragma unroll
      for (int u = 0; u < 4; ++u)
        if (i + u * kThreads < n4) d4[i + u * kThreads] = v[u];
    }
  } else {
    for (int i = threadIdx.x; i < n; i += 4 * kThreads) {
      float v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u)
        if (i + u * kThreads < n) v[u] = src[i + u * kThreads];
#pragma unroll
      for (int u = 0; u < 4; ++u)
        if (i + u * kThreads < n) dst[i + u * kThreads] = v[u];
    }
  }
}

// xs[t * cols + k] = f(xs[t * cols + k], t, k, g[k]) for the tile's rows: a prologue's last pass (a norm's weight).
// The global loads of four columns per thread are issued before any is used: a loop that loads and uses one value at a
// time pays an L2 latency per column.
template <class F>
__device__ __forceinline__ void scale_columns(float* xs, const float* __restrict__ g, int tile, int cols, F f) {
  for (int k0 = threadIdx.x; k0 < cols; k0 += 4 * kThreads) {
    float w[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int k = k0 + u * kThreads;
      w[u] = k < cols ? g[k] : 0.f;
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int k = k0 + u * kThreads;
      if (k < cols)
        for (int t = 0; t < tile; ++t) xs[t * cols + k] = f(xs[t * cols + k], t, k, w[u]);
    }
  }
}

// Prologue: copies rows b0..b0+tile-1 of a (batch, cols) fp32 buffer into xs.
struct CopyInput {
  const float* x;
  __device__ void stage(float* xs, int64_t b0, int tile, int cols) const {
    stage_copy(xs, x + b0 * cols, tile * cols);
    __syncthreads();
  }
};

// Prologue: RMSNorm of residual rows as the TorchSharp block does it: the residual rounded to T, normalised in
// fp32, scaled by the weight, rounded to T. One warp sums each row's squares (tile <= 8 warps).
template <typename T>
struct NormInput {
  const float* residual;
  const float* weight;
  float eps;
  __device__ void stage(float* xs, int64_t b0, int tile, int cols) const {
    __shared__ float scale[kThreads / 32];
    stage_copy(xs, residual + b0 * cols, tile * cols);
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (warp < tile) {
      float sum = 0.f;
      for (int k = lane; k < cols; k += 32) {
        const float v = round_to<T>(xs[warp * cols + k]);
        sum += v * v;
      }
      for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      if (lane == 0) scale[warp] = rsqrtf(sum / (float)cols + eps);
    }
    __syncthreads();
    scale_columns(xs, weight, tile, cols,
                  [&](float x, int t, int, float w) { return round_to<T>(round_to<T>(x) * scale[t] * w); });
    __syncthreads();
  }
};

// Y = W X for rows [blockIdx.x * RPB * iters, ...) of W, all batch rows; Epi gets each (b, r, value).
// TPR threads per row (32: a warp; 256: the block), BT batch rows per tile. The body of gemv_kernel and
// gemv_kernel_4, which differ in their launch bounds only.
template <typename T, int BT, int TPR, class Pro, class Epi>
__device__ __forceinline__ void gemv_body(const T* __restrict__ W, int rows, int cols, int batch, int iters, bool vec,
                                          const Pro& pro, const Epi& epi) {
  extern __shared__ float4 xs_raw[];
  float* xs = reinterpret_cast<float*>(xs_raw);  // [BT][cols]
  __shared__ float red[kThreads / 32][BT];
  __shared__ unsigned long long epi_scratch[BT];
  constexpr int RPB = kThreads / TPR;
  const int g = threadIdx.x / TPR, lane = threadIdx.x % TPR;
  const int64_t row_base = (int64_t)blockIdx.x * RPB * iters;
  pdl_trigger();
  // The weights do not depend on the previous kernels: ask for the first rows' lines now, so their DRAM latency
  // overlaps the previous kernel's tail (with programmatic launch) and the staging of the inputs.
  for (int it = 0; it < iters && it < 2; ++it) {
    const int64_t r = row_base + (int64_t)it * RPB + g;
    if (r < rows) {
      const char* line = reinterpret_cast<const char*>(W + r * cols);
      const int bytes = cols * (int)sizeof(T);
      for (int off = lane * 128; off < bytes; off += TPR * 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(line + off));
      epi.prefetch(r, lane, batch);
    }
  }
  pdl_wait();
  for (int b0 = 0; b0 < batch; b0 += BT) {
    const int tile = batch - b0 < BT ? batch - b0 : BT;
    if (threadIdx.x < BT) epi.tile_begin(epi_scratch);
    pro.stage(xs, b0, tile, cols);  // ends with __syncthreads
    for (int it = 0; it < iters; ++it) {
      const int64_t r = row_base + (int64_t)it * RPB + g;
      float acc[BT];
#pragma unroll
      for (int t = 0; t < BT; ++t) acc[t] = 0.f;
      if (r < rows) {
        const T* wr = W + r * cols;
        if (vec) {
          const int chunks = cols / 8;
#pragma unroll 4
          for (int c = lane; c < chunks; c += TPR) {
            float w[8];
            load8(wr + c * 8, w);
#pragma unroll
            for (int t = 0; t < BT; ++t) {
              const float4* x4 = reinterpret_cast<const float4*>(xs + t * cols + c * 8);
              const float4 a = x4[0], b = x4[1];
              float s = acc[t];
              s = fmaf(w[0], a.x, s); s = fmaf(w[1], a.y, s); s = fmaf(w[2], a.z, s); s = fmaf(w[3], a.w, s);
              s = fmaf(w[4], b.x, s); s = fmaf(w[5], b.y, s); s = fmaf(w[6], b.z, s); s = fmaf(w[7], b.w, s);
              acc[t] = s;
            }
          }
        } else {
          for (int k = lane; k < cols; k += TPR) {
            const float w = load_f(wr + k);
#pragma unroll
            for (int t = 0; t < BT; ++t) acc[t] = fmaf(w, xs[t * cols + k], acc[t]);
          }
        }
      }
#pragma unroll
      for (int t = 0; t < BT; ++t)
        for (int offset = 16; offset > 0; offset /= 2) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], offset);
      // Lane t of the row's first warp finishes batch row t: the epilogues' memory latencies overlap.
      float v = 0.f;
      if (TPR > 32) {
        if (threadIdx.x % 32 == 0)
#pragma unroll
          for (int t = 0; t < BT; ++t) red[threadIdx.x / 32][t] = acc[t];
        __syncthreads();
        if (lane < BT)
          for (int k = 0; k < TPR / 32; ++k) v += red[g * (TPR / 32) + k][lane];
        __syncthreads();
      } else {
#pragma unroll
        for (int t = 0; t < BT; ++t)
          if (t == lane) v = acc[t];
      }
      if (lane < tile && r < rows) epi(b0 + lane, lane, r, v, epi_scratch);
    }
    __syncthreads();
    if (threadIdx.x < tile) epi.tile_end(b0 + threadIdx.x, threadIdx.x, epi_scratch);
    __syncthreads();
  }
}

template <typename T, int BT, int TPR, class Pro, class Epi>
__global__ void __launch_bounds__(kThreads) gemv_kernel(const T* __restrict__ W, int rows, int cols, int batch, int iters,
                                                        bool vec, Pro pro, Epi epi) {
  gemv_body<T, BT, TPR>(W, rows, cols, batch, iters, vec, pro, epi);
}

// gemv_kernel at batch 1 with at most 64 registers, so that 4 blocks fit on an SM (launch_gemv_tile picks it for an
// epilogue whose kBlocksPerSmAtBatch1 asks for 4).
template <typename T, int TPR, class Pro, class Epi>
__global__ void __launch_bounds__(kThreads, 4) gemv_kernel_4(const T* __restrict__ W, int rows, int cols, int batch,
                                                             int iters, bool vec, Pro pro, Epi epi) {
  gemv_body<T, 1, TPR>(W, rows, cols, batch, iters, vec, pro, epi);
}

// Epilogues: operator()(b, t, r, value, scratch) per result (t = b's index in the tile); tile_begin(scratch) by
// threads 0..BT-1 before a tile, tile_end(b, t, scratch) by thread t after it. scratch: BT words of shared memory.
// prefetch(r, lane, batch): by each of row r's threads (lane 0..TPR-1) with the weight prefetches, before the kernel
// waits for its predecessor: hints (prefetch instructions only, never loads) for what the epilogue of row r reads.
// kBlocksPerSmAtBatch1: 1, or 4 for gemv_kernel_4 at batch 1 (at most 64 registers: 4 blocks on an SM): a matrix
// whose row groups outnumber 3 blocks of 72 registers per SM then runs in one wave.
struct EpilogueBase {
  static constexpr int kBlocksPerSmAtBatch1 = 1;
  __device__ void tile_begin(unsigned long long*) const {}
  __device__ void tile_end(int64_t, int, unsigned long long*) const {}
  __device__ void prefetch(int64_t, int, int) const {}
};

// p[b, r] = value (x_proj: Δ's low-rank input, B and C in fp32, as the fused decode step keeps them).
struct StoreEpilogue : EpilogueBase {
  float* out;
  int64_t ld;
  __device__ void operator()(int64_t b, int, int64_t r, float v, unsigned long long*) const { out[b * ld + r] = v; }
};

}  // namespace mamba::cuda::decoder
