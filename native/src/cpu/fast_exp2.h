// 2^x for the CPU kernels' fp32 paths, branch-free so loops over it vectorise at any ISA level.
// GCC keeps float compares as branches under its default -ftrapping-math, which blocks vectorising,
// so the clamp selects with integer masks on the float bits instead.
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

}  // namespace
}  // namespace cpu
}  // namespace mamba
