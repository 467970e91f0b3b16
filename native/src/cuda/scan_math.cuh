// Pointwise math of the selective scan, shared by forward and backward so both see the same numbers.
// Uses the hardware exp/log/divide approximations (a few ulp): these run once per element, next to
// N exp2 per element in the scan, and accurate libm versions cost more than the scan step itself.
// CUDA-only: the CPU kernels' counterparts of the same formulas are cpu/scalar_math.h (libm) and
// cpu/fast_math.h (branch-free polynomials); nvcc never includes those.
#pragma once
#include <cuda_runtime.h>

namespace mamba::cuda {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Softplus as mamba_ssm does it: identity above 20, where log1p(exp(x)) == x in fp32 anyway.
// Below -5, log1p(e) = e - e^2/2 + O(e^3) avoids log(1 + tiny) cancellation.
__device__ __forceinline__ float softplus(float x) {
  if (x > 20.f) return x;
  const float e = __expf(x);
  return x < -5.f ? e * (1.f - 0.5f * e) : __logf(1.f + e);
}
// 2^x as one MUFU.EX2. exp2f adds a denormal range fix-up (3 more instructions) that a decay factor
// does not need: a decay below 2^-126 flushed to 0 changes h by less than 1e-38 * h.
__device__ __forceinline__ float exp2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float sigmoid(float x) { return __fdividef(1.f, 1.f + __expf(-x)); }
// d softplus / dx = sigmoid(x); exactly 1 on the identity branch.
__device__ __forceinline__ float softplus_grad(float x) { return x > 20.f ? 1.f : sigmoid(x); }
__device__ __forceinline__ float silu(float x) { return x * sigmoid(x); }
// d silu / dx = s * (1 + x * (1 - s)).
__device__ __forceinline__ float silu_grad(float x) {
  const float s = sigmoid(x);
  return s * (1.f + x * (1.f - s));
}

// (softplus(x), softplus'(x)) with one exp: sigmoid(x) = e / (1 + e) for e = exp(x), same branches as above.
__device__ __forceinline__ float2 softplus_and_grad(float x) {
  if (x > 20.f) return make_float2(x, 1.f);
  const float e = __expf(x);
  return make_float2(x < -5.f ? e * (1.f - 0.5f * e) : __logf(1.f + e), __fdividef(e, 1.f + e));
}
// (silu(x), silu'(x)) from one sigmoid.
__device__ __forceinline__ float2 silu_and_grad(float x) {
  const float s = sigmoid(x);
  return make_float2(x * s, s * (1.f + x * (1.f - s)));
}

}  // namespace mamba::cuda
