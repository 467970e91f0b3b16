// Pointwise math of the selective scan, shared by forward and backward so both see the same numbers.
#pragma once
#include <cuda_runtime.h>

namespace mamba::cuda {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Softplus as mamba_ssm does it: identity above 20, where log1p(exp(x)) == x in fp32 anyway.
__device__ __forceinline__ float softplus(float x) { return x <= 20.f ? log1pf(expf(x)) : x; }
// d softplus / dx = sigmoid(x); exactly 1 on the identity branch.
__device__ __forceinline__ float softplus_grad(float x) { return x <= 20.f ? 1.f / (1.f + expf(-x)) : 1.f; }

__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
__device__ __forceinline__ float silu(float x) { return x * sigmoid(x); }
// d silu / dx = s * (1 + x * (1 - s)).
__device__ __forceinline__ float silu_grad(float x) {
  const float s = sigmoid(x);
  return s * (1.f + x * (1.f - s));
}

}  // namespace mamba::cuda
