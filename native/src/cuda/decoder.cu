// Whole-model Mamba-1 decoding on CUDA (mamba_decoder.h): one native call, one graph launch, per token.
// The TorchSharp step launches ~40 kernels per layer (~1,000 per token for 24 layers) and the host is the
// bottleneck; here a step is 4 kernels per layer plus 3, captured once in a CUDA graph and replayed:
//   embed      token ids -> residual (fp32 buffer); resets the argmax
//   per layer  in_proj  : RMSNorm (prologue) . W_in, epilogue = conv window update + conv + SiLU (x half), z half
//              x_proj   : xc . W_x -> (dt_low | B | C)
//              ssm      : dt_proj + softplus, state update, C.h, D skip, gate  (decode_step.cu's math)
//              out_proj : y . W_out, epilogue = residual add
//   lm_head    RMSNorm (prologue) . W_vocab, epilogue = logits + argmax (packed 64-bit atomicMax: value, lowest id)
//   finish     argmax -> next ids, fed back as the next step's input
// Activations are rounded to the model's dtype where the TorchSharp step rounds them (see mamba_decoder.h).
// The handle, the embedding and lm_head stages and the step's graph capture are shared with Mamba-2's decoder
// (decoder_common.cuh, decoder_mamba2.cu).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
#include "common/decoder_validate.h"
#include "decoder_common.cuh"

