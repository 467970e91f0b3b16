// What the Mamba-1 and Mamba-2 whole-model decoders (decoder.cu, decoder_mamba2.cu) share: the handle, the
// embedding and lm_head stages with the greedy choice, the GEMV launcher and the device-side argument checks.
// Included by those two files only; everything but the handle is local to each.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include "check.cuh"
#include "decoder_gemv.cuh"
#include "decoder_gemv_mma.cuh"
#include "scan_math.cuh"

// The handle of mamba_decoder.h: what stepping and destroying need, whatever the mixer. A decoder runs its whole step
// on a stream through enqueue (launch false: only the one-time preparations, e.g. shared memory opt-ins).
struct mamba_decoder {
  int device = 0;
  int sms = 1;
  int64_t batch = 0;
  int64_t* next_ids = nullptr;
  int64_t* pinned_ids = nullptr;  // page-locked copy of next_ids: a copy to pageable memory is staged by the driver
  bool use_graph = true;
  bool pdl = false;  // programmatic dependent launch between the step's kernels (sm_90 and later)
  void* scratch = nullptr;  // one allocation: each decoder's buffers
  cudaStream_t capture = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  virtual int enqueue(cudaStream_t s, bool launch) = 0;
  virtual ~mamba_decoder() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    if (capture) cudaStreamDestroy(capture);
    if (scratch) cudaFree(scratch);
    if (pinned_ids) cudaFreeHost(pinned_ids);
    (void)cudaGetLastError();
  }
};

