// Benchmark helpers shared by bench_scan_cuda and bench_ssd_cuda: device fills without a host round trip, a median
// timer, a status check, and a Mamba-1 selective scan problem set up on the device.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "test_util.cuh"

namespace bench {

__device__ inline void put(float* p, float v) { *p = v; }
__device__ inline void put(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__device__ inline void put(__half* p, float v) { *p = __float2half_rn(v); }

// Deterministic pseudo-random fill in [lo, hi): element i depends only on i and the seed, not on the grid.
template <typename T>
__global__ void fill_kernel(T* p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31; x *= 0xBF58476D1CE4E5B9ull; x ^= x >> 29;
    const float r = (float)(x >> 40) / (float)(1ull << 24);
    put(p + i, lo + (hi - lo) * r);
  }
}

__global__ void fill_A(float* A, int dim, int state) {  // S4D-real initialisation: A[d, n] = -(n + 1)
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < dim * state; i += gridDim.x * blockDim.x) A[i] = -(float)(i % state + 1);
}

inline void* dalloc(size_t bytes) {
  void* p;
  CHECK_CUDA(cudaMalloc(&p, bytes));
  return p;
}

template <typename T>
void fill(void* p, size_t n, uint64_t seed, float lo, float hi) {
  fill_kernel<T><<<1024, 256>>>(static_cast<T*>(p), n, seed, lo, hi);
  CHECK_CUDA(cudaGetLastError());
}

inline void fill_any(int dt, void* p, size_t n, uint64_t seed, float lo, float hi) {
  if (dt == MAMBA_F32) fill<float>(p, n, seed, lo, hi);
  else if (dt == MAMBA_F16) fill<__half>(p, n, seed, lo, hi);
  else fill<__nv_bfloat16>(p, n, seed, lo, hi);
}

// Median of iters timed calls (CUDA events on the default stream) after warmup untimed ones, in ms.
template <typename F>
float median_ms(F&& f, int warmup, int iters) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) f();
  std::vector<float> ms;
  for (int i = 0; i < iters; ++i) {
    CHECK_CUDA(cudaEventRecord(a));
    f();
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float t;
    CHECK_CUDA(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

inline void must(int rc, const char* what) {
  if (rc != MAMBA_OK) {
    std::fprintf(stderr, "%s failed: %d %s\n", what, rc, mamba_last_error());
    std::exit(1);
  }
}

// A Mamba-1 selective scan with z, D, delta_bias, softplus, one group, deterministic backward, in (batch, dim,
// length) views or BLD ones (the layout in_proj produces). Inputs from fixed seeds: u 1, delta 2, z 3, dout 4, B 5,
// C 6 in [-1, 1); D 7 in [0.5, 1.5); delta_bias 8 in [-4.5, -3.5) (dt ~ 0.005 .. 0.05); A = -(n + 1).
// With grads, the backward's buffers too. release() frees everything.
struct ScanProblem {
  size_t bdl, bnl, es;
  mamba_scan_args a{};
  mamba_scan_outputs o{};
  mamba_scan_grads g{};
  std::vector<void*> owned;

  ScanProblem(int dt, int B, int D, int L, int N, bool bld, bool grads)
      : bdl((size_t)B * D * L), bnl((size_t)B * N * L), es(dtype_size(dt)) {
    void *u = alloc(bdl * es), *delta = alloc(bdl * es), *z = alloc(bdl * es), *out = alloc(bdl * es);
    void *Bm = alloc(bnl * es), *Cm = alloc(bnl * es);
    float *A = (float*)alloc((size_t)D * N * 4), *Dv = (float*)alloc(D * 4), *bias = (float*)alloc(D * 4);
    fill_any(dt, u, bdl, 1, -1, 1); fill_any(dt, delta, bdl, 2, -1, 1); fill_any(dt, z, bdl, 3, -1, 1);
    fill_any(dt, Bm, bnl, 5, -1, 1); fill_any(dt, Cm, bnl, 6, -1, 1);
    fill<float>(Dv, D, 7, 0.5f, 1.5f); fill<float>(bias, D, 8, -4.5f, -3.5f);
    fill_A<<<256, 256>>>(A, D, N);
    a.batch = B; a.dim = D; a.length = L; a.state = N; a.groups = 1;
    a.dtype = dt; a.bc_dtype = dt; a.delta_softplus = 1; a.deterministic = 1;
    const int64_t xs[3] = {(int64_t)D * L, bld ? 1 : L, bld ? D : 1};
    const int64_t bs[4] = {(int64_t)N * L, (int64_t)N * L, bld ? 1 : L, bld ? N : 1};
    a.u = u; a.delta = delta; a.z = z; a.B = Bm; a.C = Cm; a.A = A; a.D = Dv; a.delta_bias = bias;
    std::copy(xs, xs + 3, a.u_stride); std::copy(xs, xs + 3, a.delta_stride); std::copy(xs, xs + 3, a.z_stride);
    std::copy(bs, bs + 4, a.B_stride); std::copy(bs, bs + 4, a.C_stride);
    a.A_stride[0] = N; a.A_stride[1] = 1;
    o.out = out; std::copy(xs, xs + 3, o.out_stride);
    if (grads) {
      void *dout = alloc(bdl * es), *du = alloc(bdl * es), *ddelta = alloc(bdl * es), *dz = alloc(bdl * es);
      void *dB = alloc(bnl * es), *dC = alloc(bnl * es);
      float *dA = (float*)alloc((size_t)D * N * 4), *dD = (float*)alloc(D * 4), *dbias = (float*)alloc(D * 4);
      fill_any(dt, dout, bdl, 4, -1, 1);
      g.dout = dout; g.du = du; g.ddelta = ddelta; g.dz = dz; g.dB = dB; g.dC = dC; g.dA = dA; g.dD = dD;
      g.ddelta_bias = dbias;
      std::copy(xs, xs + 3, g.dout_stride); std::copy(xs, xs + 3, g.du_stride);
      std::copy(xs, xs + 3, g.ddelta_stride); std::copy(xs, xs + 3, g.dz_stride);
      std::copy(bs, bs + 4, g.dB_stride); std::copy(bs, bs + 4, g.dC_stride);
    }
    CHECK_CUDA(cudaDeviceSynchronize());
  }

  // Runs f with checkpoints kept from the forward for the backward (outputs->checkpoints, grads->checkpoints), then
  // drops them; returns how many floats they take (f does not run when the scan keeps none).
  template <typename F>
  int64_t with_checkpoints(F&& f) {
    const int64_t n = mamba_scan_checkpoint_floats_cuda(&a);
    if (n <= 0) return n;
    void* ck = dalloc((size_t)n * 4);
    o.checkpoints = static_cast<float*>(ck);
    g.checkpoints = o.checkpoints;
    f();
    o.checkpoints = nullptr;
    g.checkpoints = nullptr;
    cudaFree(ck);
    return n;
  }

  void release() {
    for (void* p : owned) cudaFree(p);
    owned.clear();
  }

 private:
  void* alloc(size_t bytes) { return owned.emplace_back(dalloc(bytes)); }
};

}  // namespace bench
