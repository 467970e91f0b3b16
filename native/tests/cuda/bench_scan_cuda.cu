// Times the CUDA selective scan forward and backward on Mamba-sized shapes.
// Usage: bench_scan_cuda [results.csv]   Prints a table; the CSV feeds bench_reference.py.
//        Rows marked BLD pass (batch, length, dim) views, the layout Mamba's in_proj produces; the CSV
//        has the (batch, dim, length) rows only. Then the causal conv1d, both layouts.
//        bench_scan_cuda --profile        One fp32 (8,2048,2048,16) forward and backward, for ncu.
//        bench_scan_cuda --fwd            Forward only, fp32 / bf16 / f16 (B and C in the same dtype), the shapes
//                                         of the bf16 vector-tile work (L=1000: no vectors, element loads);
//                                         MAMBA_SCAN_FWD_VEC=0 times the element-load forward instead (the variable
//                                         is read once per process).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "bench_util.cuh"

namespace {

using namespace bench;

// Causal conv1d (width 4, SiLU, bias) at the 130M training shape, (batch, dim, length) and BLD layouts.
void bench_conv() {
  std::printf("\ncausal conv1d, width 4, SiLU, bias; backward = dx + dweight + dbias; median of 30\n");
  std::printf("%-22s %-5s %9s %9s %9s %9s\n", "(B,D,L)", "dtype", "fwd ms", "fwd GB/s", "bwd ms", "bwd GB/s");
  const int B = 8, D = 1536, L = 1024, W = 4;
  for (int dt : {MAMBA_F32, MAMBA_BF16}) {
    for (bool bld : {false, true}) {
      const size_t n = (size_t)B * D * L, es = dtype_size(dt);
      void *x = dalloc(n * es), *out = dalloc(n * es), *dout = dalloc(n * es), *dx = dalloc(n * es);
      float *w = (float*)dalloc(D * W * 4), *bias = (float*)dalloc(D * 4), *dw = (float*)dalloc(D * W * 4),
            *db = (float*)dalloc(D * 4);
      fill_any(dt, x, n, 11, -1, 1); fill_any(dt, dout, n, 12, -1, 1);
      fill<float>(w, D * W, 13, -0.5f, 0.5f); fill<float>(bias, D, 14, -0.5f, 0.5f);
      const int64_t st[3] = {(int64_t)D * L, bld ? 1 : L, bld ? D : 1};
      mamba_conv_args a{};
      a.batch = B; a.dim = D; a.length = L; a.width = W; a.dtype = dt; a.silu = 1;
      a.x = x; std::copy(st, st + 3, a.x_stride); a.weight = w; a.bias = bias;
      const float fwd = median_ms([&] { must(mamba_conv1d_fwd_cuda(&a, out, st, nullptr), "conv forward"); }, 3, 30);
      const float bwd = median_ms([&] { must(mamba_conv1d_bwd_cuda(&a, dout, st, dx, st, dw, db, nullptr), "conv backward"); }, 3, 30);
      char shape[64];
      std::snprintf(shape, sizeof shape, "(%d,%d,%d)%s", B, D, L, bld ? " BLD" : "");
      std::printf("%-22s %-5s %9.3f %9.0f %9.3f %9.0f\n", shape, dt == MAMBA_F32 ? "fp32" : "bf16", fwd,
                  2.0 * n * es / (fwd * 1e6), bwd, 3.0 * n * es / (bwd * 1e6));
      for (void* p : {x, out, dout, dx}) cudaFree(p);
      for (float* p : {w, bias, dw, db}) cudaFree(p);
    }
  }
}

const char* dtype_name(int dt) { return dt == MAMBA_F32 ? "fp32" : dt == MAMBA_F16 ? "f16" : "bf16"; }

// FNV-1a over a device buffer's 64-bit words: runs with and without MAMBA_SCAN_FWD_VEC compare outputs by it.
uint64_t device_hash(const void* p, size_t bytes) {
  std::vector<uint64_t> h((bytes + 7) / 8, 0);
  CHECK_CUDA(cudaMemcpy(h.data(), p, bytes, cudaMemcpyDeviceToHost));
  uint64_t x = 0xcbf29ce484222325ull;
  for (uint64_t w : h) x = (x ^ w) * 0x100000001b3ull;
  return x;
}

// --fwd: forward ms (median of 50), without and with the backward's checkpoints, per dtype and shape, and a hash
// of the output.
void bench_fwd_only() {
  const char* vec = std::getenv("MAMBA_SCAN_FWD_VEC");
  std::printf("selective scan forward with z, D, delta_bias, softplus; B/C in the same dtype; median of 50; "
              "MAMBA_SCAN_FWD_VEC=%s\n", vec ? vec : "(unset)");
  std::printf("%-22s %-5s %9s %9s %12s %18s\n", "(B,D,L,N)", "dtype", "fwd ms", "fwd GB/s", "fwd+ckpt ms", "out hash");
  const int shapes[][5] = {{8, 2048, 2048, 16, 0}, {4, 1536, 1024, 16, 0}, {8, 1536, 1024, 16, 0}, {8, 1536, 1024, 16, 1},
                           {8, 1536, 1000, 16, 0}};
  for (const auto& s : shapes) {
    for (int dt : {MAMBA_F32, MAMBA_BF16, MAMBA_F16}) {
      const bool bld = s[4] != 0;
      const int B = s[0], D = s[1], L = s[2], N = s[3];
      ScanProblem p(dt, B, D, L, N, bld, /*grads=*/false);
      const float fwd = median_ms([&] { must(mamba_scan_fwd_cuda(&p.a, &p.o, nullptr), "forward"); }, 5, 50);
      float fwd_ck = 0.f;
      p.with_checkpoints([&] {
        fwd_ck = median_ms([&] { must(mamba_scan_fwd_cuda(&p.a, &p.o, nullptr), "forward (checkpoints)"); }, 5, 50);
      });
      char shape[64];
      std::snprintf(shape, sizeof shape, "(%d,%d,%d,%d)%s", B, D, L, N, bld ? "-BLD" : "");  // one column
      std::printf("%-22s %-5s %9.3f %9.0f %12.3f %18llx\n", shape, dtype_name(dt), fwd,
                  (4.0 * p.bdl * p.es + 2.0 * p.bnl * p.es) / (fwd * 1e6), fwd_ck,
                  (unsigned long long)device_hash(p.o.out, p.bdl * p.es));
      p.release();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--fwd") {
    cudaDeviceProp prop{};
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    std::printf("GPU: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    bench_fwd_only();
    return 0;
  }
  const bool profile = argc > 1 && std::string(argv[1]) == "--profile";
  FILE* csv = argc > 1 && !profile ? std::fopen(argv[1], "w") : nullptr;
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("GPU: %s, %d SMs, %.0f MB L2\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1e6);
  std::printf("selective scan with z, D, delta_bias, softplus; groups=1; deterministic backward; median of 30\n");
  std::printf("%-22s %-5s %9s %9s %9s %9s %12s\n", "(B,D,L,N)", "dtype", "fwd ms", "fwd GB/s", "bwd ms", "bwd GB/s",
              "bwd extra MB");
  if (csv) std::fprintf(csv, "B,D,L,N,dtype,fwd_ms,bwd_ms,fwd_gbs,bwd_gbs,extra_mb\n");
  cudaMemPool_t pool;
  CHECK_CUDA(cudaDeviceGetDefaultMemPool(&pool, 0));
  const int shapes[][5] = {{4, 1536, 1024, 16, 0}, {8, 2048, 2048, 16, 0}, {1, 1024, 8192, 16, 0},
                           {8, 1536, 1024, 16, 0}, {8, 1536, 1024, 16, 1}};  // last: 130M training, both layouts
  for (int dt : {MAMBA_F32, MAMBA_BF16}) {
    for (const auto& s : shapes) {
      if (profile && (dt != MAMBA_F32 || s[0] != 8 || s[1] != 2048)) continue;
      const bool bld = s[4] != 0;
      const int B = s[0], D = s[1], L = s[2], N = s[3];
      ScanProblem p(dt, B, D, L, N, bld, /*grads=*/true);
      mamba_scan_args& a = p.a;
      const size_t bdl = p.bdl, bnl = p.bnl, es = p.es;
      if (profile) {
        must(mamba_scan_fwd_cuda(&a, &p.o, nullptr), "forward");
        must(mamba_scan_bwd_cuda(&a, &p.g, nullptr), "backward");
        CHECK_CUDA(cudaDeviceSynchronize());
        return 0;
      }
      const float fwd = median_ms([&] { must(mamba_scan_fwd_cuda(&a, &p.o, nullptr), "forward"); }, 3, 30);
      uint64_t zero = 0, high = 0;
      CHECK_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero));
      const float bwd = median_ms([&] { must(mamba_scan_bwd_cuda(&a, &p.g, nullptr), "backward"); }, 3, 30);
      CHECK_CUDA(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high));
      // The same with checkpoints kept from the forward (outputs->checkpoints): the backward skips its pass.
      float fwd_ck = 0.f, bwd_ck = 0.f;
      const int64_t nck = p.with_checkpoints([&] {
        fwd_ck = median_ms([&] { must(mamba_scan_fwd_cuda(&a, &p.o, nullptr), "forward (checkpoints)"); }, 3, 30);
        bwd_ck = median_ms([&] { must(mamba_scan_bwd_cuda(&a, &p.g, nullptr), "backward (checkpoints)"); }, 3, 30);
      });
      // Compulsory traffic: every input read once, every output written once.
      const double fwd_bytes = 4.0 * bdl * es + 2.0 * bnl * es;
      const double bwd_bytes = 7.0 * bdl * es + 4.0 * bnl * es;
      const double fwd_gbs = fwd_bytes / (fwd * 1e6), bwd_gbs = bwd_bytes / (bwd * 1e6);
      char shape[64];
      std::snprintf(shape, sizeof shape, "(%d,%d,%d,%d)%s", B, D, L, N, bld ? " BLD" : "");
      const char* dname = dt == MAMBA_F32 ? "fp32" : "bf16";
      std::printf("%-22s %-5s %9.3f %9.0f %9.3f %9.0f %12.1f   ckpt: fwd %.3f bwd %.3f (%.1f MB)\n", shape, dname, fwd,
                  fwd_gbs, bwd, bwd_gbs, high / 1e6, fwd_ck, bwd_ck, nck * 4 / 1e6);
      if (csv && !bld) std::fprintf(csv, "%d,%d,%d,%d,%s,%.4f,%.4f,%.0f,%.0f,%.1f\n", B, D, L, N, dname, fwd, bwd, fwd_gbs,
                            bwd_gbs, high / 1e6);
      p.release();
      CHECK_CUDA(cudaMemPoolTrimTo(pool, 0));
    }
  }
  if (csv) std::fclose(csv);
  bench_conv();
  return 0;
}