namespace mamba::cuda::decoder {
namespace {

constexpr int kStateThreads = 128;
constexpr int kMaxConvWidth = 8;

struct Mamba1Decoder;
template <typename T>
int enqueue(Mamba1Decoder* m, cudaStream_t s, bool launch);

// A Mamba-1 decoder: its descriptor, layers and buffers.
struct Mamba1Decoder : mamba_decoder {
  mamba_decoder_desc d;
  std::vector<mamba_decoder_layer> layers;
  float *res = nullptr, *xc = nullptr, *z = nullptr, *p = nullptr, *y = nullptr;
  unsigned long long* best = nullptr;
  int32_t* bad_token = nullptr;
  int enqueue(cudaStream_t s, bool launch) override {
    return d.dtype == MAMBA_BF16 ? decoder::enqueue<__nv_bfloat16>(this, s, launch) : decoder::enqueue<float>(this, s, launch);
  }
};

// ---- kernels -------------------------------------------------------------------------------------------

// in_proj's epilogue: the x half goes through the conv step of its channel (conv_update_kernel's math), the z
// half is kept for the gate.
template <typename T>
struct InProjEpilogue : EpilogueBase {
  int64_t inner;
  int width;
  const float* bias;
  T* conv_state;
  const float* conv_weight;
  const float* conv_bias;
  float* xc;
  float* z;
  __device__ void operator()(int64_t b, int, int64_t r, float v, unsigned long long*) const {
    if (bias) v += bias[r];
    const float q = round_to<T>(v);
    if (r >= inner) {
      z[b * inner + (r - inner)] = q;
      return;
    }
    const int64_t d = r;
    T* window = conv_state + (b * inner + d) * width;
    const float* w = conv_weight + d * width;
    float acc = conv_bias ? conv_bias[d] : 0.f;
    // All loads first (one memory latency, not width - 1 dependent ones), then the shifted stores.
    T kept[kMaxConvWidth];
#pragma unroll
    for (int k = 0; k < kMaxConvWidth - 1; ++k)
      if (k < width - 1) kept[k] = window[k + 1];
#pragma unroll
    for (int k = 0; k < kMaxConvWidth - 1; ++k)
      if (k < width - 1) {
        window[k] = kept[k];
        acc += w[k] * to_f(kept[k]);
      }
    window[width - 1] = static_cast<T>(q);
    acc += w[width - 1] * q;
    xc[b * inner + d] = silu(acc);
  }
};

// The SSM step (state_update_kernel of decode_step.cu, reading the decoder's buffers), G lanes per channel: lane n
// of a channel's group owns states n, n + G, ..., so the state and A_log reads are coalesced and the channel's
// Δ projection and C.h are shuffle reductions instead of one thread's serial loops.
template <typename T, int G>
__global__ void ssm_kernel(int64_t inner, int state, int rank, const T* __restrict__ dt_proj, const float* dt_bias,
                           const float* A_log, const float* D, float* ssm_state, const float* xc, const float* p,
                           const float* z, float* y) {
  extern __shared__ float proj[];  // this batch row's (dt_low | B | C)
  pdl_trigger();
  pdl_wait();
  const int64_t b = blockIdx.y;
  const int rows = rank + 2 * state;
  for (int j = threadIdx.x; j < rows; j += blockDim.x) proj[j] = p[b * rows + j];
  __syncthreads();
  const int lane = threadIdx.x % G;
  const int64_t d = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / G;
  const bool live = d < inner;
  const int64_t dd = live ? d : 0;  // dead groups compute on channel 0 and store nothing: shuffles need every lane
  const float* Bv = proj + rank;
  const float* Cv = proj + rank + state;
  const T* wdt = dt_proj + dd * rank;
  float dt = 0.f;
  for (int r = lane; r < rank; r += G) dt += load_f(wdt + r) * proj[r];
  for (int offset = G / 2; offset > 0; offset /= 2) dt += __shfl_xor_sync(0xffffffffu, dt, offset, G);
  dt = softplus(dt + (dt_bias ? dt_bias[dd] : 0.f));
  const float x = xc[b * inner + dd];
  const float dtx = dt * x;
  float* h = ssm_state + (b * inner + dd) * state;
  const float* al = A_log + dd * state;
  float out = 0.f;
  for (int n = lane; n < state; n += G) {
    const float hn = __expf(-dt * __expf(al[n])) * h[n] + dtx * Bv[n];
    if (live) h[n] = hn;
    out += Cv[n] * hn;
  }
  for (int offset = G / 2; offset > 0; offset /= 2) out += __shfl_xor_sync(0xffffffffu, out, offset, G);
  if (!live || lane != 0) return;
  if (D) out += D[d] * x;
  if (z) out *= silu(z[b * inner + d]);
  y[b * inner + d] = round_to<T>(out);
}

template <typename T>
int launch_ssm(const mamba_decoder_desc& d, const mamba_decoder_layer& l, const Mamba1Decoder* m, const Target& at) {
  const int64_t E = d.inner;
  const int N = (int)d.state, R = (int)d.dt_rank, rows = R + 2 * N;
  auto go = [&](auto kernel, int group) {
    const dim3 grid((unsigned)((E * group + kStateThreads - 1) / kStateThreads), (unsigned)d.batch);
    return launch_kernel(at, true, kernel, grid, kStateThreads, rows * sizeof(float), E, N, R,
                         static_cast<const T*>(l.dt_proj_weight), l.dt_bias, l.A_log, l.D, l.ssm_state, m->xc, m->p,
                         d.gated ? m->z : nullptr, m->y);
  };
  const cudaError_t e = N <= 4 ? go(ssm_kernel<T, 4>, 4) : N <= 8 ? go(ssm_kernel<T, 8>, 8)
                        : N <= 16 ? go(ssm_kernel<T, 16>, 16) : go(ssm_kernel<T, 32>, 32);
  MAMBA_CUDA_TRY(e, "decoder: ssm step launch");
  return MAMBA_OK;
}

// out_proj's epilogue: the residual add, rounded as the TorchSharp block rounds it.
template <typename T>
struct OutProjEpilogue : EpilogueBase {
  float* res;
  int64_t hidden;
  const float* bias;
  bool residual_fp32;
  __device__ void operator()(int64_t b, int, int64_t r, float v, unsigned long long*) const {
    float& slot = res[b * hidden + r];
    if (residual_fp32) slot += round_to<T>(bias ? v + bias[r] : v);                  // fp32 + out_proj(y) in T
    else slot = round_to<T>(bias ? slot + round_to<T>(v + bias[r]) : slot + v);    // addmm in T
  }
};


// The whole step on stream s (captured into the graph, or launched directly).
template <typename T>
int enqueue(Mamba1Decoder* m, cudaStream_t s, bool launch) {
  const mamba_decoder_desc& d = m->d;
  const Target at{s, m->sms, launch, m->pdl};
  const int batch = (int)d.batch, H = (int)d.hidden, E = (int)d.inner, N = (int)d.state, R = (int)d.dt_rank;
  const int W = (int)d.width, proj_rows = R + 2 * N, in_rows = d.gated ? 2 * E : E;
  if (int rc = launch_embed<T>(d.embedding, d.vocab, H, batch, d.token_ids, m->res, m->best, m->bad_token, at)) return rc;
  for (const mamba_decoder_layer& l : m->layers) {
    InProjEpilogue<T> in_epi;
    in_epi.inner = E; in_epi.width = W; in_epi.bias = l.in_proj_bias; in_epi.conv_state = static_cast<T*>(l.conv_state);
    in_epi.conv_weight = l.conv_weight; in_epi.conv_bias = l.conv_bias; in_epi.xc = m->xc; in_epi.z = m->z;
    if (int rc = launch_gemv(static_cast<const T*>(l.in_proj_weight), in_rows, H, batch,
                             NormInput<T>{m->res, l.norm_weight, d.norm_eps}, in_epi, at))
      return rc;
    StoreEpilogue p_epi;
    p_epi.out = m->p; p_epi.ld = proj_rows;
    if (int rc = launch_gemv(static_cast<const T*>(l.x_proj_weight), proj_rows, E, batch, CopyInput{m->xc}, p_epi, at))
      return rc;
    if (launch)
      if (int rc = launch_ssm<T>(d, l, m, at)) return rc;
    OutProjEpilogue<T> out_epi;
    out_epi.res = m->res; out_epi.hidden = H; out_epi.bias = l.out_proj_bias; out_epi.residual_fp32 = d.residual_in_fp32;
    if (int rc = launch_gemv(static_cast<const T*>(l.out_proj_weight), H, E, batch, CopyInput{m->y}, out_epi, at))
      return rc;
  }
  return launch_lm_head<T>(d.lm_head, d.norm_f_weight, d.norm_eps, d.vocab, d.sample_vocab, H, batch, m->res, d.logits,
                           m->best, m->bad_token, d.next_ids, d.token_ids, at);
}

// ---- argument checks that need the device --------------------------------------------------------------

int check_pointers(const mamba_decoder_desc* d, int* device) {
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
    const mamba_decoder_layer& l = d->layer_weights[i];
    const std::string at = "layer " + std::to_string(i) + " ";
    check(l.norm_weight, at + "norm_weight", 4);
    check(l.in_proj_weight, at + "in_proj_weight", t);
    check(l.in_proj_bias, at + "in_proj_bias", 4);
    check(l.conv_weight, at + "conv_weight", 4);
    check(l.conv_bias, at + "conv_bias", 4);
    check(l.x_proj_weight, at + "x_proj_weight", t);
    check(l.dt_proj_weight, at + "dt_proj_weight", t);
    check(l.dt_bias, at + "dt_bias", 4);
    check(l.A_log, at + "A_log", 4);
    check(l.D, at + "D", 4);
    check(l.out_proj_weight, at + "out_proj_weight", t);
    check(l.out_proj_bias, at + "out_proj_bias", 4);
    check(l.conv_state, at + "conv_state", t);
    check(l.ssm_state, at + "ssm_state", 4);
  }
  return rc;
}

}  // namespace
}  // namespace mamba::cuda::decoder

