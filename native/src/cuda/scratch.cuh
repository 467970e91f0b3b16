// Stream-ordered scratch memory for kernels that need partial sums: one cudaMallocAsync per call,
// carved into aligned pieces, freed with cudaFreeAsync on the same stream.
#pragma once
#include <cuda_runtime.h>
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

// One stream-ordered allocation of `floats` floats (none for 0).
inline int alloc_scratch(size_t floats, cudaStream_t st, const char* what, void** mem) {
  *mem = nullptr;
  if (floats == 0) return MAMBA_OK;
  const cudaError_t e = cudaMallocAsync(mem, floats * sizeof(float), st);
  if (e == cudaSuccess) return MAMBA_OK;
  (void)cudaGetLastError();
  *mem = nullptr;
  const int code = e == cudaErrorMemoryAllocation ? MAMBA_ERR_OUT_OF_MEMORY : MAMBA_ERR_CUDA;
  return mamba::fail(code, std::string(what) + " (cuda): could not allocate " + std::to_string(floats * sizeof(float)) +
                               " bytes of scratch: " + cudaGetErrorString(e));
}

}  // namespace mamba::cuda
