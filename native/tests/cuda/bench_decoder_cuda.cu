// A whole-model CUDA decoder alone (mamba_decoder_* / mamba2_decoder_*), without .NET: the GPU time of one step (graph
// replays back to back, CUDA events) and the time of a step followed by reading the next ids to the host (what a
// generation loop pays per token before its own bookkeeping), next to the weight bytes a step reads and the device's
// peak DRAM bandwidth. Random weights (values do not change the work). Run it with MAMBA_DECODER_PDL=0 and without to
// compare programmatic dependent launch on the same machine. With MAMBA_BENCH_PROFILE=1 it runs, per dtype and batch,
// a few warm-up steps and then ONE step between cudaProfilerStart and cudaProfilerStop, and no timing: the per-kernel
// timeline of one token under `ncu --profile-from-start off` (run_models_device.sh does that).
//   bench_decoder_cuda [--arch mamba1|mamba2] [layers 24] [hidden 768] [vocab 50280] [batches 1,16,64]
// mamba1 (the default): inner 2 * hidden, state 16, dt_rank hidden / 16, conv 4. mamba2 (or MAMBA_BENCH_ARCH=mamba2):
// the 130M Mamba2 shape, inner 2 * hidden in heads of 64, state 128, 1 group, conv 4, the gated norm over the whole
// inner width; the SSD state (heads x 64 x 128 fp32 a layer) is read and written every step on top of the weights.
#include <cuda_bf16.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "mamba_native.h"

#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                            \
    }                                                                                          \
  } while (0)

__global__ void fill_kernel(float* p, int64_t n, float scale, float offset, uint32_t seed) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
    p[i] = offset + scale * ((h & 0xffffff) / 16777216.f - 0.5f);
  }
}
__global__ void to_bf16_kernel(const float* s, __nv_bfloat16* d, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    d[i] = __float2bfloat16(s[i]);
}

struct Arena {
  std::vector<void*> blocks;
  uint32_t seed = 1;
  float* f32(int64_t n, float scale, float offset = 0.f) {
    float* p;
    CK(cudaMalloc(&p, n * 4));
    fill_kernel<<<256, 256>>>(p, n, scale, offset, seed++ * 7919u);
    blocks.push_back(p);
    return p;
  }
  void* mat(int64_t n, bool bf16, float scale) {
    float* f = f32(n, scale);
    if (!bf16) return f;
    __nv_bfloat16* b;
    CK(cudaMalloc(&b, n * 2));
    to_bf16_kernel<<<256, 256>>>(f, b, n);
    blocks.push_back(b);
    return b;
  }
  ~Arena() {
    for (void* p : blocks) cudaFree(p);
  }
};

