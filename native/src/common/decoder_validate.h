// Checks of a mamba_decoder_desc that need no device: sizes, dtypes, required pointers. Shared by the CUDA
// decoder and the stub of builds without CUDA, so a bad descriptor is reported the same way in both.
#pragma once
#include "mamba_native.h"

namespace mamba {
// MAMBA_OK, or MAMBA_ERR_INVALID_ARGUMENT / MAMBA_ERR_UNSUPPORTED after recording "decoder: <argument> ...".
int check_decoder_desc(const mamba_decoder_desc* d);
// The same for Mamba-2's descriptor.
int check_mamba2_decoder_desc(const mamba2_decoder_desc* d);
}  // namespace mamba
