// Argument checks of the Mamba-2 (SSD) entry points, shared by the CPU and CUDA kernels: sizes and their
// limits, dtypes, required pointers, and layouts (through abi_validate). Each returns MAMBA_OK, or an error
// code after recording "<where>: <argument> ..." with mamba::fail. Device placement is the C# side's check.
#pragma once
#include "mamba_native.h"

namespace mamba {
constexpr int64_t kSsdMaxState = 256;
constexpr int64_t kSsdMaxHeadDim = 256;
constexpr int64_t kSsdMaxChunk = 1024;
constexpr int64_t kSsdMaxWidth = 8;

int check_ssd_args(const char* where, const mamba_ssd_args* a);
int check_ssd_outputs(const char* where, const mamba_ssd_args* a, const mamba_ssd_outputs* o);
int check_ssd_grads(const char* where, const mamba_ssd_args* a, const mamba_ssd_grads* g);
int check_ssd_step(const char* where, const mamba_ssd_step_args* a);
}  // namespace mamba
