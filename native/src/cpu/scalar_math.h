// Accurate (libm) scalar activations of the CPU kernels: the fp64 scan path (vec_generic.h) and conv1d's
// SiLU in either precision. The fp32 scan and decode paths use fast_math.h's branch-free approximations;
// the CUDA kernels have their own hardware-approximated versions (cuda/scan_math.cuh).
#pragma once
#include <math.h>

namespace mamba {
// Anonymous namespace: internal linkage, so translation units built with different -m flags
// (the AVX2 and the portable CPU kernels) never share one out-of-line copy.
namespace {

// softplus(x) = log1p(exp(x)); identity above 20 like mamba_ssm (exp would only add rounding).
inline double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }

inline float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
inline double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

inline float silu(float x) { return x * sigmoid(x); }
inline double silu(double x) { return x * sigmoid(x); }

// d silu / dx = s * (1 + x * (1 - s)) with s = sigmoid(x).
inline float silu_grad(float x) {
  const float s = sigmoid(x);
  return s * (1.f + x * (1.f - s));
}
inline double silu_grad(double x) {
  const double s = sigmoid(x);
  return s * (1.0 + x * (1.0 - s));
}

}  // namespace
}  // namespace mamba
