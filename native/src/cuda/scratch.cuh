// Stream-ordered scratch memory for kernels that need partial sums: one cudaMallocAsync per call,
// carved into aligned pieces, freed with cudaFreeAsync on the same stream.
#pragma once
#include <cuda_runtime.h>
#include <atomic>
#include <cstdint>
#include <string>
#include "common/errors.h"

namespace mamba::cuda {

// One stream-ordered allocation carved into aligned pieces; a pass with base == nullptr only sizes it.
struct Scratch {
  float* base = nullptr;
  size_t floats = 0;
  float* take(size_t n) {
    float* r = base ? base + floats : nullptr;
    floats += (n + 63) / 64 * 64;  // 256-byte alignment for every piece
    return r;
  }
};

// The device's default pool hands every freed byte back to the driver at each synchronisation (release
// threshold 0), so after a sync the next call maps its scratch again: about 0.3 ms for the 400 MB of an
// (8, 2048, 2048, 16) scan backward. Raise the threshold once per device so up to 1 GiB of freed scratch
// stays in the pool; an application that set a higher one keeps it.
inline void keep_pool_memory() {
  static std::atomic<bool> done[64];
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64) {
    (void)cudaGetLastError();
    return;
  }
  if (done[device].exchange(true)) return;
  cudaMemPool_t pool;
  uint64_t current = 0, keep = uint64_t(1) << 30;
  if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess &&
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &current) == cudaSuccess && current < keep)
    (void)cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
  (void)cudaGetLastError();  // a failure here only costs speed
}

// One stream-ordered allocation of `floats` floats (none for 0).
inline int alloc_scratch(size_t floats, cudaStream_t st, const char* what, void** mem) {
  *mem = nullptr;
  if (floats == 0) return MAMBA_OK;
  keep_pool_memory();
  const cudaError_t e = cudaMallocAsync(mem, floats * sizeof(float), st);
  if (e == cudaSuccess) return MAMBA_OK;
  (void)cudaGetLastError();
  *mem = nullptr;
  const int code = e == cudaErrorMemoryAllocation ? MAMBA_ERR_OUT_OF_MEMORY : MAMBA_ERR_CUDA;
  return mamba::fail(code, std::string(what) + " (cuda): could not allocate " + std::to_string(floats * sizeof(float)) +
                               " bytes of scratch: " + cudaGetErrorString(e));
}

}  // namespace mamba::cuda
