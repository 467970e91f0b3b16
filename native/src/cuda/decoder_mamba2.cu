// Whole-model Mamba-2 decoding on CUDA (mamba2_decoder_create_cuda in mamba_decoder.h): one native call, one graph
// launch, per token, stepped and destroyed like the Mamba-1 decoder (decoder.cu). A step is 3 kernels per layer plus 3:
//   embed      token ids -> residual (fp32 buffer); resets the argmax
//   per layer  in_proj  : RMSNorm (prologue) . W_in, epilogue = z | conv window update + conv + SiLU (x B C) | dt
//              ssd      : dt softplus + clamp, decay, state update, C.h, D skip; a warp per (head, channel) row
//              out_proj : gated RMSNorm (prologue, decoder_gated_norm.cuh) . W_out, epilogue = residual add
//   lm_head    RMSNorm (prologue) . W_vocab, epilogue = logits + argmax;  finish: next ids
// The math is mamba_ssd_step's (ssd_step.cu) and GatedRmsNorm's; rounding follows the TorchSharp step.
// The conv runs in in_proj's epilogue, once per channel: B and C, shared by the heads of a group, are complete
// before the ssd kernel starts.
#include <cstdint>
#include <string>
#include <vector>
#include "common/decoder_validate.h"
#include "decoder_common.cuh"
#include "decoder_gated_norm.cuh"

