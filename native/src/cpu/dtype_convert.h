// Storage conversions (fp32/fp64/fp16/bf16 <-> compute type) and strided 2-D gather/scatter.
// Kernels work on small dense fp32/fp64 tiles; these are the only places that see strides and dtypes.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include "mamba_native.h"

namespace mamba {
namespace cpu {
namespace {  // internal linkage: included by TUs built with different -m flags

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float bf16_to_float(uint16_t h) { return bits_to_float(uint32_t(h) << 16); }
inline uint16_t float_to_bf16(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // keep NaN a NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                      // round to nearest even
  return uint16_t(u >> 16);
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (man << 13));   // inf / NaN
  if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (man << 13));
  // zero or subnormal: man * 2^-24
  const float v = float(man) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}
inline uint16_t float_to_half(float f) {
  const uint32_t u = float_to_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);            // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);           // rounds to >= 65520: inf
  if (a < 0x38800000u) {                                           // below the smallest normal
    // subnormal: value / 2^-24 rounded to nearest even (float arithmetic rounds that way)
    const float v = bits_to_float(a) * 16777216.f;
    const float r = std::rint(v);  // ties to even in the default rounding mode
    return uint16_t(sign | uint16_t(r));
  }
  // normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even
  uint32_t m = a - (112u << 23);
  m += 0xfffu + ((m >> 13) & 1u);
  return uint16_t(sign | uint16_t(m >> 13));
}

template <class T> inline T load_elem(const void* base, int dtype, int64_t i) {
  switch (dtype) {
    case MAMBA_F32: return T(static_cast<const float*>(base)[i]);
    case MAMBA_F64: return T(static_cast<const double*>(base)[i]);
    case MAMBA_F16: return T(half_to_float(static_cast<const uint16_t*>(base)[i]));
    default: return T(bf16_to_float(static_cast<const uint16_t*>(base)[i]));
  }
}
template <class T> inline void store_elem(void* base, int dtype, int64_t i, T v) {
  switch (dtype) {
    case MAMBA_F32: static_cast<float*>(base)[i] = float(v); break;
    case MAMBA_F64: static_cast<double*>(base)[i] = double(v); break;
    case MAMBA_F16: static_cast<uint16_t*>(base)[i] = float_to_half(float(v)); break;
    default: static_cast<uint16_t*>(base)[i] = float_to_bf16(float(v)); break;
  }
}

// Element codecs by storage type, so the tile loops below are instantiated per dtype.
struct F32 { using S = float; static float get(S v) { return v; } static S put(float v) { return v; } };
struct F64 { using S = double; static double get(S v) { return v; } static S put(double v) { return v; } };
struct F16 { using S = uint16_t; static float get(S v) { return half_to_float(v); } static S put(float v) { return float_to_half(v); } };
struct BF16 { using S = uint16_t; static float get(S v) { return bf16_to_float(v); } static S put(float v) { return float_to_bf16(v); } };

// Calls f(Codec{}) for the storage dtype (validated by the entry points; unknown values act as bf16).
template <class F> inline void with_codec(int dtype, F&& f) {
  switch (dtype) {
    case MAMBA_F32: f(F32{}); break;
    case MAMBA_F64: f(F64{}); break;
    case MAMBA_F16: f(F16{}); break;
    default: f(BF16{}); break;
  }
}

// dst[i*ld + j] = src[off + i*si + j*sj] for i < ni, j < nj; columns nj..ld-1 are zeroed (padding lanes).
template <class T>
inline void gather2d(const void* src, int dtype, int64_t off, int64_t si, int64_t sj, int ni, int nj, int ld, T* dst) {
  with_codec(dtype, [&](auto codec) {
    using Codec = decltype(codec);
    const typename Codec::S* s = static_cast<const typename Codec::S*>(src) + off;
    if (si == 1 && sj != 1) {  // time-contiguous source (the usual layout): walk each source run
      for (int j = 0; j < nj; ++j)
        for (int i = 0; i < ni; ++i) dst[int64_t(i) * ld + j] = T(Codec::get(s[j * sj + i]));
      for (int i = 0; i < ni; ++i)
        for (int j = nj; j < ld; ++j) dst[int64_t(i) * ld + j] = T(0);
      return;
    }
    for (int i = 0; i < ni; ++i) {
      T* row = dst + int64_t(i) * ld;
      for (int j = 0; j < nj; ++j) row[j] = T(Codec::get(s[i * si + j * sj]));
      for (int j = nj; j < ld; ++j) row[j] = T(0);
    }
  });
}

// dst[off + i*si + j*sj] = src[i*ld + j] for i < ni, j < nj.
template <class T>
inline void scatter2d(void* dst, int dtype, int64_t off, int64_t si, int64_t sj, int ni, int nj, int ld, const T* src) {
  with_codec(dtype, [&](auto codec) {
    using Codec = decltype(codec);
    typename Codec::S* d = static_cast<typename Codec::S*>(dst) + off;
    if (si == 1 && sj != 1) {  // time-contiguous destination: write each run in order
      for (int j = 0; j < nj; ++j)
        for (int i = 0; i < ni; ++i) d[j * sj + i] = Codec::put(src[int64_t(i) * ld + j]);
      return;
    }
    for (int i = 0; i < ni; ++i) {
      const T* row = src + int64_t(i) * ld;
      for (int j = 0; j < nj; ++j) d[i * si + j * sj] = Codec::put(row[j]);
    }
  });
}

}  // namespace
}  // namespace cpu
}  // namespace mamba
