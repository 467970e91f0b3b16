// Second-stage sums of the backward partials, each over one axis in a fixed order (deterministic).
#pragma once
#include "dtype.cuh"
#include "scan_params.cuh"

namespace mamba::cuda {

// out[b, g, n, t] = sum over channel blocks of part[blk, b, g, t, n]. One thread per output,
// time fastest, so writes to a time-contiguous dB/dC coalesce.
template <typename BT>
__global__ void reduce_bc_kernel(const float* part, int nblk, ScanParams p, BT* out,
                                 int64_t s0, int64_t s1, int64_t s2, int64_t s3) {
  const int64_t L = p.length, N = p.state, G = p.groups;
  const int64_t total = (int64_t)p.batch * G * N * L;
  const int64_t plane = (int64_t)p.batch * G * L * N;  // one block's partials
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = i % L, n = (i / L) % N, g = (i / (L * N)) % G, b = i / (L * N * G);
    const float* src = part + ((b * G + g) * L + t) * N + n;
    float acc = 0.f;
    for (int k = 0; k < nblk; ++k) acc += src[k * plane];
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