MAMBA_API int32_t mamba_decoder_create_cuda(const mamba_decoder_desc* desc, mamba_decoder** decoder) {
  using namespace mamba::cuda::decoder;
  mamba::clear_error();
  if (!decoder) return invalid("the decoder out-pointer is NULL");
  *decoder = nullptr;
  if (int rc = mamba::check_decoder_desc(desc)) return rc;
  // The GEMV stages one input row of hidden or inner floats in shared memory.
  if (desc->hidden * 4 > kMaxShared || desc->inner * 4 > kMaxShared)
    return mamba::fail(MAMBA_ERR_UNSUPPORTED, "decoder: hidden and inner must be at most " + std::to_string(kMaxShared / 4));
  int device = 0;
  if (int rc = check_pointers(desc, &device)) return rc;
  DeviceScope scope(device);
  auto* m = new Mamba1Decoder();
  m->d = *desc;
  m->layers.assign(desc->layer_weights, desc->layer_weights + desc->layers);
  m->d.layer_weights = nullptr;  // read during create only
  m->device = device;
  m->batch = desc->batch;
  m->next_ids = desc->next_ids;
  m->use_graph = desc->use_graph != 0;
  m->pdl = pdl_supported(device, desc->batch, desc->dtype == MAMBA_BF16);
  const int64_t B = desc->batch, H = desc->hidden, E = desc->inner, P = desc->dt_rank + 2 * desc->state;
  // best (2 floats each, padded to 16 bytes), res, xc, z, y, p, bad
  const int64_t best_floats = (2 * B + 3) / 4 * 4;
  const int64_t floats = best_floats + B * (H + 3 * E + P) + 2 * B;
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
  // 16-byte aligned rows where H and E are multiples of 4, at every batch, for the staging copies' vector loads (at
  // batch 1, best's 8 bytes put every row 8 bytes off and the copies on their scalar loops).
  m->res = base + best_floats;
  m->xc = m->res + B * H;
  m->z = m->xc + B * E;
  m->y = m->z + B * E;
  m->p = m->y + B * E;
  m->bad_token = reinterpret_cast<int32_t*>(m->p + B * P);
  if (int rc = m->enqueue(nullptr, /*launch=*/false)) {
    delete m;
    return rc;
  }
  *decoder = m;
  return MAMBA_OK;
}