namespace mamba::cuda::decoder {
namespace {

constexpr int kMaxShared = 96 * 1024;  // shared memory a GEMV tile may take (opt-in above 48 KB)

int invalid(const std::string& m) { return fail(MAMBA_ERR_INVALID_ARGUMENT, "decoder: " + m); }

// ---- embedding and lm_head -----------------------------------------------------------------------------

template <typename T>
__global__ void embed_kernel(const T* __restrict__ embedding, int64_t vocab, int hidden, const int64_t* tokens,
                             float* res, unsigned long long* best, int32_t* bad) {
  pdl_trigger();
  pdl_wait();  // launched without the attribute (the step's first kernel): returns at once
  const int64_t b = blockIdx.x;
  int64_t id = tokens[b];
  const bool out_of_range = id < 0 || id >= vocab;
  if (out_of_range) id = 0;  // never read outside the table; finish reports the row
  for (int k = threadIdx.x; k < hidden; k += blockDim.x) res[b * hidden + k] = load_f(embedding + id * hidden + k);
  if (threadIdx.x == 0) {
    best[b] = 0;  // below every real key
    bad[b] = out_of_range;
  }
}

// Order-preserving map of a float's bits onto uint32 (NaN above everything: torch's argmax picks NaN first).
__device__ __forceinline__ uint32_t ordered(float f) {
  if (isnan(f)) return 0xffffffffu;
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float unordered(uint32_t o) {
  if (o == 0xffffffffu) return __int_as_float(0x7fc00000);
  return __uint_as_float((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}

// lm_head's epilogue: logits (rounded to T, like linear(...).to(fp32)) and the greedy choice. A key is
// (ordered value, ~id): the largest key is the largest value and, among equal values, the lowest id.
template <typename T>
struct LmHeadEpilogue {
  float* logits;
  int64_t vocab, sample_vocab;
  unsigned long long* best;
  static constexpr int kBlocksPerSmAtBatch1 = 1;
  __device__ void tile_begin(unsigned long long* s) const { s[threadIdx.x] = 0; }
  __device__ void prefetch(int64_t, int, int) const {}
  __device__ void operator()(int64_t b, int t, int64_t r, float v, unsigned long long* s) const {
    const float q = round_to<T>(v);
    if (logits) logits[b * vocab + r] = q;
    if (r < sample_vocab)
      atomicMax(s + t, ((unsigned long long)ordered(q) << 32) | (0xffffffffu - (uint32_t)r));
  }
  __device__ void tile_end(int64_t b, int t, unsigned long long* s) const {
    if (s[t] != 0) atomicMax(best + b, s[t]);
  }
};

__global__ void finish_kernel(int64_t batch, const unsigned long long* best, const int32_t* bad, int64_t* next,
                              int64_t* tokens) {
  pdl_wait();
  const int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (b >= batch) return;
  const unsigned long long key = best[b];
  int64_t id = 0xffffffffu - (uint32_t)(key & 0xffffffffu);
  if (!isfinite(unordered((uint32_t)(key >> 32)))) id = -1;
  if (bad[b]) id = -2;
  next[b] = id;
  tokens[b] = id >= 0 ? id : 0;
}

// ---- launching -----------------------------------------------------------------------------------------

// Where a GEMV runs: the SM count decides how many rows a block takes; launch false only opts the kernel into the
// shared memory it needs (done once at create: cudaFuncSetAttribute has no place inside a graph capture).
struct Target {
  cudaStream_t stream;
  int sms;
  bool launch;
  bool pdl;
};

// Whether a decoder on `device` launches its kernels with programmatic dependent launch: sm_90 and later, at batch 1
// or with bf16 weights, unless MAMBA_DECODER_PDL=0 (for comparing both in one benchmark run). Measured on an H100
// (docs/results/2026-12-07-decode-pdl-tensor-cores.md): 4% faster at batch 1 and 1-5% with the bf16 tensor-core GEMV,
// but 16% slower for fp32 batch tiles, whose early-launched blocks hold shared memory the running kernel needs.
bool pdl_supported(int device, int64_t batch, bool bf16) {
  const char* v = std::getenv("MAMBA_DECODER_PDL");
  if (v && v[0] == '0') return false;
  if (batch > 1 && !bf16) return false;
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return major >= 9;
}

// Launches kernel<<<grid, block, smem, at.stream>>>(args...), as a programmatic dependent of the stream's previous
// kernel when at.pdl (the kernel must then call pdl_wait before touching what earlier kernels write).
template <typename... Params, typename... Args>
cudaError_t launch_kernel(const Target& at, bool dependent, void (*kernel)(Params...), dim3 grid, dim3 block,
                          size_t smem, Args... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = at.stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = at.pdl && dependent ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

template <typename T, int BT, int TPR, class Pro, class Epi>
int launch_gemv_tile(const T* W, int rows, int cols, int batch, const Pro& pro, const Epi& epi, const Target& at) {
  constexpr int RPB = kThreads / TPR;
  // Every block stages its inputs (BT x cols floats from L2) before it reads a row: tall matrices (the vocabulary)
  // give each block several row groups, enough blocks remaining to keep ~4 per SM loading weights.
  const int groups = (rows + RPB - 1) / RPB;
  const int iters = groups / (4 * at.sms) > 1 ? groups / (4 * at.sms) : 1;
  const unsigned blocks = (unsigned)((groups + iters - 1) / iters);
  const size_t smem = (size_t)BT * cols * sizeof(float);
  const bool vec = cols % 8 == 0 && reinterpret_cast<uintptr_t>(W) % 16 == 0;
  auto kernel = gemv_kernel<T, BT, TPR, Pro, Epi>;
  if constexpr (BT == 1 && Epi::kBlocksPerSmAtBatch1 == 4) kernel = gemv_kernel_4<T, TPR, Pro, Epi>;
  if (!at.launch) {
    // Above 48 KB of dynamic plus static shared memory a kernel must opt in.
    if (smem > 40 * 1024)
      MAMBA_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                     "decoder: shared memory opt-in");
    return MAMBA_OK;
  }
  // Batch tiles stage up to 8 rows of inputs in shared memory: launched early, their waiting blocks would take it from
  // the running kernel (measured: fp32 batch 16 and 64 slower by 16% with programmatic launch, batch 1 faster by 4%).
  MAMBA_CUDA_TRY(launch_kernel(at, BT == 1, kernel, blocks, kThreads, smem, W, rows, cols, batch, iters, vec, pro, epi),
                 "decoder: matrix-vector launch");
  return MAMBA_OK;
}

// Picks the batch tile (as large as the batch and shared memory allow) and threads per row: a warp, except for
// short matrices (x_proj's R + 2N rows), whose few rows would otherwise leave most SMs idle.
template <typename T, class Pro, class Epi>
int launch_gemv(const T* W, int rows, int cols, int batch, const Pro& pro, const Epi& epi, const Target& at) {
  // bf16 at batch >= 8 and kMmaMinRows rows or more: tensor cores (decoder_gemv_mma.cuh).
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    if (rows >= kMmaMinRows) {
      bool handled = false;
      const int rc = launch_gemv_mma(W, rows, cols, batch, pro, epi, at, &handled);
      if (rc != MAMBA_OK || handled) return rc;
    }
  }
  int bt = batch >= 5 ? 8 : batch >= 2 ? 4 : 1;
  while (bt > 1 && (int64_t)bt * cols * 4 > kMaxShared) bt /= 2;
  if (bt == 2) bt = 1;
  const bool shortm = rows < 512;
  if (bt == 8) return shortm ? launch_gemv_tile<T, 8, 256>(W, rows, cols, batch, pro, epi, at)
                             : launch_gemv_tile<T, 8, 32>(W, rows, cols, batch, pro, epi, at);
  if (bt == 4) return shortm ? launch_gemv_tile<T, 4, 256>(W, rows, cols, batch, pro, epi, at)
                             : launch_gemv_tile<T, 4, 32>(W, rows, cols, batch, pro, epi, at);
  return shortm ? launch_gemv_tile<T, 1, 256>(W, rows, cols, batch, pro, epi, at)
                : launch_gemv_tile<T, 1, 32>(W, rows, cols, batch, pro, epi, at);
}

// The first kernel of a step: token ids -> the residual stream (fp32), the argmax reset.
template <typename T>
int launch_embed(const void* embedding, int64_t vocab, int hidden, int batch, const int64_t* tokens, float* res,
                 unsigned long long* best, int32_t* bad, const Target& at) {
  if (!at.launch) return MAMBA_OK;
  MAMBA_CUDA_TRY(launch_kernel(at, false, embed_kernel<T>, batch, kThreads, 0, static_cast<const T*>(embedding), vocab,
                               hidden, tokens, res, best, bad),
                 "decoder: embedding launch");
  return MAMBA_OK;
}

// The last kernels of a step: final RMSNorm . lm_head -> logits and argmax, then the next ids.
template <typename T>
int launch_lm_head(const void* lm_head, const float* norm_f, float eps, int64_t vocab, int64_t sample_vocab, int hidden,
                   int batch, float* res, float* logits, unsigned long long* best, const int32_t* bad, int64_t* next_ids,
                   int64_t* token_ids, const Target& at) {
  LmHeadEpilogue<T> lm_epi{logits, vocab, sample_vocab, best};
  if (int rc = launch_gemv(static_cast<const T*>(lm_head), (int)vocab, hidden, batch, NormInput<T>{res, norm_f, eps},
                           lm_epi, at))
    return rc;
  if (at.launch) {
    MAMBA_CUDA_TRY(launch_kernel(at, true, finish_kernel, (unsigned)((batch + 127) / 128), 128, 0, (int64_t)batch, best,
                                 bad, next_ids, token_ids),
                   "decoder: finish launch");
  }
  return MAMBA_OK;
}

// ---- argument checks that need the device --------------------------------------------------------------

// p must be device (or managed) memory of `device`, aligned to its element size.
int check_pointer(const void* p, const std::string& name, int device, size_t align) {
  if (!p) return MAMBA_OK;  // required pointers were checked by check_decoder_desc
  cudaPointerAttributes a{};
  const cudaError_t e = cudaPointerGetAttributes(&a, p);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return invalid(name + " is not CUDA memory (" + cudaGetErrorName(e) + ")");
  }
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)
    return invalid(name + " is host memory; the decoder needs device pointers");
  if (a.device != device)
    return invalid(name + " is on device " + std::to_string(a.device) + ", the embedding on device " + std::to_string(device));
  if (reinterpret_cast<uintptr_t>(p) % align != 0) return invalid(name + " is not aligned to its element size");
  return MAMBA_OK;
}

// The device of the embedding table, which every other pointer must share.
int embedding_device(const void* embedding, int* device) {
  cudaPointerAttributes a{};
  const cudaError_t e = cudaPointerGetAttributes(&a, embedding);
  if (e != cudaSuccess || (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)) {
    (void)cudaGetLastError();
    return invalid(std::string("embedding is not CUDA device memory") + (e != cudaSuccess ? std::string(" (") + cudaGetErrorName(e) + ")" : ""));
  }
  *device = a.device;
  return MAMBA_OK;
}

// Runs the rest of a call on the decoder's device, restoring the caller's current device afterwards.
struct DeviceScope {
  int previous = -1;
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous) == cudaSuccess && previous != device) cudaSetDevice(device);
    else previous = -1;
  }
  ~DeviceScope() {
    if (previous >= 0) cudaSetDevice(previous);
  }
};

}  // namespace
}  // namespace mamba::cuda::decoder
