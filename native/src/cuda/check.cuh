// Turns CUDA runtime errors into mamba status codes with a message (see common/errors.h).
#pragma once
#include <cuda_runtime.h>
#include <string>
#include "common/errors.h"

namespace mamba::cuda {

inline int cuda_fail(cudaError_t e, const char* what) {
  const int code = e == cudaErrorMemoryAllocation ? MAMBA_ERR_OUT_OF_MEMORY : MAMBA_ERR_CUDA;
  return fail(code, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

}  // namespace mamba::cuda

// Returns from the calling function with a mamba status when a CUDA call fails.
#define MAMBA_CUDA_TRY(call, what)                     \
  do {                                                 \
    const cudaError_t e_ = (call);                     \
    if (e_ != cudaSuccess) {                           \
      (void)cudaGetLastError(); /* clear non-sticky */ \
      return ::mamba::cuda::cuda_fail(e_, what);       \
    }                                                  \
  } while (0)

// After a kernel launch: catches bad configurations and earlier asynchronous faults.
#define MAMBA_CUDA_LAUNCHED(what) MAMBA_CUDA_TRY(cudaGetLastError(), what)
