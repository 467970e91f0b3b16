// The decoder's matrix-vector products on tensor cores, for bf16 weights at batch >= kMmaMinBatch: Y[b, r] =
// sum_k W[r, k] * X[b, k] as mma.sync m16n8k16 (bf16 in, fp32 accumulation), W's rows the A operand and the batch
// rows the B operand. gemv_kernel (decoder_gemv.cuh) multiplies every weight with every batch row's fp32 input
// read from shared memory, so from batch ~8 on it is bound by shared memory, not by the weight stream; here a
// batch of up to 64 costs a handful of MMAs per 16 x 32 weight tile and each weight is read from DRAM once.
// The bf16 inputs lose nothing: in a bf16 model the decoder rounds every projection's input to bf16 already
// (round_to<T>), as the TorchSharp step's bf16 linear() sees it.
//
// Layout. A block (8 warps) owns m-tiles of 16 rows, `iters` of them one after another; its warps split K: warp w
// takes the 32-wide k-chunks [w * cpw, (w + 1) * cpw). For a chunk, lane (g, q) (g = lane / 4, q = lane % 4)
// loads k = 8q .. 8q + 7 of rows g and g + 8 as two 16-byte loads (a warp covers 8 rows x 64 contiguous bytes
// per load), and the same 8 k of batch row g from shared memory. A dot product may permute k as long as A and B
// permute it alike: the first MMA of the chunk takes elements 0-3 of each lane's 8 (as the fragment's k slots
// 2q, 2q+1, 2q+8, 2q+9), the second elements 4-7. So no shuffles, no ldmatrix: the staged inputs are stored
// chunk by chunk, a chunk's 32 k of each batch row in 64 bytes, and a warp's B load reads 512 contiguous bytes.
// The warps' partial sums meet in shared memory and are added in warp order (a fixed order: results do not
// depend on scheduling), and each (b, r) goes to the epilogue as in gemv_kernel.
//
// Inputs come from the same prologues as gemv_kernel's (CopyInput, NormInput, the Mamba-2 gated norm): they
// stage at most kMaxTile fp32 rows at a time (NormInput: a warp per row), which are converted to bf16 into the
// batch buffer. A batch that does not fit in shared memory (64 rows of 1536 columns) goes in passes, each
// re-reading the weights (from L2: such matrices are small); the epilogue's tile is a pass.
#pragma once
#include <algorithm>
#include <cstdint>
#include "check.cuh"
#include "decoder_gemv.cuh"

namespace mamba::cuda::decoder {

constexpr int kMmaMinBatch = 8;  // below, gemv_kernel's one tile of <= 8 rows reads each weight once too
constexpr int kMmaWarps = kThreads / 32;
constexpr int kMmaRows = 16;     // rows of an m-tile
// Fewer rows stay on gemv_kernel (launch_gemv): one block per m-tile leaves most SMs idle. x_proj's R + 2N = 80 rows
// at the 130M shape made 5 blocks, 11.6 us per call at batch 16 on an H100 (ncu, 2026-12-07), 24% of the bf16 step,
// where gemv_kernel's 80 one-row blocks took 6.7 us in fp32.
constexpr int kMmaMinRows = 256;
constexpr int kMmaMaxBatch = 64; // batch rows of a pass (8 n-tiles of 8)

// A 16-byte weight load that bypasses L1 (each weight is used once). volatile: issued where written, before the
// kernel waits for its predecessor.
__device__ __forceinline__ uint4 load_weights16(const __nv_bfloat16* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);  // .x (lo) in the low half: k order in memory
  return *reinterpret_cast<const uint32_t*>(&h);
}

// c += A (16 x 16, rows g and g + 8 in a0..a3) * B (16 x 8, column g in b0, b1), fp32 accumulation.
__device__ __forceinline__ void mma_bf16_16816(float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                               uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
  __trap();  // the launcher never picks this kernel below sm_80
#endif
}

// Shared memory of a block: the bf16 batch buffer (chunks x nb x 64 bytes), the prologue's fp32 rows (srows x
// cols) and the warps' partial sums (8 x 16 x (nb | 8) floats: nb | 8 rows apart, the float2 stores of a
// half-warp hit distinct banks).
inline size_t gemv_mma_smem(int cols, int nb, int srows) {
  const size_t chunks = (size_t)(cols + 31) / 32;
  return chunks * nb * 64 + (size_t)srows * cols * 4 + (size_t)kMmaWarps * kMmaRows * (nb | 8) * 4;
}