// Times (or, under MAMBA_BENCH_PROFILE=1, profiles) one decoder and prints its row. false when a step failed.
bool run_decoder(mamba_decoder* dec, int64_t B, bool bf16, double bytes, double peak) {
  std::vector<int64_t> host(B);
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  bool ok = true;
  for (int i = 0; i < 5 && ok; ++i) ok = mamba_decoder_step_cuda(dec, s, host.data()) == MAMBA_OK;
  const char* profile = std::getenv("MAMBA_BENCH_PROFILE");
  if (!ok) {
    std::printf("step failed: %s\n", mamba_last_error());
  } else if (profile && profile[0] == '1') {
    CK(cudaStreamSynchronize(s));
    CK(cudaProfilerStart());
    ok = mamba_decoder_step_cuda(dec, s, host.data()) == MAMBA_OK;
    CK(cudaStreamSynchronize(s));
    CK(cudaProfilerStop());
    std::printf("%s batch %3lld: one step profiled\n", bf16 ? "bf16" : "fp32", (long long)B);
  } else {
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int steps = 200;
    std::vector<double> gpu_ms, loop_ms;
    for (int rep = 0; rep < 5; ++rep) {
      CK(cudaEventRecord(e0, s));
      for (int i = 0; i < steps; ++i) mamba_decoder_step_cuda(dec, s, nullptr);
      CK(cudaEventRecord(e1, s));
      CK(cudaEventSynchronize(e1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      gpu_ms.push_back(ms / steps);
      CK(cudaEventRecord(e0, s));
      for (int i = 0; i < steps; ++i) mamba_decoder_step_cuda(dec, s, host.data());
      CK(cudaEventRecord(e1, s));
      CK(cudaEventSynchronize(e1));
      CK(cudaEventElapsedTime(&ms, e0, e1));
      loop_ms.push_back(ms / steps);
    }
    std::sort(gpu_ms.begin(), gpu_ms.end());
    std::sort(loop_ms.begin(), loop_ms.end());
    const double g = gpu_ms[2], l = loop_ms[2];
    std::printf("%s batch %3lld: step %.4f ms on the GPU (%8.0f tokens/s, %.0f GB/s = %.0f%% of peak); with the ids read "
                "back each step %.4f ms (%8.0f tokens/s); medians of 5 x %d steps\n",
                bf16 ? "bf16" : "fp32", (long long)B, g, B / (g * 1e-3), bytes / (g * 1e-3) / 1e9,
                peak > 0 ? 100 * bytes / (g * 1e-3) / peak : 0.0, l, B / (l * 1e-3), steps);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
  }
  mamba_decoder_destroy(dec);
  CK(cudaStreamDestroy(s));
  return ok;
}

// The Mamba-1 model at every batch, fp32 then bf16.
int bench_mamba1(int64_t layers, int64_t H, int64_t vocab, const std::vector<int64_t>& batches, double peak) {
  const int64_t E = 2 * H, N = 16, R = (H + 15) / 16, W = 4;
  std::printf("model: mamba1, %lld layers, hidden %lld, inner %lld, state %lld, dt_rank %lld, vocab %lld, random weights\n",
              (long long)layers, (long long)H, (long long)E, (long long)N, (long long)R, (long long)vocab);
  for (int dt = 0; dt < 2; ++dt) {
    const bool bf16 = dt == 1;
    const int64_t tb = bf16 ? 2 : 4;
    Arena a;
    std::vector<mamba_decoder_layer> ls(layers);
    for (auto& l : ls) {
      std::memset(&l, 0, sizeof l);
      l.norm_weight = a.f32(H, 0.2f, 1.f);
      l.in_proj_weight = a.mat(2 * E * H, bf16, 0.1f);
      l.conv_weight = a.f32(E * W, 0.5f);
      l.conv_bias = a.f32(E, 0.1f);
      l.x_proj_weight = a.mat((R + 2 * N) * E, bf16, 0.1f);
      l.dt_proj_weight = a.mat(E * R, bf16, 0.2f);
      l.dt_bias = a.f32(E, 1.f, -3.f);
      l.A_log = a.f32(E * N, 1.f, 1.f);
      l.D = a.f32(E, 1.f, 1.f);
      l.out_proj_weight = a.mat(H * E, bf16, 0.05f);
    }
    const void* emb = a.mat(vocab * H, bf16, 0.1f);
    const float* norm_f = a.f32(H, 0.2f, 1.f);
    // Bytes a step reads once whatever the batch: every matrix and per-channel parameter, lm_head (embedding rows not).
    const double bytes = (double)layers * (tb * (2 * E * H + (R + 2 * N) * E + E * R + H * E) + 4 * (H + E * W + 3 * E + E * N)) +
                         tb * vocab * H + 4 * H;
    for (int64_t B : batches) {
      std::vector<void*> state;
      for (auto& l : ls) {
        CK(cudaMalloc(&l.conv_state, B * E * W * tb));
        CK(cudaMemset(l.conv_state, 0, B * E * W * tb));
        CK(cudaMalloc(&l.ssm_state, B * E * N * 4));
        CK(cudaMemset(l.ssm_state, 0, B * E * N * 4));
        state.push_back(l.conv_state);
        state.push_back(l.ssm_state);
      }
      int64_t *ids, *next;
      CK(cudaMalloc(&ids, B * 8));
      CK(cudaMalloc(&next, B * 8));
      CK(cudaMemset(ids, 0, B * 8));
      mamba_decoder_desc d;
      std::memset(&d, 0, sizeof d);
      d.batch = B; d.layers = layers; d.hidden = H; d.inner = E; d.state = N; d.dt_rank = R; d.width = W;
      d.vocab = vocab; d.sample_vocab = vocab; d.dtype = bf16 ? MAMBA_BF16 : MAMBA_F32; d.gated = 1;
      d.residual_in_fp32 = 1; d.use_graph = 1; d.norm_eps = 1e-5f; d.embedding = emb; d.lm_head = emb;
      d.norm_f_weight = norm_f; d.layer_weights = ls.data(); d.token_ids = ids; d.next_ids = next; d.logits = nullptr;
      mamba_decoder* dec = nullptr;
      if (mamba_decoder_create_cuda(&d, &dec) != MAMBA_OK) {
        std::printf("create failed: %s\n", mamba_last_error());
        return 1;
      }
      const bool ok = run_decoder(dec, B, bf16, bytes, peak);
      for (void* p : state) cudaFree(p);
      cudaFree(ids);
      cudaFree(next);
      if (!ok) return 1;
    }
  }
  return 0;
}

// The Mamba-2 model (mamba_ssm's Mamba2 130M layout at hidden 768) at every batch, fp32 then bf16.
int bench_mamba2(int64_t layers, int64_t H, int64_t vocab, const std::vector<int64_t>& batches, double peak) {
  const int64_t E = 2 * H, P = 64, NH = E / P, G = 1, N = 128, W = 4;
  const int64_t K = E + 2 * G * N, in_rows = E + K + NH;
  std::printf("model: mamba2, %lld layers, hidden %lld, inner %lld (%lld heads of %lld), state %lld, groups %lld, vocab "
              "%lld, random weights; SSD state %.0f KB a layer and sequence\n",
              (long long)layers, (long long)H, (long long)E, (long long)NH, (long long)P, (long long)N, (long long)G,
              (long long)vocab, NH * P * N * 4 / 1e3);
  for (int dt = 0; dt < 2; ++dt) {
    const bool bf16 = dt == 1;
    const int64_t tb = bf16 ? 2 : 4;
    Arena a;
    std::vector<mamba2_decoder_layer> ls(layers);
    for (auto& l : ls) {
      std::memset(&l, 0, sizeof l);
      l.norm_weight = a.f32(H, 0.2f, 1.f);
      l.in_proj_weight = a.mat(in_rows * H, bf16, 0.1f);
      l.conv_weight = a.f32(K * W, 0.5f);
      l.conv_bias = a.f32(K, 0.1f);
      l.dt_bias = a.f32(NH, 1.f, -3.f);
      l.A_log = a.f32(NH, 1.f, 1.f);
      l.D = a.f32(NH, 1.f, 1.f);
      l.gate_norm_weight = a.f32(E, 0.2f, 1.f);
      l.out_proj_weight = a.mat(H * E, bf16, 0.05f);
    }
    const void* emb = a.mat(vocab * H, bf16, 0.1f);
    const float* norm_f = a.f32(H, 0.2f, 1.f);
    // Bytes a step reads once whatever the batch, as for Mamba-1 (the states, per sequence, not counted).
    const double bytes = (double)layers * (tb * (in_rows * H + H * E) + 4 * (H + K * W + K + 3 * NH + E)) +
                         tb * vocab * H + 4 * H;
    for (int64_t B : batches) {
      std::vector<void*> state;
      for (auto& l : ls) {
        CK(cudaMalloc(&l.conv_state, B * K * W * tb));
        CK(cudaMemset(l.conv_state, 0, B * K * W * tb));
        CK(cudaMalloc(&l.ssm_state, B * E * N * 4));
        CK(cudaMemset(l.ssm_state, 0, B * E * N * 4));
        state.push_back(l.conv_state);
        state.push_back(l.ssm_state);
      }
      int64_t *ids, *next;
      CK(cudaMalloc(&ids, B * 8));
      CK(cudaMalloc(&next, B * 8));
      CK(cudaMemset(ids, 0, B * 8));
      mamba2_decoder_desc d;
      std::memset(&d, 0, sizeof d);
      d.batch = B; d.layers = layers; d.hidden = H; d.heads = NH; d.head_dim = P; d.groups = G; d.state = N; d.width = W;
      d.vocab = vocab; d.sample_vocab = vocab; d.norm_groups = 1; d.dtype = bf16 ? MAMBA_BF16 : MAMBA_F32;
      d.residual_in_fp32 = 1; d.use_graph = 1; d.norm_eps = 1e-5f; d.gate_norm_eps = 1e-5f; d.dt_min = 0.f;
      d.dt_max = INFINITY; d.embedding = emb; d.lm_head = emb; d.norm_f_weight = norm_f; d.layer_weights = ls.data();
      d.token_ids = ids; d.next_ids = next; d.logits = nullptr;
      mamba_decoder* dec = nullptr;
      if (mamba2_decoder_create_cuda(&d, &dec) != MAMBA_OK) {
        std::printf("create failed: %s\n", mamba_last_error());
        return 1;
      }
      const bool ok = run_decoder(dec, B, bf16, bytes, peak);
      for (void* p : state) cudaFree(p);
      cudaFree(ids);
      cudaFree(next);
      if (!ok) return 1;
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* arch_env = std::getenv("MAMBA_BENCH_ARCH");
  std::string arch = arch_env && *arch_env ? arch_env : "mamba1";
  if (argc > 2 && std::string(argv[1]) == "--arch") {
    arch = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (arch != "mamba1" && arch != "mamba2") {
    std::fprintf(stderr, "unknown architecture '%s': mamba1 or mamba2\n", arch.c_str());
    return 2;
  }
  const int64_t layers = argc > 1 ? std::atoll(argv[1]) : 24, H = argc > 2 ? std::atoll(argv[2]) : 768;
  const int64_t vocab = argc > 3 ? std::atoll(argv[3]) : 50280;
  std::vector<int64_t> batches;
  for (const char* s = argc > 4 ? argv[4] : "1,16,64"; *s;) {
    batches.push_back(std::atoll(s));
    while (*s && *s != ',') ++s;
    if (*s) ++s;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  const double peak = mamba_cuda_peak_bandwidth(0);
  const char* pdl = std::getenv("MAMBA_DECODER_PDL");
  std::printf("GPU %s, %d SMs, peak DRAM %.2f TB/s; programmatic dependent launch %s\n", prop.name,
              prop.multiProcessorCount, peak / 1e12, pdl && pdl[0] == '0' ? "off (MAMBA_DECODER_PDL=0)" : "on where sm_90+");
  return arch == "mamba2" ? bench_mamba2(layers, H, vocab, batches, peak) : bench_mamba1(layers, H, vocab, batches, peak);
}
