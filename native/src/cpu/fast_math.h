// 2^x and softplus for the CPU kernels' fp32 paths, branch-free so loops over them vectorise at any ISA level.
// GCC keeps float compares as branches under its default -ftrapping-math, which blocks vectorising,
// so these select with integer masks on the float bits instead.
#pragma once
#include <cstdint>
#include <cstring>

namespace mamba {
namespace cpu {
namespace {  // internal linkage: included by TUs built with different -m flags

// The two polynomials, highest power first, shared with VecAvx2 (vec_avx2.h) so the coefficients live once.
// 2^f for |f| <= 1/2: the degree-7 Taylor polynomial of e^(f ln2), coefficients ln2^k / k! (truncation < 1e-8).
constexpr float kExp2Poly[8] = {1.5252733e-5f, 1.5403530e-4f, 1.3333558e-3f, 9.6181291e-3f,
                                5.5504109e-2f, 2.4022651e-1f, 6.9314718e-1f, 1.f};
// log1p(e) = 2 atanh(s) = 2 s P(s^2) with s = e / (2 + e) in [0, 1/3]: the odd series 1/(2k+1) to s^15
// (~1e-9 there), which never forms 1 + e.
constexpr float kAtanhSeries[8] = {1.f / 15.f, 1.f / 13.f, 1.f / 11.f, 1.f / 9.f, 1.f / 7.f, 1.f / 5.f, 1.f / 3.f, 1.f};

inline int32_t float_bits(float f) { int32_t i; std::memcpy(&i, &f, 4); return i; }
inline float bits_float(int32_t i) { float f; std::memcpy(&f, &i, 4); return f; }

// 2^x to ~1e-7 relative. x clamped to [-127, 127] (NaN stays NaN): x = i + f rounded with the 1.5 * 2^23
// shifter, kExp2Poly for 2^f, 2^i in the exponent bits (0 at -127: deep underflow flushes to zero).
inline float exp2_approx(float x) {
  const int32_t u = float_bits(x), mag = u & 0x7fffffff, lim = 0x42fe0000;  // 127.f
  const int32_t clamped = mag > lim && mag <= 0x7f800000 ? lim : mag;      // inf -> 127, NaN kept
  x = bits_float((u & int32_t(0x80000000u)) | clamped);
  const float shifter = 12582912.f;
  const float j = x + shifter, f = x - (j - shifter);
  float p = kExp2Poly[0];
  for (int k = 1; k < 8; ++k) p = p * f + kExp2Poly[k];
  return p * bits_float(int32_t(uint32_t(float_bits(j) - 0x4B400000 + 127) << 23));
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)) with kAtanhSeries for the log1p (as VecAvx2); identity
// above 20 like mamba::softplus (scalar_math.h).
inline float softplus_approx(float x) {
  const int32_t u = float_bits(x);
  const float e = exp2_approx(-bits_float(u & 0x7fffffff) * 1.44269504f);
  const float s = e / (2.f + e), s2 = s * s;
  float p = kAtanhSeries[0];
  for (int k = 1; k < 8; ++k) p = p * s2 + kAtanhSeries[k];
  const float r = bits_float(u & ~(u >> 31)) + 2.f * s * p;  // max(x, 0) + ...
  const int32_t big = -int32_t(u > 0x41a00000);                // x > 20 (false for every x < 0)
  return bits_float((u & big) | (float_bits(r) & ~big));
}

}  // namespace
}  // namespace cpu
}  // namespace mamba
