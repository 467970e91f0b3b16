// Times the CUDA Mamba-2 SSD scan, forward and backward, at (batch 8, length 2048, 64 heads of 64, state 128,
// one group) in fp32 and bf16, next to our Mamba-1 selective scan at the same (batch, length, inner size 4096)
// with state 16, in one run. Reports ms (median of 20 after 3 warm-up calls), the achieved TFLOP/s of the SSD's
// matrix products and their fraction of the device's dense tensor-core peak.
// FLOPs counted (2 M N K per product, logical sizes; Q = 64, the kernels' chunk; per batch, chunk and head;
// hpg = heads per group; C.B^T is computed once per group):
//   forward  = 2Q (2PN + QP) + 2Q^2 N / hpg              chunk state, y_off, y_diag; C.B^T
//   backward = 4QPN + 2Q^2 N / hpg + 2Q^2 P + 2QP(Q+N) + 4QN(Q+P)
//              (chunk state and dS_loc; C.B^T; dy.x^T; Z; dB; dC)
// Usage: bench_ssd_cuda [--profile]   (--profile: one bf16 forward and backward, for ncu; the kernels the
// environment picks: MAMBA_SSD_KERNELS=v1 the first ones, v2 the second (TF32 products for bf16), unset or v3
// the current ones (bf16 operand tiles, mma m16n8k16); MAMBA_SSD_STATES=fp32 keeps v3's states in fp32 instead of
// bf16; MAMBA_SSD_PASS=separate runs v3's chunk state and state passing kernels instead of its chain kernels).
// Without it, all versions run side by side (" v1", " v2", " v3 st=fp32" (v3 with fp32 states), " v3 separate" and
// " v3" rows; fp32 runs the same code in v2 and v3), and their outputs are compared at the benchmark shape.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "bench_util.cuh"

namespace {

using namespace bench;

// Dense (no sparsity) tensor-core peaks in TFLOP/s, bf16 and tf32, of the boards we run on.
struct Peak { double bf16, tf32; const char* what; };
Peak peak_of(const cudaDeviceProp& p) {
  const std::string n = p.name;
  if (n.find("H100") != std::string::npos && n.find("PCIe") != std::string::npos) return {756.0, 378.0, "H100 PCIe"};
  if (n.find("H100") != std::string::npos || n.find("H200") != std::string::npos) return {989.4, 494.7, "H100/H200 SXM"};
  if (n.find("A100") != std::string::npos) return {312.0, 156.0, "A100"};
  return {0.0, 0.0, "unknown"};
}

constexpr int kB = 8, kL = 2048, kH = 64, kP = 64, kN = 128, kG = 1, kQ = 64;

double ssd_fwd_flops() {
  const double Q = kQ, P = kP, N = kN, hpg = kH / kG, chunks = (double)kB * ((kL + kQ - 1) / kQ) * kH;
  return chunks * (2 * Q * (2 * P * N + Q * P) + 2 * Q * Q * N / hpg);
}
double ssd_bwd_flops() {
  const double Q = kQ, P = kP, N = kN, hpg = kH / kG, chunks = (double)kB * ((kL + kQ - 1) / kQ) * kH;
  return chunks * (4 * Q * P * N + 2 * Q * Q * N / hpg + 2 * Q * Q * P + 2 * Q * P * (Q + N) + 4 * Q * N * (Q + P));
}

// A device buffer of n elements of dtype dt on the host, as float.
std::vector<float> host_floats(int dt, const void* p, size_t n) {
  std::vector<float> out(n);
  if (dt == MAMBA_F32) {
    CHECK_CUDA(cudaMemcpy(out.data(), p, n * 4, cudaMemcpyDeviceToHost));
    return out;
  }
  std::vector<uint16_t> h(n);
  CHECK_CUDA(cudaMemcpy(h.data(), p, n * 2, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < n; ++i) {
    const uint32_t bits = (uint32_t)h[i] << 16;  // bf16: the high half of an fp32
    std::memcpy(&out[i], &bits, 4);
  }
  return out;
}

// max |a - b| / max |a| (NaN anywhere gives NaN).
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return NAN;
    d = std::max(d, (double)std::fabs(a[i] - b[i]));
    m = std::max(m, (double)std::fabs(a[i]));
  }
  return m > 0 ? d / m : d;
}

