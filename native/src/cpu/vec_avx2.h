// 8 x fp32 AVX2+FMA vector for the scan kernels. Only include from a translation unit compiled
// with -mavx2 -mfma (scan_kernels_avx2.cpp); the runtime dispatch decides whether it may run.
#pragma once
#include <immintrin.h>
#include "cpu/fast_math.h"

namespace mamba {
namespace cpu {
namespace {

struct VecAvx2 {
  using T = float;
  static constexpr int W = 8;
  struct V { __m256 x; };

  static V set1(float a) { return {_mm256_set1_ps(a)}; }
  static V load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static void store(float* p, V a) { _mm256_storeu_ps(p, a.x); }
  static V add(V a, V b) { return {_mm256_add_ps(a.x, b.x)}; }
  static V sub(V a, V b) { return {_mm256_sub_ps(a.x, b.x)}; }
  static V mul(V a, V b) { return {_mm256_mul_ps(a.x, b.x)}; }
  static V fma(V a, V b, V c) { return {_mm256_fmadd_ps(a.x, b.x, c.x)}; }
  static V select_gt(V x, float thr, V a, V b) {
    const __m256 m = _mm256_cmp_ps(x.x, _mm256_set1_ps(thr), _CMP_GT_OQ);
    return {_mm256_blendv_ps(b.x, a.x, m)};
  }

  // 2^x as exp2_approx (fast_math.h): clamp to [-127, 127], x = i + f, kExp2Poly, 2^i in the exponent bits.
  static V exp2(V a) {
    __m256 x = _mm256_min_ps(_mm256_max_ps(a.x, _mm256_set1_ps(-127.f)), _mm256_set1_ps(127.f));
    const __m256 i = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_sub_ps(x, i);
    __m256 p = _mm256_set1_ps(kExp2Poly[0]);
    for (int k = 1; k < 8; ++k) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2Poly[k]));
    // i = -127 gives exponent field 0, i.e. 2^i == 0: deep underflow flushes to zero.
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(i), _mm256_set1_epi32(127)), 23);
    return {_mm256_mul_ps(p, _mm256_castsi256_ps(e))};
  }

  // softplus(x) = max(x, 0) + log1p(exp(-|x|)) with kAtanhSeries for the log1p, as softplus_approx.
  static V softplus(V a) {
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), a.x);
    const __m256 e = exp2({_mm256_mul_ps(ax, _mm256_set1_ps(-1.44269504f))}).x;
    const __m256 s = _mm256_div_ps(e, _mm256_add_ps(e, _mm256_set1_ps(2.f)));
    const __m256 s2 = _mm256_mul_ps(s, s);
    __m256 p = _mm256_set1_ps(kAtanhSeries[0]);
    for (int k = 1; k < 8; ++k) p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(kAtanhSeries[k]));
    const __m256 l = _mm256_mul_ps(_mm256_add_ps(s, s), p);
    const __m256 r = _mm256_add_ps(_mm256_max_ps(a.x, _mm256_setzero_ps()), l);
    return select_gt(a, 20.f, a, {r});  // identity branch, as mamba::softplus
  }

  static V sigmoid(V a) {
    const __m256 e = exp2({_mm256_mul_ps(a.x, _mm256_set1_ps(-1.44269504f))}).x;
    return {_mm256_div_ps(_mm256_set1_ps(1.f), _mm256_add_ps(_mm256_set1_ps(1.f), e))};
  }

  // 8x8 block transpose: dst[k * dst_ld + j] = src[j * src_ld + k]. Moves (time x channel) tiles
  // to and from time-contiguous rows without per-element scalar work.
  static void transpose8(const float* src, int64_t src_ld, float* dst, int64_t dst_ld) {
    __m256 r[8], t[8];
    for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + j * src_ld);
    for (int j = 0; j < 8; j += 2) {
      t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
      t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
    }
    for (int j = 0; j < 8; j += 4) {
      r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
      r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xEE);
      r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
      r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
    }
    for (int k = 0; k < 4; ++k) {
      _mm256_storeu_ps(dst + k * dst_ld, _mm256_permute2f128_ps(r[k], r[k + 4], 0x20));
      _mm256_storeu_ps(dst + (k + 4) * dst_ld, _mm256_permute2f128_ps(r[k], r[k + 4], 0x31));
    }
  }

  // dst[i] += hsum(v[i]) for i < count; eight at a time via a transposing add tree.
  static void hsum_add(const V* v, int count, float* dst) {
    int i = 0;
    for (; i + 8 <= count; i += 8) {
      const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(v[i].x, v[i + 1].x), _mm256_hadd_ps(v[i + 2].x, v[i + 3].x));
      const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(v[i + 4].x, v[i + 5].x), _mm256_hadd_ps(v[i + 6].x, v[i + 7].x));
      // a = [lo halves of v0..v3 | hi halves of v0..v3], likewise b for v4..v7
      const __m256 s = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
      _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), s));
    }
    for (; i < count; ++i) dst[i] += hsum(v[i]);
  }

  static float hsum(V a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.x), _mm256_extractf128_ps(a.x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace
}  // namespace cpu
}  // namespace mamba
