// Second-stage sums of the backward partials, each over one axis in a fixed order (deterministic).
#pragma once
#include "dtype.cuh"
#include "scan_params.cuh"

namespace mamba::cuda {

// out[b, g, n, t] = sum over channel blocks of part[blk, b, g, t, n]. One thread per output, state
// fastest, so a warp reads 128 contiguous bytes of each partial plane (the reads are the traffic:
// nblk planes in, one out); the scattered writes to a time-contiguous dB/dC are only 1/nblk of it.
template <typename BT>
__global__ void reduce_bc_kernel(const float* part, int nblk, ScanParams p, BT* out,
                                 int64_t s0, int64_t s1, int64_t s2, int64_t s3) {
  const int64_t L = p.length, N = p.state, G = p.groups;
  const int64_t total = (int64_t)p.batch * G * L * N;  // also one block's plane of partials
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = i % N, t = (i / N) % L, g = (i / (N * L)) % G, b = i / (N * L * G);
    const float* src = part + i;  // part is laid out (blk, b, g, t, n)
    float acc = 0.f;
#pragma unroll 8
    for (int k = 0; k < nblk; ++k) acc += __ldg(src + k * total);
    store_f(out + b * s0 + g * s1 + n * s2 + t * s3, acc);
  }
}

// out[r * cols + col] = sum over b of part[(b * rows + r) * pitch + col].
// static: this header is included by several translation units.
static __global__ void reduce_batch_kernel(const float* part, int batch, int rows, int cols, int pitch, float* out) {
  const int64_t total = (int64_t)rows * cols;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / cols, col = i % cols;
    float acc = 0.f;
    for (int b = 0; b < batch; ++b) acc += part[((int64_t)b * rows + r) * pitch + col];
    out[i] = acc;
  }
}

}  // namespace mamba::cuda