// NT: n-tiles (8 batch rows) a pass may have, KC: k-chunks a warp holds in registers at once (its whole share of
// K when cols <= 8 * 32 * KC; otherwise it goes in rounds). nb: batch rows per pass (multiple of 8, <= 8 * NT),
// srows: rows per prologue call (<= kMaxTile), iters: m-tiles per block.
// Two blocks per SM (<= 128 registers) where that costs no spills: batch <= 16 and <= 1024 columns. Otherwise one:
// 64 weight registers (KC 8) or 32 accumulators (NT 8) do not fit in 128 with the rest, and NT 8 takes most of
// the shared memory anyway. (ptxas: 120-128 registers with two, 146-184 with one, no spills.)
template <int NT, int KC>
constexpr int gemv_mma_blocks_per_sm() {
  return NT * KC <= 8 ? 2 : 1;
}

template <int NT, int KC, class Pro, class Epi>
__global__ void __launch_bounds__(kThreads, gemv_mma_blocks_per_sm<NT, KC>())
    gemv_mma_kernel(const __nv_bfloat16* __restrict__ W, int rows, int cols, int batch, int nb, int srows, int iters,
                    Pro pro, Epi epi) {
  pdl_trigger();
  extern __shared__ uint4 mma_smem[];
  __shared__ unsigned long long epi_scratch[8 * NT];
  const int chunks = (cols + 31) / 32, rsb = nb | 8;
  uint4* xb = mma_smem;                                                  // [chunks][nb][4 x 16 bytes]
  float* xs = reinterpret_cast<float*>(xb + (size_t)chunks * nb * 4);  // [srows][cols]
  float* red = xs + (size_t)srows * cols;                               // [warp][16][rsb]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int cpw = (chunks + kMmaWarps - 1) / kMmaWarps;
  const int c_begin = min(chunks, warp * cpw), c_end = min(chunks, c_begin + cpw);
  const int mtiles = (rows + kMmaRows - 1) / kMmaRows;
  const int mt_begin = blockIdx.x * iters, mt_end = min(mtiles, mt_begin + iters);

  uint4 lo[KC], hi[KC];  // rows g and g + 8 of an m-tile, k = 32c + 8q .. + 7 of chunks c0 .. c0 + KC - 1
  auto load_a = [&](int mt, int c0) {
    const int r_lo = mt * kMmaRows + g, r_hi = r_lo + 8;
    const __nv_bfloat16* p_lo = W + (int64_t)min(r_lo, rows - 1) * cols + 8 * q;
    const __nv_bfloat16* p_hi = W + (int64_t)min(r_hi, rows - 1) * cols + 8 * q;
#pragma unroll
    for (int j = 0; j < KC; ++j) {
      const int c = c0 + j;
      const bool in_k = c < c_end && c * 32 + 8 * q < cols;  // cols % 8 == 0: a lane's 8 are all in or all out
      lo[j] = in_k && r_lo < rows ? load_weights16(p_lo + c * 32) : make_uint4(0, 0, 0, 0);
      hi[j] = in_k && r_hi < rows ? load_weights16(p_hi + c * 32) : make_uint4(0, 0, 0, 0);
    }
  };
  // The weights do not depend on earlier kernels: the first m-tile's loads overlap the wait and the staging.
  if (mt_begin < mt_end) load_a(mt_begin, c_begin);
  pdl_wait();

  for (int b0 = 0; b0 < batch; b0 += nb) {
    const int tile = min(nb, batch - b0), nt_used = (tile + 7) / 8;
    if (threadIdx.x < nb) epi.tile_begin(epi_scratch);
    // Stage the pass's rows: the prologue writes fp32 rows into xs, converted here into the chunked bf16 buffer.
    // Rows tile..nb-1 of the last n-tile stay as they are: a B column only reaches its own output column, which no
    // epilogue reads. The k past cols (the last chunk's tail) must be zeros: 0 * stale NaN would be NaN.
    const int per_row = chunks * 4;  // 16-byte pieces: piece p of a row holds k = 8p .. 8p + 7
    for (int s0 = 0; s0 < tile; s0 += srows) {
      const int n = min(srows, tile - s0);
      pro.stage(xs, b0 + s0, n, cols);  // ends with __syncthreads
      for (int i = threadIdx.x; i < n * per_row; i += kThreads) {
        const int t = i / per_row, p = i - t * per_row, k = 8 * p;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (k < cols) {
          const float4 x0 = *reinterpret_cast<const float4*>(xs + (size_t)t * cols + k);
          const float4 x1 = *reinterpret_cast<const float4*>(xs + (size_t)t * cols + k + 4);
          v = make_uint4(pack_bf16x2(x0.x, x0.y), pack_bf16x2(x0.z, x0.w), pack_bf16x2(x1.x, x1.y),
                         pack_bf16x2(x1.z, x1.w));
        }
        xb[((size_t)(p / 4) * nb + s0 + t) * 4 + p % 4] = v;
      }
      __syncthreads();  // xs is free for the next call, xb complete for the MMAs
    }

    for (int mt = mt_begin; mt < mt_end; ++mt) {
      float acc[NT][4];
#pragma unroll
      for (int n = 0; n < NT; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
      for (int c0 = c_begin; c0 < c_end; c0 += KC) {
        if (c0 != c_begin) load_a(mt, c0);  // the first round was loaded ahead
#pragma unroll
        for (int j = 0; j < KC; ++j) {
          const int c = c0 + j;
          if (c < c_end) {
            const uint4* xc = xb + ((size_t)c * nb + g) * 4 + q;
#pragma unroll
            for (int n = 0; n < NT; ++n)
              if (n < nt_used) {
                const uint4 x = xc[n * 8 * 4];  // batch row 8n + g
                mma_bf16_16816(acc[n], lo[j].x, hi[j].x, lo[j].y, hi[j].y, x.x, x.y);
                mma_bf16_16816(acc[n], lo[j].z, hi[j].z, lo[j].w, hi[j].w, x.z, x.w);
              }
          }
        }
      }
      // The next m-tile's weights (or this block's first, for the next pass) are in flight during the sums and
      // the epilogue.
      const int next = mt + 1 < mt_end ? mt + 1 : b0 + nb < batch ? mt_begin : -1;
      if (next >= 0) load_a(next, c_begin);
      // C fragment: acc[n][0..1] = rows g, batch 8n + 2q (+1); acc[n][2..3] = row g + 8.
      float* rw = red + (size_t)warp * kMmaRows * rsb;
#pragma unroll
      for (int n = 0; n < NT; ++n)
        if (n < nt_used) {
          *reinterpret_cast<float2*>(rw + g * rsb + 8 * n + 2 * q) = make_float2(acc[n][0], acc[n][1]);
          *reinterpret_cast<float2*>(rw + (g + 8) * rsb + 8 * n + 2 * q) = make_float2(acc[n][2], acc[n][3]);
        }
      __syncthreads();
      // Consecutive threads take consecutive rows of one batch row: the epilogues' stores coalesce.
      for (int i = threadIdx.x; i < kMmaRows * tile; i += kThreads) {
        const int rl = i % kMmaRows, t = i / kMmaRows;
        const int64_t r = (int64_t)mt * kMmaRows + rl;
        if (r < rows) {
          float v = 0.f;
#pragma unroll
          for (int w = 0; w < kMmaWarps; ++w) v += red[((size_t)w * kMmaRows + rl) * rsb + t];
          epi(b0 + t, t, r, v, epi_scratch);
        }
      }
      __syncthreads();  // red and, after the last m-tile, xb are free again
    }
    if (threadIdx.x < tile) epi.tile_end(b0 + threadIdx.x, threadIdx.x, epi_scratch);
    __syncthreads();
  }
}

// How a product runs on tensor cores, or why not (ok false): the pass size and prologue rows that fit the
// device's shared memory (`limit` bytes of dynamic shared memory per block).
struct GemvMmaPlan {
  bool ok = false;
  int nb = 0, srows = 0, kc = 0;
  size_t smem = 0;
  size_t sm_smem = 0;  // shared memory of an SM, for the blocks that fit at once
};

inline GemvMmaPlan plan_gemv_mma(const void* W, int cols, int batch, int cc_major, size_t limit) {
  GemvMmaPlan p;
  if (cc_major < 8 || batch < kMmaMinBatch || cols < 8 || cols % 8 != 0 || reinterpret_cast<uintptr_t>(W) % 16 != 0)
    return p;
  const int chunks = (cols + 31) / 32, cpw = (chunks + kMmaWarps - 1) / kMmaWarps;
  p.kc = cpw <= 4 ? 4 : 8;
  const int nt_max = batch <= 16 ? 2 : kMmaMaxBatch / 8;
  // Prologue calls of kMaxTile rows first (each call is a serial chain of loads and barriers), then the largest
  // pass: a second pass re-reads the weights, a smaller prologue call only adds a few barriers.
  for (int s = kMaxTile; s >= 1; s /= 2)
    for (int passes = 1;; ++passes) {
      const int nb = ((batch + passes - 1) / passes + 7) / 8 * 8;
      if (nb > 8 * nt_max) continue;
      if (gemv_mma_smem(cols, nb, s) <= limit) {
        p.ok = true;
        p.nb = nb;
        p.srows = s;
        p.smem = gemv_mma_smem(cols, nb, s);
        return p;
      }
      if (nb == 8) break;
    }
  return p;
}

template <int NT, int KC, class Pro, class Epi, class At>
int launch_gemv_mma_as(const __nv_bfloat16* W, int rows, int cols, int batch, const GemvMmaPlan& plan, const Pro& pro,
                       const Epi& epi, const At& at) {
  auto kernel = gemv_mma_kernel<NT, KC, Pro, Epi>;
  if (!at.launch) {
    if (plan.smem > 40 * 1024)
      MAMBA_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)plan.smem),
                     "decoder: shared memory opt-in (tensor-core matrix-vector)");
    return MAMBA_OK;
  }
  // One wave: as many blocks as fit on the SMs at once, each taking `iters` m-tiles (tall matrices: the
  // vocabulary), so every block stages its inputs once and no SM gets a second round of blocks. Blocks per SM from
  // the launch bounds (registers) and shared memory (1 KB reserved per block, 2 KB of static use at most), not
  // from the occupancy API: this runs inside the graph capture.
  const int by_smem = (int)(plan.sm_smem / (plan.smem + 3072));
  const int per_sm = std::max(1, std::min(gemv_mma_blocks_per_sm<NT, KC>(), by_smem));
  const int mtiles = (rows + kMmaRows - 1) / kMmaRows, slots = per_sm * at.sms;
  const int iters = (mtiles + slots - 1) / slots;
  const unsigned blocks = (unsigned)((mtiles + iters - 1) / iters);
  MAMBA_CUDA_TRY(launch_kernel(at, true, kernel, blocks, kThreads, plan.smem, W, rows, cols, batch, plan.nb, plan.srows,
                               iters, pro, epi),
                 "decoder: tensor-core matrix-vector launch");
  return MAMBA_OK;
}

