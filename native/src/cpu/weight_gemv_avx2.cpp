// AVX2+FMA kernels of mamba_gemv_cpu. This file alone is built with -mavx2 -mfma (CMakeLists.txt) and only called
// when the CPU has both (cpu_features.h); everything here has internal linkage (see scan_kernels_avx2.cpp for why).
// Without those flags (non-x86 builds) it forwards to the portable kernels.
//
// A tile is R output rows x B batch rows: each group of 8 weights is loaded and widened to fp32 once and used by B
// FMAs, each x vector by R. At batch 1 and 2 every weight is streamed once straight from memory (R = 4: four
// independent FMA chains per batch row). From batch 3 on, 4 rows at a time are first widened into an fp32 buffer
// (in L1 or L2) and the batch passes over it in tiles of 3, so widening costs once per weight instead of once per
// batch tile and each step of 8 weights does 12 FMAs.
#include "cpu/weight_gemv.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <memory>

namespace mamba {
namespace cpu {
namespace {

// 8 weights as fp32: int8 sign-extended, bf16 shifted into the high half, fp32 as they are.
template <int Format>
inline __m256 load8(const void* w, int64_t i) {
  if constexpr (Format == MAMBA_WEIGHTS_INT8) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(w) + i));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  } else if constexpr (Format == MAMBA_WEIGHTS_BF16) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  }
}

template <int Format>
inline float load1(const void* w, int64_t i) {
  if constexpr (Format == MAMBA_WEIGHTS_INT8) {
    return float(static_cast<const int8_t*>(w)[i]);
  } else if constexpr (Format == MAMBA_WEIGHTS_BF16) {
    const uint32_t bits = uint32_t(static_cast<const uint16_t*>(w)[i]) << 16;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
  } else {
    return static_cast<const float*>(w)[i];
  }
}

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

inline int64_t elem_bytes(int format) { return format == MAMBA_WEIGHTS_INT8 ? 1 : format == MAMBA_WEIGHTS_BF16 ? 2 : 4; }

// Rows [o, o + R) x batch rows [b, b + B); wbase: row o of weights stored as Format, rows `in` elements apart.
// Scaled: multiply by the int8 row scale (also when the rows were widened into an fp32 buffer).
constexpr int kAheadTiles = 2;

template <int Format, int R, int B, bool Scaled = Format == MAMBA_WEIGHTS_INT8, bool Prefetch = false>
void tile(const GemvProblem& p, const void* wrows, int64_t o, int64_t b) {
  const int64_t in = p.in, eb = elem_bytes(Format);
  const char* wbase = static_cast<const char*>(wrows);
  const void* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = wbase + r * in * eb;
  const float* xr[B];
  for (int k = 0; k < B; ++k) xr[k] = p.x + (b + k) * p.xs;

  __m256 acc[R][B];
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < B; ++k) acc[r][k] = _mm256_setzero_ps();
  // Streaming rows (batch 1 and 2): prefetch the same columns of the rows `Ahead` tiles on, so several tiles' lines
  // are in flight at once; one core's demand misses alone reach a fraction of the memory bandwidth.
  const char* ahead = Prefetch ? wbase + kAheadTiles * R * in * eb : nullptr;
  int64_t i = 0;
  for (; i + 8 <= in; i += 8) {
    if (Prefetch && ((i * eb) & 63) == 0)
      for (int r = 0; r < R; ++r) _mm_prefetch(ahead + (r * in + i) * eb, _MM_HINT_T0);
    __m256 xv[B];
    for (int k = 0; k < B; ++k) xv[k] = _mm256_loadu_ps(xr[k] + i);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = load8<Format>(wr[r], i);
      for (int k = 0; k < B; ++k) acc[r][k] = _mm256_fmadd_ps(wv, xv[k], acc[r][k]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const int64_t row = o + r;
    const float scale = Scaled ? p.scales[row] : 1.f;
    const float bias = p.bias ? p.bias[row] : 0.f;
    for (int k = 0; k < B; ++k) {
      float sum = hsum(acc[r][k]);
      for (int64_t j = i; j < in; ++j) sum += load1<Format>(wr[r], j) * xr[k][j];
      float v = scale * sum + bias;
      if (p.add) v += p.add[(b + k) * p.as + row];
      p.y[(b + k) * p.ys + row] = v;
    }
  }
}