// The kernel versions whose outputs the comparison runs, in order: bf16 all three, fp32 v1 and v3 (= v2).
void bench_ssd(int dt, const Peak& peak, const char* mode, bool profile = false, bool compare = false) {
  const size_t nx = (size_t)kB * kL * kH * kP, nt = (size_t)kB * kL * kH, nbc = (size_t)kB * kL * kG * kN;
  const size_t es = dtype_size(dt);
  void *x = dalloc(nx * es), *y = dalloc(nx * es), *dy = dalloc(nx * es), *dx = dalloc(nx * es);
  void *dtp = dalloc(nt * es), *ddt = dalloc(nt * es);
  void *Bm = dalloc(nbc * es), *Cm = dalloc(nbc * es), *dB = dalloc(nbc * es), *dC = dalloc(nbc * es);
  float *A = (float*)dalloc(kH * 4), *Dv = (float*)dalloc(kH * 4), *bias = (float*)dalloc(kH * 4);
  float *dA = (float*)dalloc(kH * 4), *dD = (float*)dalloc(kH * 4), *dbias = (float*)dalloc(kH * 4);
  fill_any(dt, x, nx, 1, -1, 1); fill_any(dt, dy, nx, 2, -1, 1); fill_any(dt, dtp, nt, 3, -1, 1);
  fill_any(dt, Bm, nbc, 4, -1, 1); fill_any(dt, Cm, nbc, 5, -1, 1);
  fill_kernel<float><<<1, 64>>>(A, kH, 6, -16.f, -1.f);  // Mamba-2's A init range
  fill_kernel<float><<<1, 64>>>(Dv, kH, 7, 0.5f, 1.5f);
  fill_kernel<float><<<1, 64>>>(bias, kH, 8, -4.5f, -2.5f);  // dt ~ 0.01 .. 0.1
  CHECK_CUDA(cudaDeviceSynchronize());
  mamba_ssd_args a{};
  a.batch = kB; a.length = kL; a.heads = kH; a.head_dim = kP; a.groups = kG; a.state = kN; a.chunk = 256;
  a.dtype = dt; a.dt_softplus = 1; a.dt_min = 0.f; a.dt_max = INFINITY;
  const int64_t xs[4] = {(int64_t)kL * kH * kP, (int64_t)kH * kP, kP, 1};
  const int64_t ts[3] = {(int64_t)kL * kH, kH, 1};
  const int64_t bs[4] = {(int64_t)kL * kG * kN, (int64_t)kG * kN, kN, 1};
  a.x = x; std::memcpy(a.x_stride, xs, sizeof xs);
  a.dt = dtp; std::memcpy(a.dt_stride, ts, sizeof ts);
  a.A = A; a.D = Dv; a.dt_bias = bias;
  a.B = Bm; std::memcpy(a.B_stride, bs, sizeof bs);
  a.C = Cm; std::memcpy(a.C_stride, bs, sizeof bs);
  mamba_ssd_outputs o{};
  o.y = y; std::memcpy(o.y_stride, xs, sizeof xs);
  mamba_ssd_grads g{};
  g.dy = dy; std::memcpy(g.dy_stride, xs, sizeof xs);
  g.dx = dx; std::memcpy(g.dx_stride, xs, sizeof xs);
  g.ddt = ddt; std::memcpy(g.ddt_stride, ts, sizeof ts);
  g.dB = dB; std::memcpy(g.dB_stride, bs, sizeof bs);
  g.dC = dC; std::memcpy(g.dC_stride, bs, sizeof bs);
  g.dA = dA; g.dD = dD; g.ddt_bias = dbias;
  if (profile) {  // one forward and backward, for ncu
    must(mamba_ssd_fwd_cuda(&a, &o, nullptr), "ssd forward");
    must(mamba_ssd_bwd_cuda(&a, &g, nullptr), "ssd backward");
    CHECK_CUDA(cudaDeviceSynchronize());
    return;
  }
  const float fwd = median_ms([&] { must(mamba_ssd_fwd_cuda(&a, &o, nullptr), "ssd forward"); }, 3, 20);
  a.deterministic = 1;
  const float bwd_det = median_ms([&] { must(mamba_ssd_bwd_cuda(&a, &g, nullptr), "ssd backward"); }, 3, 20);
  a.deterministic = 0;
  const float bwd = median_ms([&] { must(mamba_ssd_bwd_cuda(&a, &g, nullptr), "ssd backward"); }, 3, 20);
  const double ff = ssd_fwd_flops(), bf = ssd_bwd_flops();
  auto tflops = [](double flops, float ms) { return flops / (ms * 1e9); };
  char name[40];
  std::snprintf(name, sizeof name, "%s%s", dt == MAMBA_F32 ? "fp32" : "bf16", mode);
  const double pk = peak.bf16;
  std::printf("SSD %-15s fwd %8.3f ms %7.1f TFLOP/s (%5.2f%% of bf16 TC peak)\n", name, fwd, tflops(ff, fwd),
              pk > 0 ? 100 * tflops(ff, fwd) / pk : 0.0);
  std::printf("SSD %-15s bwd %8.3f ms %7.1f TFLOP/s (%5.2f%%)  [deterministic=0]\n", name, bwd, tflops(bf, bwd),
              pk > 0 ? 100 * tflops(bf, bwd) / pk : 0.0);
  std::printf("SSD %-15s bwd %8.3f ms %7.1f TFLOP/s (%5.2f%%)  [deterministic=1]\n", name, bwd_det, tflops(bf, bwd_det),
              pk > 0 ? 100 * tflops(bf, bwd_det) / pk : 0.0);
  std::printf("SSD %-15s fwd+bwd %8.3f ms (deterministic=0), %8.3f ms (deterministic=1)\n", name, fwd + bwd, fwd + bwd_det);
  // The forward keeping what the backward would recompute (mamba_ssd_checkpoint_floats_cuda; v3's chain kernels).
  if (const int64_t floats = mamba_ssd_checkpoint_floats_cuda(&a); floats > 0) {
    float* ckpt = nullptr;
    CHECK_CUDA(cudaMalloc(&ckpt, floats * sizeof(float)));
    o.checkpoints = ckpt;
    g.checkpoints = ckpt;
    const float kfwd = median_ms([&] { must(mamba_ssd_fwd_cuda(&a, &o, nullptr), "ssd forward, kept"); }, 3, 20);
    const float kbwd = median_ms([&] { must(mamba_ssd_bwd_cuda(&a, &g, nullptr), "ssd backward, kept"); }, 3, 20);
    std::printf("SSD %-15s kept checkpoints (%.1f MB): fwd %8.3f ms, bwd %8.3f ms, fwd+bwd %8.3f ms (deterministic=0)\n",
                name, floats * 4e-6, kfwd, kbwd, kfwd + kbwd);
    o.checkpoints = nullptr;
    g.checkpoints = nullptr;
    CHECK_CUDA(cudaFree(ckpt));
  }
  if (compare) {
    // The versions against each other at this shape (the tests' shapes are small): one forward and
    // deterministic backward each, outputs compared as max |a - b| / max |b|. For bf16, v3 against v2 shows what
    // the bf16 operand rounding of v3's products adds to v2's TF32 ones, and v3 against v3/st=fp32 what storing
    // the states in bf16 adds (y, dx, dB, dC, dD bitwise equal: 0; ddt, dA, ddt_bias through the decay's gradient).
    // v3 against v3/separate shows the chain kernels against the chunk state and state passing kernels (states
    // bitwise equal, so y, dx, dB, dC, dD: 0; ddt, dA, ddt_bias: the decay gradient's sums in another order).
    const char* versions[5] = {"v1", "v2", "v3/st=fp32", "v3/separate", "v3"};
    const char* kernels[5] = {"v1", "v2", "v3", "v3", "v3"};
    int nv = 5;
    if (dt == MAMBA_F32) {  // v2 and v3/st=fp32 are v3 for fp32 inputs
      versions[1] = versions[3]; versions[2] = versions[4];
      kernels[1] = kernels[2] = "v3";
      nv = 3;
    }
    std::vector<std::vector<float>> out[5];
    a.deterministic = 1;
    for (int v = 0; v < nv; ++v) {
      setenv("MAMBA_SSD_KERNELS", kernels[v], 1);
      if (std::strcmp(versions[v], "v3/st=fp32") == 0) setenv("MAMBA_SSD_STATES", "fp32", 1);
      else unsetenv("MAMBA_SSD_STATES");
      if (std::strcmp(versions[v], "v3/separate") == 0) setenv("MAMBA_SSD_PASS", "separate", 1);
      else unsetenv("MAMBA_SSD_PASS");
      must(mamba_ssd_fwd_cuda(&a, &o, nullptr), "ssd forward");
      must(mamba_ssd_bwd_cuda(&a, &g, nullptr), "ssd backward");
      CHECK_CUDA(cudaDeviceSynchronize());
      out[v] = {host_floats(dt, y, nx), host_floats(dt, dx, nx), host_floats(dt, ddt, nt), host_floats(dt, dB, nbc),
                host_floats(dt, dC, nbc), host_floats(MAMBA_F32, dA, kH), host_floats(MAMBA_F32, dD, kH),
                host_floats(MAMBA_F32, dbias, kH)};
    }
    a.deterministic = 0;
    const char* names[] = {"y", "dx", "ddt", "dB", "dC", "dA", "dD", "ddt_bias"};
    for (int v = 1; v < nv; ++v)
      for (int w = 0; w < v; ++w) {
        std::printf("SSD %-15s %s vs %s at this shape, max|%s-%s|/max|%s|:", name, versions[v], versions[w],
                    versions[v], versions[w], versions[w]);
        for (int i = 0; i < 8; ++i) std::printf(" %s %.1e", names[i], rel_diff(out[w][i], out[v][i]));
        std::printf("\n");
      }
  }
  for (void* p : {x, y, dy, dx, dtp, ddt, Bm, Cm, dB, dC}) cudaFree(p);
  for (float* p : {A, Dv, bias, dA, dD, dbias}) cudaFree(p);
}