// Runs Y = W X on tensor cores when plan_gemv_mma allows (bf16 weights, batch >= 8, cols % 8 == 0, W 16-byte
// aligned, sm_80+, enough shared memory); *handled false leaves the product to gemv_kernel. At: the launcher's
// Target (stream, sms, launch: false only opts the kernel into its shared memory, at create).
template <class Pro, class Epi, class At>
int launch_gemv_mma(const __nv_bfloat16* W, int rows, int cols, int batch, const Pro& pro, const Epi& epi, const At& at,
                    bool* handled) {
  *handled = false;
  if (batch < kMmaMinBatch || rows < 1) return MAMBA_OK;
  int device = 0, major = 0, optin = 0, per_sm = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return MAMBA_OK;
  }
  // The kernel's static shared memory (epilogue scratch, the prologues' few floats) comes on top.
  GemvMmaPlan plan = plan_gemv_mma(W, cols, batch, major, optin > 2048 ? (size_t)optin - 2048 : 0);
  if (!plan.ok) return MAMBA_OK;
  plan.sm_smem = (size_t)per_sm;
  *handled = true;
  const bool wide = batch > 16;
  if (plan.kc == 4)
    return wide ? launch_gemv_mma_as<8, 4>(W, rows, cols, batch, plan, pro, epi, at)
                : launch_gemv_mma_as<2, 4>(W, rows, cols, batch, plan, pro, epi, at);
  return wide ? launch_gemv_mma_as<8, 8>(W, rows, cols, batch, plan, pro, epi, at)
              : launch_gemv_mma_as<2, 8>(W, rows, cols, batch, plan, pro, epi, at);
}

}  // namespace mamba::cuda::decoder