namespace mamba::cuda::decoder {
namespace {

constexpr int kMaxConvWidth2 = 8;
// 4 warps: 4 (head, channel) rows per block. At batch 1 and the 130M shape (1536 rows) that is 384 blocks, at most 3
// per SM of an H100 (12 warps), where 8-warp blocks put 2 on some SMs (16 warps) and 1 on others: the busiest SM
// sets the kernel time.
constexpr int kSsdThreads = 128;

struct Mamba2Decoder;
template <typename T>
int enqueue2(Mamba2Decoder* m, cudaStream_t s, bool launch);

// A Mamba-2 decoder: its descriptor, layers and buffers (fp32, batch-major).
struct Mamba2Decoder : mamba_decoder {
  mamba2_decoder_desc d;
  std::vector<mamba2_decoder_layer> layers;
  float *res = nullptr;  // (B, H) residual stream
  float *z = nullptr;    // (B, E) gate, rounded to T
  float *xbc = nullptr;  // (B, K) conv output after SiLU
  float *dt = nullptr;   // (B, NH) in_proj's dt rows, rounded to T (before bias and softplus)
  float *y = nullptr;    // (B, E) SSD output, rounded to T
  unsigned long long* best = nullptr;
  int32_t* bad_token = nullptr;
  int enqueue(cudaStream_t s, bool launch) override {
    return d.dtype == MAMBA_BF16 ? enqueue2<__nv_bfloat16>(this, s, launch) : enqueue2<float>(this, s, launch);
  }
};

// ---- kernels -------------------------------------------------------------------------------------------

// in_proj's epilogue. Rows [0, E): z. Rows [E, E + K): one conv channel each, whose window takes the new input
// (rounded to T, as the TorchSharp step stores it) and whose output goes through SiLU in fp32. Rows past that: dt.
template <typename T>
struct InProj2Epilogue : EpilogueBase {
  // At batch 1, in_proj's 3352 rows at the 130M shape are 419 blocks of 8: with 72 registers (fp32) an H100 holds 3
  // blocks per SM, 396 at once, and the last 23 blocks ran as a second wave; at 64 registers 4 fit (528).
  static constexpr int kBlocksPerSmAtBatch1 = 4;
  int64_t inner, channels, heads;
  int width;
  const float* bias;
  T* conv_state;
  const float* conv_weight;
  const float* conv_bias;
  float* z;
  float* xbc;
  float* dt;
  // A conv channel's window (lane b: sequence b's), weights and bias are read after the row's dot product: at batch 1
  // that read is the last latency of the row, and the window, touched once a step, is no longer in L2. Asked for
  // at the kernel's start, they arrive while the weights stream. Hints only: nothing is read before the wait.
  __device__ void prefetch(int64_t r, int lane, int batch) const {
    const int64_t c = r - inner;
    if (c < 0 || c >= channels) return;
    if (lane < batch && lane < 32)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(conv_state + ((int64_t)lane * channels + c) * width));
    if (lane == 0) {
      asm volatile("prefetch.global.L2 [%0];" ::"l"(conv_weight + c * width));
      if (conv_bias) asm volatile("prefetch.global.L2 [%0];" ::"l"(conv_bias + c));
    }
  }
  __device__ void operator()(int64_t b, int, int64_t r, float v, unsigned long long*) const {
    if (bias) v += bias[r];
    const float q = round_to<T>(v);
    if (r < inner) {
      z[b * inner + r] = q;
      return;
    }
    const int64_t c = r - inner;
    if (c >= channels) {
      dt[b * heads + (c - channels)] = q;
      return;
    }
    T* window = conv_state + (b * channels + c) * width;
    const float* w = conv_weight + c * width;
    float acc = conv_bias ? conv_bias[c] : 0.f;
    // All loads first (one memory latency), then the shifted stores; the sum in ssd_conv_kernel's order.
    T kept[kMaxConvWidth2];
#pragma unroll
    for (int k = 0; k < kMaxConvWidth2 - 1; ++k)
      if (k < width - 1) kept[k] = window[k + 1];
#pragma unroll
    for (int k = 0; k < kMaxConvWidth2 - 1; ++k)
      if (k < width - 1) {
        window[k] = kept[k];
        acc += w[k] * to_f(kept[k]);
      }
    window[width - 1] = static_cast<T>(q);
    acc += w[width - 1] * q;
    xbc[b * channels + c] = silu(acc);
  }
};

struct SsdArgs {
  int64_t inner, channels;
  int heads, head_dim, groups, state;
  float dt_min, dt_max;
  const float* dt_bias;
  const float* A_log;
  const float* D;
  float* ssm_state;
  const float* xbc;
  const float* dt;
  float* y;
};

// The SSD step of one (batch, head, channel) row per warp: row = h * P + p of the inner width, its state row of N
// floats. NI = ceil(N / 32) states per lane, lane n owning n, n + 32, ...: every load of the row is issued before the
// first use, and the sum C.h runs in ssd_state_kernel's order (lane-strided, then the xor shuffle).
// The state row and the head's parameters are loaded before the kernel waits for in_proj: no kernel of this step
// writes them (the state was last written by this kernel in the previous step, which ended before this step's first
// kernel, launched without programmatic dependence, started), so with programmatic launch their DRAM latency (786 KB
// of state a layer at the 130M shape) overlaps in_proj's tail instead of following it.
template <typename T, int NI>
__global__ void __launch_bounds__(kSsdThreads) ssd_row_kernel(const SsdArgs a) {
  pdl_trigger();
  const int lane = threadIdx.x & 31;
  const int64_t row = (int64_t)blockIdx.x * (kSsdThreads / 32) + (threadIdx.x >> 5);
  const bool live = row < a.inner;
  const int64_t b = blockIdx.y;
  const int h = live ? (int)(row / a.head_dim) : 0, N = a.state;
  const int g = h / (a.heads / a.groups);
  float* hs = a.ssm_state + (b * a.inner + row) * N;
  float s[NI], bv[NI], cv[NI];
  float dt_bias = 0.f, A_log = 0.f, D = 0.f;
  if (live) {
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int n = lane + 32 * i;
      if (n < N) s[i] = hs[n];
    }
    dt_bias = a.dt_bias ? a.dt_bias[h] : 0.f;
    A_log = a.A_log[h];
    D = a.D ? a.D[h] : 0.f;
  }
  pdl_wait();
  if (!live) return;  // whole warps only, after the wait: no block-wide synchronisation below
  float dt = a.dt[b * a.heads + h] + dt_bias;
  dt = fminf(fmaxf(softplus(dt), a.dt_min), a.dt_max);
  const float decay = __expf(-dt * __expf(A_log));
  const float* v = a.xbc + b * a.channels;
  const float x = v[row], dtx = dt * x;
  const float* Bv = v + a.inner + (int64_t)g * N;
  const float* Cv = v + a.inner + (int64_t)a.groups * N + (int64_t)g * N;
#pragma unroll
  for (int i = 0; i < NI; ++i) {
    const int n = lane + 32 * i;
    if (n < N) {
      bv[i] = Bv[n];
      cv[i] = Cv[n];
    }
  }
  float out = 0.f;
#pragma unroll
  for (int i = 0; i < NI; ++i) {
    const int n = lane + 32 * i;
    if (n < N) {
      const float hn = decay * s[i] + dtx * bv[i];
      hs[n] = hn;
      out += cv[i] * hn;
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) out += __shfl_xor_sync(0xffffffffu, out, o);
  if (lane == 0) a.y[b * a.inner + row] = round_to<T>(out + D * x);
}

template <typename T>
int launch_ssd(const SsdArgs& a, int batch, const Target& at) {
  const dim3 grid((unsigned)((a.inner + kSsdThreads / 32 - 1) / (kSsdThreads / 32)), (unsigned)batch);
  auto go = [&](auto kernel) { return launch_kernel(at, true, kernel, grid, kSsdThreads, 0, a); };
  const cudaError_t e = a.state <= 32 ? go(ssd_row_kernel<T, 1>) : a.state <= 64 ? go(ssd_row_kernel<T, 2>)
                        : a.state <= 128 ? go(ssd_row_kernel<T, 4>) : go(ssd_row_kernel<T, 8>);
  MAMBA_CUDA_TRY(e, "decoder: ssd step launch");
  return MAMBA_OK;
}

// out_proj's epilogue: the residual add after out_proj's output is rounded to T (linear, then the block's add).
template <typename T>
struct OutProj2Epilogue : EpilogueBase {
  float* res;
  int64_t hidden;
  const float* bias;
  bool residual_fp32;
  __device__ void operator()(int64_t b, int, int64_t r, float v, unsigned long long*) const {
    float& slot = res[b * hidden + r];
    const float mixed = round_to<T>(bias ? v + bias[r] : v);
    slot = residual_fp32 ? slot + mixed : round_to<T>(slot + mixed);
  }
};

// ---- launching -----------------------------------------------------------------------------------------

template <typename T>
int enqueue2(Mamba2Decoder* m, cudaStream_t s, bool launch) {
  const mamba2_decoder_desc& d = m->d;
  const Target at{s, m->sms, launch, m->pdl};
  const int batch = (int)d.batch, H = (int)d.hidden, NH = (int)d.heads, P = (int)d.head_dim;
  const int G = (int)d.groups, N = (int)d.state, W = (int)d.width;
  const int E = NH * P, K = E + 2 * G * N, in_rows = E + K + NH;
  if (int rc = launch_embed<T>(d.embedding, d.vocab, H, batch, d.token_ids, m->res, m->best, m->bad_token, at)) return rc;
  for (const mamba2_decoder_layer& l : m->layers) {
    InProj2Epilogue<T> in_epi;
    in_epi.inner = E; in_epi.channels = K; in_epi.heads = NH; in_epi.width = W; in_epi.bias = l.in_proj_bias;
    in_epi.conv_state = static_cast<T*>(l.conv_state); in_epi.conv_weight = l.conv_weight; in_epi.conv_bias = l.conv_bias;
    in_epi.z = m->z; in_epi.xbc = m->xbc; in_epi.dt = m->dt;
    if (int rc = launch_gemv(static_cast<const T*>(l.in_proj_weight), in_rows, H, batch,
                             NormInput<T>{m->res, l.norm_weight, d.norm_eps}, in_epi, at))
      return rc;
    if (launch) {
      const SsdArgs a{E, K, NH, P, G, N, d.dt_min, d.dt_max, l.dt_bias, l.A_log, l.D, l.ssm_state, m->xbc, m->dt, m->y};
      if (int rc = launch_ssd<T>(a, batch, at)) return rc;
    }
    OutProj2Epilogue<T> out_epi;
    out_epi.res = m->res; out_epi.hidden = H; out_epi.bias = l.out_proj_bias; out_epi.residual_fp32 = d.residual_in_fp32;
    const GatedNormInput<T> gated{m->y, m->z, l.gate_norm_weight, d.gate_norm_eps, (int)(E / d.norm_groups)};
    if (int rc = launch_gemv(static_cast<const T*>(l.out_proj_weight), H, E, batch, gated, out_epi, at)) return rc;
  }
  return launch_lm_head<T>(d.lm_head, d.norm_f_weight, d.norm_eps, d.vocab, d.sample_vocab, H, batch, m->res, d.logits,
                           m->best, m->bad_token, d.next_ids, d.token_ids, at);
}

// ---- argument checks that need the device --------------------------------------------------------------

int check_pointers2(const mamba2_decoder_desc* d, int* device) {
  if (int rc = embedding_device(d->embedding, device)) return rc;
  const size_t t = d->dtype == MAMBA_BF16 ? 2 : 4;
  int rc = 0;
  auto check = [&](const void* p, const std::string& name, size_t align) {
    if (rc == 0) rc = check_pointer(p, name, *device, align);
  };
  check(d->embedding, "embedding", t);
  check(d->lm_head, "lm_head", t);
  check(d->norm_f_weight, "norm_f_weight", 4);
  check(d->token_ids, "token_ids", 8);
  check(d->next_ids, "next_ids", 8);
  check(d->logits, "logits", 4);
  for (int64_t i = 0; i < d->layers && rc == 0; ++i) {
    const mamba2_decoder_layer& l = d->layer_weights[i];
    const std::string at = "layer " + std::to_string(i) + " ";
    check(l.norm_weight, at + "norm_weight", 4);
    check(l.in_proj_weight, at + "in_proj_weight", t);
    check(l.in_proj_bias, at + "in_proj_bias", 4);
    check(l.conv_weight, at + "conv_weight", 4);
    check(l.conv_bias, at + "conv_bias", 4);
    check(l.dt_bias, at + "dt_bias", 4);
    check(l.A_log, at + "A_log", 4);
    check(l.D, at + "D", 4);
    check(l.gate_norm_weight, at + "gate_norm_weight", 4);
    check(l.out_proj_weight, at + "out_proj_weight", t);
    check(l.out_proj_bias, at + "out_proj_bias", 4);
    check(l.conv_state, at + "conv_state", t);
    check(l.ssm_state, at + "ssm_state", 4);
  }
  return rc;
}

}  // namespace
}  // namespace mamba::cuda::decoder