// Mamba-1 selective scan at (8, 2048, 4096, 16), with z, D, delta_bias, softplus, deterministic, (B, D, L).
void bench_mamba1(int dt) {
  const int B = kB, D = kH * kP, L = kL, N = 16;
  ScanProblem p(dt, B, D, L, N, /*bld=*/false, /*grads=*/true);
  fill_kernel<float><<<256, 256>>>((float*)p.a.A, (size_t)D * N, 9, -16.f, -1.f);  // A in [-16, -1) instead of -(n + 1)
  CHECK_CUDA(cudaDeviceSynchronize());
  const float fwd = median_ms([&] { must(mamba_scan_fwd_cuda(&p.a, &p.o, nullptr), "scan forward"); }, 3, 20);
  const float bwd = median_ms([&] { must(mamba_scan_bwd_cuda(&p.a, &p.g, nullptr), "scan backward"); }, 3, 20);
  const char* name = dt == MAMBA_F32 ? "fp32" : "bf16";
  std::printf("Mamba-1 scan %-5s (8,2048,4096,16) fwd %8.3f ms, bwd %8.3f ms, fwd+bwd %8.3f ms\n", name, fwd, bwd,
              fwd + bwd);
  p.release();
}

}  // namespace

int main(int argc, char** argv) {
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  const Peak peak = peak_of(prop);
  if (argc > 1 && std::string(argv[1]) == "--profile") {
    bench_ssd(MAMBA_BF16, peak, "", true);
    return 0;
  }
  std::printf("GPU: %s, %d SMs; dense tensor-core peak taken as %.1f TFLOP/s bf16, %.1f tf32 (%s)\n", prop.name,
              prop.multiProcessorCount, peak.bf16, peak.tf32, peak.what);
  std::printf("SSD (8, 2048, 64 heads x 64, state 128, groups 1, chunk hint 256, kernels' chunk 64), D, dt_bias, "
              "softplus; FLOPs fwd %.1f G, bwd %.1f G; median of 20\n", ssd_fwd_flops() / 1e9, ssd_bwd_flops() / 1e9);
  // Every kernel version (MAMBA_SSD_KERNELS, read per call) in the same run: v1, v2 (TF32 products for bf16),
  // v3 (bf16 operand tiles, mma m16n8k16), then the outputs compared.
  setenv("MAMBA_SSD_KERNELS", "v1", 1);
  bench_ssd(MAMBA_BF16, peak, " v1");
  setenv("MAMBA_SSD_KERNELS", "v2", 1);
  bench_ssd(MAMBA_BF16, peak, " v2");
  // v3 with its states in fp32 (MAMBA_SSD_STATES, read per call) next to v3's default, bf16 states.
  setenv("MAMBA_SSD_KERNELS", "v3", 1);
  setenv("MAMBA_SSD_STATES", "fp32", 1);
  bench_ssd(MAMBA_BF16, peak, " v3 st=fp32");
  unsetenv("MAMBA_SSD_STATES");
  // v3 with the chunk state and state passing kernels (MAMBA_SSD_PASS=separate) next to its chain kernels.
  setenv("MAMBA_SSD_PASS", "separate", 1);
  bench_ssd(MAMBA_BF16, peak, " v3 separate");
  unsetenv("MAMBA_SSD_PASS");
  setenv("MAMBA_SSD_KERNELS", "v3", 1);
  bench_ssd(MAMBA_BF16, peak, " v3", false, true);
  setenv("MAMBA_SSD_KERNELS", "v3", 1);
  bench_mamba1(MAMBA_BF16);
  // fp32: both product kinds (ssd_api.cu), chosen per call through the environment; v2 and v3 are one code.
  setenv("MAMBA_SSD_FP32", "simt", 1);
  setenv("MAMBA_SSD_KERNELS", "v1", 1);
  bench_ssd(MAMBA_F32, peak, " fma v1");
  setenv("MAMBA_SSD_KERNELS", "v3", 1);
  setenv("MAMBA_SSD_PASS", "separate", 1);
  bench_ssd(MAMBA_F32, peak, " fma v3 separate");
  unsetenv("MAMBA_SSD_PASS");
  bench_ssd(MAMBA_F32, peak, " fma v3", false, true);
  setenv("MAMBA_SSD_KERNELS", "v3", 1);
  setenv("MAMBA_SSD_FP32", "3xtf32", 1);
  bench_ssd(MAMBA_F32, peak, " 3xtf32 v3");
  unsetenv("MAMBA_SSD_FP32");
  bench_mamba1(MAMBA_F32);
  return 0;
}
