// Selective scan bwd instantiations for f16 storage (B and C in fp32 or f16).
#include "scan_launch.cuh"
using mamba::cuda::ScanParams;
MAMBA_INSTANTIATE_SCAN_BWD(__half, float)
MAMBA_INSTANTIATE_SCAN_BWD(__half, __half)