MAMBA_API int32_t mamba2_decoder_create_cuda(const mamba2_decoder_desc* desc, mamba_decoder** decoder) {
  using namespace mamba::cuda::decoder;
  mamba::clear_error();
  if (!decoder) return invalid("the decoder out-pointer is NULL");
  *decoder = nullptr;
  if (int rc = mamba::check_mamba2_decoder_desc(desc)) return rc;
  const int64_t B = desc->batch, H = desc->hidden, NH = desc->heads, E = NH * desc->head_dim;
  const int64_t K = E + 2 * desc->groups * desc->state;
  // The GEMVs stage one input row of hidden (in_proj, lm_head) or inner (out_proj) floats in shared memory.
  if (H * 4 > kMaxShared || E * 4 > kMaxShared)
    return mamba::fail(MAMBA_ERR_UNSUPPORTED, "decoder: hidden and heads * head_dim must be at most " + std::to_string(kMaxShared / 4));
  if (E + K + NH > INT32_MAX / 2) return mamba::fail(MAMBA_ERR_UNSUPPORTED, "decoder: in_proj has too many rows");
  int device = 0;
  if (int rc = check_pointers2(desc, &device)) return rc;
  DeviceScope scope(device);
  auto* m = new Mamba2Decoder();
  m->d = *desc;
  m->layers.assign(desc->layer_weights, desc->layer_weights + desc->layers);
  m->d.layer_weights = nullptr;  // read during create only
  m->device = device;
  m->batch = B;
  m->next_ids = desc->next_ids;
  m->use_graph = desc->use_graph != 0;
  m->pdl = pdl_supported(device, desc->batch, desc->dtype == MAMBA_BF16);
  // best (2 floats each, padded to 16 bytes), res, z, y, xbc, dt, bad
  const int64_t best_floats = (2 * B + 3) / 4 * 4;
  const int64_t floats = best_floats + B * (H + 2 * E + K + NH) + B;
  cudaError_t e = cudaDeviceGetAttribute(&m->sms, cudaDevAttrMultiProcessorCount, device);
  if (e == cudaSuccess) e = cudaMalloc(&m->scratch, floats * sizeof(float) + 16);
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&m->capture, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    delete m;
    return mamba::cuda::cuda_fail(e, "decoder: allocating its buffers");
  }
  auto* base = static_cast<float*>(m->scratch);
  m->best = reinterpret_cast<unsigned long long*>(base);  // first: 8-byte aligned
  // 16-byte aligned rows where H and E are multiples of 4, at every batch: the staging copies' and the gated norm's
  // vector loads (at batch 1, best's 8 bytes put res, z and y 8 bytes off and the prologues on their scalar loops).
  m->res = base + best_floats;
  m->z = m->res + B * H;
  m->y = m->z + B * E;
  m->xbc = m->y + B * E;
  m->dt = m->xbc + B * K;
  m->bad_token = reinterpret_cast<int32_t*>(m->dt + B * NH);
  if (int rc = m->enqueue(nullptr, /*launch=*/false)) {
    delete m;
    return rc;
  }
  *decoder = m;
  return MAMBA_OK;
}
