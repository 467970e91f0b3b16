// Layout checks of the C ABI structs shared by the CPU and CUDA entry points: strides non-negative, no
// written tensor whose stride 0 makes distinct elements alias, and element counts and offsets within int64.
// Callers check sizes, dtypes and required pointers first; these trust those and look only at layouts.
// Each returns MAMBA_OK, or MAMBA_ERR_INVALID_ARGUMENT after recording "<where>: <argument> ..." with mamba::fail.
#pragma once
#include "mamba_native.h"

namespace mamba {
// One tensor of `rank` axes: `written` tensors may not alias elements (stride 0 on an axis longer than 1).
int check_layout(const char* where, const char* name, int rank, const int64_t* sizes, const int64_t* strides, bool written);
// The product of `count` sizes fits int64 (sizes already checked non-negative).
int check_count(const char* where, const char* name, int count, const int64_t* sizes);

int check_scan_layout(const char* where, const mamba_scan_args* a);
int check_scan_outputs_layout(const char* where, const mamba_scan_args* a, const mamba_scan_outputs* o);
int check_scan_grads_layout(const char* where, const mamba_scan_args* a, const mamba_scan_grads* g);
int check_conv_layout(const char* where, const mamba_conv_args* a);
// out, dout, dx: (batch, dim, length) tensors of the conv; NULL strides are the caller's to reject.
int check_conv_tensor(const char* where, const char* name, const mamba_conv_args* a, const int64_t* strides, bool written);
int check_step_layout(const char* where, const mamba_step_args* a);
// The forward RMSNorm's arguments, all of them (sizes, pointers, dtype, row strides).
int check_rms_norm(const char* where, int64_t rows, int64_t size, int32_t dtype, const void* x, int64_t x_row_stride,
                   const void* weight, const void* out, int64_t out_row_stride);
// The gated RMSNorm pair's arguments (mamba_native.h): sizes, groups, dtype, and every pointer the call needs
// (rstd only in the backward; dout, dy, dz and dweight when `backward`).
int check_gated_rms_norm(const char* where, int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                         const void* z, const float* weight, const void* out, const float* rstd, const void* dout,
                         const void* dy, const void* dz, const float* dweight, bool backward);
// Largest row the gated RMSNorm takes (the CUDA backward keeps a row of dweight partials in shared memory).
constexpr int64_t kMaxGatedNormSize = 12288;
}  // namespace mamba