// Steps either kind of decoder (Mamba-1 here, Mamba-2 in decoder_mamba2.cu) through its enqueue.
MAMBA_API int32_t mamba_decoder_step_cuda(mamba_decoder* m, void* stream, int64_t* host_next_ids) {
  using namespace mamba::cuda::decoder;
  mamba::clear_error();
  if (!m) return invalid("decoder is NULL");
  DeviceScope scope(m->device);
  auto s = static_cast<cudaStream_t>(stream);
  if (!m->use_graph) {
    if (int rc = m->enqueue(s, true)) return rc;
  } else {
    if (!m->exec) {
      // Capture on the decoder's own stream (the legacy stream cannot be captured), thread-local so other
      // threads' CUDA work (libtorch's) is not affected; replay on the caller's stream.
      MAMBA_CUDA_TRY(cudaStreamBeginCapture(m->capture, cudaStreamCaptureModeThreadLocal), "decoder: begin capture");
      const int rc = m->enqueue(m->capture, true);
      cudaGraph_t graph = nullptr;
      const cudaError_t e = cudaStreamEndCapture(m->capture, &graph);
      if (rc != MAMBA_OK || e != cudaSuccess) {
        if (graph) cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        return rc != MAMBA_OK ? rc : mamba::cuda::cuda_fail(e, "decoder: end capture");
      }
      m->graph = graph;
      MAMBA_CUDA_TRY(cudaGraphInstantiateWithFlags(&m->exec, m->graph, 0), "decoder: graph instantiation");
    }
    MAMBA_CUDA_TRY(cudaGraphLaunch(m->exec, s), "decoder: graph launch");
  }
  if (host_next_ids) {
    if (!m->pinned_ids)
      MAMBA_CUDA_TRY(cudaMallocHost(&m->pinned_ids, m->batch * sizeof(int64_t)), "decoder: page-locked id buffer");
    MAMBA_CUDA_TRY(cudaMemcpyAsync(m->pinned_ids, m->next_ids, m->batch * sizeof(int64_t), cudaMemcpyDeviceToHost, s),
                   "decoder: reading the next ids");
    MAMBA_CUDA_TRY(cudaStreamSynchronize(s), "decoder: step");
    std::memcpy(host_next_ids, m->pinned_ids, m->batch * sizeof(int64_t));
  }
  return MAMBA_OK;
}

MAMBA_API int32_t mamba_decoder_destroy(mamba_decoder* m) {
  using namespace mamba::cuda::decoder;
  mamba::clear_error();
  if (!m) return MAMBA_OK;
  {
    DeviceScope scope(m->device);
    const cudaError_t e = cudaDeviceSynchronize();  // a replay may still read the buffers
    delete m;
    if (e != cudaSuccess) return mamba::cuda::cuda_fail(e, "decoder: waiting for its last step");
  }
  return MAMBA_OK;
}

MAMBA_API double mamba_cuda_peak_bandwidth(int32_t device) {
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0.0;
  }
  return 2.0 * clock_khz * 1000.0 * (bus_bits / 8.0);  // double data rate
}
