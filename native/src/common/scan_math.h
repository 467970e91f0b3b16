// Scalar math of the selective scan, shared by the CPU and CUDA kernels so both discretise alike.
// Dependency-free on purpose: only <math.h>, usable from host C++ and from CUDA device code.
#pragma once
#include <math.h>

#ifdef __CUDACC__
#define MAMBA_HD __host__ __device__
#else
#define MAMBA_HD
#endif

namespace mamba {
// Anonymous namespace: internal linkage, so translation units built with different -m flags
// (the AVX2 and the portable CPU kernels) never share one out-of-line copy.
namespace {

// softplus(x) = log1p(exp(x)); identity above 20 like mamba_ssm (exp would only add rounding).
MAMBA_HD inline float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }
MAMBA_HD inline double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }

MAMBA_HD inline float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
MAMBA_HD inline double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

// d softplus / dx: sigmoid, and exactly 1 on the identity branch.
MAMBA_HD inline float softplus_grad(float x) { return x > 20.f ? 1.f : sigmoid(x); }
MAMBA_HD inline double softplus_grad(double x) { return x > 20.0 ? 1.0 : sigmoid(x); }

MAMBA_HD inline float silu(float x) { return x * sigmoid(x); }
MAMBA_HD inline double silu(double x) { return x * sigmoid(x); }

// d silu / dx = s * (1 + x * (1 - s)) with s = sigmoid(x).
MAMBA_HD inline float silu_grad(float x) {
  const float s = sigmoid(x);
  return s * (1.f + x * (1.f - s));
}
MAMBA_HD inline double silu_grad(double x) {
  const double s = sigmoid(x);
  return s * (1.0 + x * (1.0 - s));
}

// 2^x to ~1e-7 relative: x = i + f with |f| <= 1/2, 2^f by its degree-7 Taylor polynomial
// (truncation < 1e-8), 2^i applied exactly. Below -127 the result is 0; the kernels call it as
// exp(dt * A) = 2^(dt * A * log2(e)) with A pre-scaled once per channel.
MAMBA_HD inline float fast_exp2(float x) {
  x = fminf(fmaxf(x, -127.f), 127.f);
  const float i = rintf(x);
  const float f = x - i;
  float p = 1.5252733e-5f;      // ln2^7 / 7!
  p = p * f + 1.5403530e-4f;    // ln2^6 / 6!
  p = p * f + 1.3333558e-3f;    // ln2^5 / 5!
  p = p * f + 9.6181291e-3f;    // ln2^4 / 4!
  p = p * f + 5.5504109e-2f;    // ln2^3 / 3!
  p = p * f + 2.4022651e-1f;    // ln2^2 / 2!
  p = p * f + 6.9314718e-1f;    // ln2
  p = p * f + 1.f;
  return ldexpf(p, (int)i);
}

}  // namespace
}  // namespace mamba
