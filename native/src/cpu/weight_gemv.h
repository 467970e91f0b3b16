// Weight-only quantized matrix-vector products for decoding (mamba_gemv_cpu, mamba_native.h): shared between the
// entry points (weight_gemv.cpp, baseline x86-64) and the AVX2+FMA kernels (weight_gemv_avx2.cpp).
#pragma once
#include <cstdint>
#include "mamba_native.h"

namespace mamba {
namespace cpu {

// A validated mamba_gemv_args with the optional pieces resolved. The kernels compute outputs [r0, r1) for every
// batch row: y[b,o] = add[b,o] + bias[o] + scale[o] * sum_i x[b,i] * w[o,i] (scale 1 unless int8).
struct GemvProblem {
  int64_t batch, in, out;
  int32_t format;
  const float* x; int64_t xs;
  const void* w;
  const float* scales;
  const float* bias;
  const float* add; int64_t as;
  float* y; int64_t ys;
};

// Output rows [r0, r1): the portable kernels (any CPU) and the AVX2+FMA ones (only called when the CPU has both).
void gemv_rows_generic(const GemvProblem& p, int64_t r0, int64_t r1);
void gemv_rows_avx2(const GemvProblem& p, int64_t r0, int64_t r1);

// The fp32 row of one output's weights, dequantized (int8: without the scale, which the caller applies after the
// dot product), for callers that convert a few rows at a time (the decode step's x_proj).
void weight_rows_to_f32(int32_t format, const void* w, int64_t r0, int64_t r1, int64_t in, float* dst);

}  // namespace cpu
}  // namespace mamba
