// Selective scan bwd instantiations for f32 storage (B and C in fp32 or f32).
#include "scan_launch.cuh"
using mamba::cuda::ScanParams;
MAMBA_INSTANTIATE_SCAN_BWD(float, float)
