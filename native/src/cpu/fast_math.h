// 2^x and softplus for the CPU kernels' fp32 paths, branch-free so loops over them vectorise at any ISA level.
// GCC keeps float compares as branches under its default -ftrapping-math, which blocks vectorising,
// so these select with integer masks on the float bits instead.
#pragma once
#include <cstdint>
#include <cstring>

namespace mamba {
namespace cpu {
namespace {  // internal linkage: included by TUs built with different -m flags

inline int32_t float_bits(float f) { int32_t i; std::memcpy(&i, &f, 4); return i; }
inline float bits_float(int32_t i) { float f; std::memcpy(&f, &i, 4); return f; }

// x clamped to [-127, 127] (NaN stays NaN): round with the 1.5 * 2^23 shifter, degree-7 polynomial for
// the fraction, 2^i in the exponent bits (0 at -127). Same polynomial as mamba::fast_exp2 (~1e-7 relative).
inline float exp2_approx(float x) {
  const int32_t u = float_bits(x), mag = u & 0x7fffffff, lim = 0x42fe0000;  // 127.f
  const int32_t clamped = mag > lim && mag <= 0x7f800000 ? lim : mag;      // inf -> 127, NaN kept
  x = bits_float((u & int32_t(0x80000000u)) | clamped);
  const float shifter = 12582912.f;
  const float j = x + shifter, f = x - (j - shifter);
  float p = 1.5252733e-5f;
  p = p * f + 1.5403530e-4f;
  p = p * f + 1.3333558e-3f;
  p = p * f + 9.6181291e-3f;
  p = p * f + 5.5504109e-2f;
  p = p * f + 2.4022651e-1f;
  p = p * f + 6.9314718e-1f;
  p = p * f + 1.f;
  return p * bits_float(int32_t(uint32_t(float_bits(j) - 0x4B400000 + 127) << 23));
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)), log1p(e) = 2 atanh(e / (2 + e)) as an odd series
// (as VecAvx2); identity above 20 like mamba::softplus.
inline float softplus_approx(float x) {
  const int32_t u = float_bits(x);
  const float e = exp2_approx(-bits_float(u & 0x7fffffff) * 1.44269504f);
  const float s = e / (2.f + e), s2 = s * s;
  float p = 1.f / 15.f;
  p = p * s2 + 1.f / 13.f;
  p = p * s2 + 1.f / 11.f;
  p = p * s2 + 1.f / 9.f;
  p = p * s2 + 1.f / 7.f;
  p = p * s2 + 1.f / 5.f;
  p = p * s2 + 1.f / 3.f;
  p = p * s2 + 1.f;
  const float r = bits_float(u & ~(u >> 31)) + 2.f * s * p;  // max(x, 0) + ...
  const int32_t big = -int32_t(u > 0x41a00000);                // x > 20 (false for every x < 0)
  return bits_float((u & big) | (float_bits(r) & ~big));
}

}  // namespace
}  // namespace cpu
}  // namespace mamba
