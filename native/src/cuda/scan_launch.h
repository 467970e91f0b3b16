// Launchers for one (storage type, B/C type) pair; instantiated in scan_{fwd,bwd}_<type>.cu.
#pragma once
#include <cuda_runtime.h>
#include "scan_params.cuh"

namespace mamba::cuda {

// Forward: out and final_state.
template <typename T, typename BT>
int launch_scan_fwd(const ScanParams& p, cudaStream_t stream);

// Backward: checkpoint pass, fused backward, then the fixed-order reductions into the gradients.
// p's scratch pointers must be set (see scan_geometry for their sizes).
template <typename T, typename BT>
int launch_scan_bwd(const ScanParams& p, cudaStream_t stream);

}  // namespace mamba::cuda
