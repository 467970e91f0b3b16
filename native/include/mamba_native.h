/* The C ABI of the Microsoft.ML.Mamba native kernels: the only contract between C# and native code.
 *
 * Conventions
 * - Every function returns MAMBA_OK (0) or a negative error code; mamba_last_error() then gives a
 *   message for the calling thread.
 * - Tensors are raw device or host pointers with explicit element strides, so views need no copy.
 * - CUDA entry points take a stream (cudaStream_t as void*); NULL means the legacy default stream,
 *   which keeps them ordered with libtorch's own work on that device.
 */
#ifndef MAMBA_NATIVE_H
#define MAMBA_NATIVE_H

#include <stdint.h>

#ifdef __cplusplus
#define MAMBA_EXTERN extern "C"
#else
#define MAMBA_EXTERN
#endif
#if defined(_WIN32)
#define MAMBA_API MAMBA_EXTERN __declspec(dllexport)
#else
#define MAMBA_API MAMBA_EXTERN __attribute__((visibility("default")))
#endif

/* Bumped whenever a signature in this header changes; C# checks it before calling anything else. */
#define MAMBA_ABI_VERSION 1

enum mamba_status {
  MAMBA_OK = 0,
  MAMBA_ERR_INVALID_ARGUMENT = -1,
  MAMBA_ERR_UNSUPPORTED = -2,
  MAMBA_ERR_CUDA = -3,
  MAMBA_ERR_OUT_OF_MEMORY = -4,
  MAMBA_ERR_NOT_BUILT = -5
};

enum mamba_dtype { MAMBA_F32 = 0, MAMBA_F16 = 1, MAMBA_BF16 = 2, MAMBA_F64 = 3 };

MAMBA_API int32_t mamba_abi_version(void);
/* 1 when the library was built with its CUDA kernels. */
MAMBA_API int32_t mamba_has_cuda(void);
/* Message of the last error on this thread, or "" when there was none. Valid until the next call. */
MAMBA_API const char* mamba_last_error(void);

#endif /* MAMBA_NATIVE_H */
