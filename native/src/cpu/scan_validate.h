// Argument checks shared by the scan and conv entry points; each failure names the argument.
#pragma once
#include "mamba_native.h"

namespace mamba {
namespace cpu {
// MAMBA_OK, or the error code after recording the message with mamba::fail.
int validate_dtype(const char* name, int32_t dtype);
int validate_scan(const mamba_scan_args* a);
int validate_conv(const mamba_conv_args* a);
}  // namespace cpu
}  // namespace mamba