const void* row_ptr(const GemvProblem& p, int64_t o) {
  return static_cast<const char*>(p.w) + o * p.in * elem_bytes(p.format);
}

// Batch 1 or 2: rows [o, o + R) straight from the stored weights.
template <int Format, int R>
void rows_small_batch(const GemvProblem& p, int64_t o) {
  // Prefetching past the last rows would touch memory beyond the weights: the last tiles go without.
  const bool prefetch = o + (kAheadTiles + 1) * R <= p.out;
  constexpr bool scaled = Format == MAMBA_WEIGHTS_INT8;
  if (p.batch == 2) prefetch ? tile<Format, R, 2, scaled, true>(p, row_ptr(p, o), o, 0) : tile<Format, R, 2>(p, row_ptr(p, o), o, 0);
  else prefetch ? tile<Format, R, 1, scaled, true>(p, row_ptr(p, o), o, 0) : tile<Format, R, 1>(p, row_ptr(p, o), o, 0);
}

// Batch 3 and more: rows [o, o + R) widened into buf (R * in floats), then every batch row in tiles of 3.
template <int Format, int R>
void rows_widened(const GemvProblem& p, int64_t o, float* buf) {
  const int64_t in = p.in;
  if constexpr (Format == MAMBA_WEIGHTS_F32) {
    (void)buf;
    buf = const_cast<float*>(static_cast<const float*>(row_ptr(p, o)));  // already fp32: read in place
  } else {
    const void* w = row_ptr(p, o);
    int64_t i = 0;
    for (; i + 8 <= R * in; i += 8) _mm256_storeu_ps(buf + i, load8<Format>(w, i));
    for (; i < R * in; ++i) buf[i] = load1<Format>(w, i);
  }
  constexpr bool scaled = Format == MAMBA_WEIGHTS_INT8;
  int64_t b = 0;
  for (; b + 3 <= p.batch; b += 3) tile<MAMBA_WEIGHTS_F32, R, 3, scaled>(p, buf, o, b);
  if (p.batch - b == 2) tile<MAMBA_WEIGHTS_F32, R, 2, scaled>(p, buf, o, b);
  if (p.batch - b == 1) tile<MAMBA_WEIGHTS_F32, R, 1, scaled>(p, buf, o, b);
}

template <int Format>
void rows(const GemvProblem& p, int64_t r0, int64_t r1) {
  int64_t o = r0;
  if (p.batch <= 2) {
    for (; o + 4 <= r1; o += 4) rows_small_batch<Format, 4>(p, o);
    for (; o < r1; ++o) rows_small_batch<Format, 1>(p, o);
    return;
  }
  std::unique_ptr<float[]> buf(Format == MAMBA_WEIGHTS_F32 ? nullptr : new float[size_t(4 * p.in)]);
  for (; o + 4 <= r1; o += 4) rows_widened<Format, 4>(p, o, buf.get());
  for (; o < r1; ++o) rows_widened<Format, 1>(p, o, buf.get());
}

}  // namespace

void gemv_rows_avx2(const GemvProblem& p, int64_t r0, int64_t r1) {
  switch (p.format) {
    case MAMBA_WEIGHTS_INT8: rows<MAMBA_WEIGHTS_INT8>(p, r0, r1); break;
    case MAMBA_WEIGHTS_BF16: rows<MAMBA_WEIGHTS_BF16>(p, r0, r1); break;
    default: rows<MAMBA_WEIGHTS_F32>(p, r0, r1); break;
  }
}

}  // namespace cpu
}  // namespace mamba

#else

namespace mamba {
namespace cpu {
void gemv_rows_avx2(const GemvProblem& p, int64_t r0, int64_t r1) { gemv_rows_generic(p, r0, r1); }
}  // namespace cpu
}  // namespace mamba

#endif
