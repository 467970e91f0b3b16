// Selective scan fwd instantiations for bf16 storage (B and C in fp32 or bf16).
#include "scan_launch.cuh"
using mamba::cuda::ScanParams;
MAMBA_INSTANTIATE_SCAN_FWD(__nv_bfloat16, float)
MAMBA_INSTANTIATE_SCAN_FWD(__nv_bfloat16, __nv_bfloat16)
