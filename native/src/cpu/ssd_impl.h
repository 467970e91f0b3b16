// The chunked SSD kernels (Dao & Gu 2024, Sec. 6), forward and backward, for one (batch, head) or one run of heads.
// Written on 8-lane GCC/Clang vectors: 8 wide with FMA in ssd_kernels_avx2.cpp, lowered to baseline x86-64 in
// ssd_kernels_generic.cpp. Internal linkage throughout (included by TUs built with different -m flags).
//
// Per chunk of q steps starting from state S0 (kept transposed, n-major: ST[n][p], so every inner loop runs over p):
//   cum_i  = sum_{k<=i} dt_k A           (inclusive log decay within the chunk)
//   u_j    = dt_j x_j
//   y_i    = exp(cum_i) S0 C_i + sum_{j<=i} exp(cum_i - cum_j) (C_i.B_j) u_j + D x_i
//   S_end  = exp(cum_end) S0 + sum_j exp(cum_end - cum_j) u_j B_j^T
// The backward differentiates exactly these expressions chunk by chunk in reverse, carrying dS (the gradient of the
// chunk's end state); the log decays' gradients collect in dcum and become d(dt A) by a reverse cumulative sum.
// Every product is one primitive, comb() / comb_many(): out_r = sum_k coef_r[k] * row_k, rows of a padded matrix, so
// both orders (over p and over n) are plain vector loops, four output rows sharing each row load.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include "cpu/dtype_convert.h"
#include "cpu/ssd_problem.h"

// The v8f helpers below have internal linkage and are inlined: no vector crosses a TU boundary, so GCC's note that
// passing 32-byte vectors without AVX changes the ABI does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace mamba {
namespace cpu {
namespace {

// Eight float lanes as a GCC/Clang vector: a local of this type stays in registers (an accumulator array
// `float acc[32]` was kept on the stack, one store-to-load round trip per multiply-add). 8 wide with -mavx2 -mfma,
// two SSE halves in the portable build. Loads and stores go through memcpy: rows need not be 32-byte aligned.
typedef float v8f __attribute__((vector_size(32)));
inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8f v) { std::memcpy(p, &v, sizeof v); }

// out[w] = scale * init[w] + sum_{k<count} coef[k] * rows[k * ld + w] for w < width (a multiple of 8), summed in
// order of k; no init term when init is NULL. init may be out itself (the rows may not).
inline void comb(float* out, const float* __restrict coef, const float* __restrict rows, int64_t ld, int64_t count,
                 int64_t width, const float* init = nullptr, float scale = 1.f) {
  int64_t w = 0;
  for (; w + 32 <= width; w += 32) {
    v8f a0 = {}, a1 = {}, a2 = {}, a3 = {};
    if (init) {
      a0 = scale * load8(init + w), a1 = scale * load8(init + w + 8);
      a2 = scale * load8(init + w + 16), a3 = scale * load8(init + w + 24);
    }
    for (int64_t j = 0; j < count; ++j) {
      const float c = coef[j];
      const float* r = rows + j * ld + w;
      a0 += c * load8(r);
      a1 += c * load8(r + 8);
      a2 += c * load8(r + 16);
      a3 += c * load8(r + 24);
    }
    store8(out + w, a0), store8(out + w + 8, a1), store8(out + w + 16, a2), store8(out + w + 24, a3);
  }
  for (; w < width; w += 8) {
    v8f a = init ? scale * load8(init + w) : v8f{};
    for (int64_t j = 0; j < count; ++j) a += coef[j] * load8(rows + j * ld + w);
    store8(out + w, a);
  }
}

// Which coefficients of row r of a comb_many may be non-zero: all, k <= r (causal), or k >= r (anticausal).
enum class Span { All, Causal, Anticausal };

// comb for nr output rows at once: out_r = scale * init_r + sum_k coef_r[k] * rows[k] (rows r of out, init, coef at
// strides out_ld, init_ld, coef_ld). Four output rows share each load of `rows` (a 4 x 16 register tile), where comb
// loads one row vector per multiply-add. Each element is summed in the same order as comb's, so results are the
// same bit for bit. With a Span other than All the caller guarantees zeros outside the span; the loops skip them
// for whole tiles only.
inline void comb_many(int64_t nr, float* out, int64_t out_ld, const float* __restrict coef, int64_t coef_ld,
                      const float* __restrict rows, int64_t ld, int64_t count, int64_t width, Span span = Span::All,
                      const float* init = nullptr, int64_t init_ld = 0, float scale = 1.f) {
  int64_t r = 0;
#if defined(__AVX__)
  // The tile needs 8 accumulators and 2 row vectors in registers: 16 ymm with AVX. Without it (the portable build,
  // SSE's 16 xmm for twice the vectors) it spilled and ran 2x slower than row by row, so that build goes row by row.
  for (; r + 4 <= nr; r += 4) {
    const int64_t k0 = span == Span::Anticausal ? r : 0, k1 = span == Span::Causal ? std::min(r + 4, count) : count;
    const float *c0 = coef + r * coef_ld, *c1 = c0 + coef_ld, *c2 = c1 + coef_ld, *c3 = c2 + coef_ld;
    float *o0 = out + r * out_ld, *o1 = o0 + out_ld, *o2 = o1 + out_ld, *o3 = o2 + out_ld;
    const float* i0 = init ? init + r * init_ld : nullptr;
    int64_t w = 0;
    for (; w + 16 <= width; w += 16) {
      v8f a00 = {}, a01 = {}, a10 = {}, a11 = {}, a20 = {}, a21 = {}, a30 = {}, a31 = {};
      if (i0) {
        a00 = scale * load8(i0 + w), a01 = scale * load8(i0 + w + 8);
        a10 = scale * load8(i0 + init_ld + w), a11 = scale * load8(i0 + init_ld + w + 8);
        a20 = scale * load8(i0 + 2 * init_ld + w), a21 = scale * load8(i0 + 2 * init_ld + w + 8);
        a30 = scale * load8(i0 + 3 * init_ld + w), a31 = scale * load8(i0 + 3 * init_ld + w + 8);
      }
      for (int64_t k = k0; k < k1; ++k) {
        const v8f x0 = load8(rows + k * ld + w), x1 = load8(rows + k * ld + w + 8);
        a00 += c0[k] * x0, a01 += c0[k] * x1;
        a10 += c1[k] * x0, a11 += c1[k] * x1;
        a20 += c2[k] * x0, a21 += c2[k] * x1;
        a30 += c3[k] * x0, a31 += c3[k] * x1;
      }
      store8(o0 + w, a00), store8(o0 + w + 8, a01), store8(o1 + w, a10), store8(o1 + w + 8, a11);
      store8(o2 + w, a20), store8(o2 + w + 8, a21), store8(o3 + w, a30), store8(o3 + w + 8, a31);
    }
    for (; w < width; w += 8) {
      v8f a0 = {}, a1 = {}, a2 = {}, a3 = {};
      if (i0)
        a0 = scale * load8(i0 + w), a1 = scale * load8(i0 + init_ld + w), a2 = scale * load8(i0 + 2 * init_ld + w),
        a3 = scale * load8(i0 + 3 * init_ld + w);
      for (int64_t k = k0; k < k1; ++k) {
        const v8f x = load8(rows + k * ld + w);
        a0 += c0[k] * x, a1 += c1[k] * x, a2 += c2[k] * x, a3 += c3[k] * x;
      }
      store8(o0 + w, a0), store8(o1 + w, a1), store8(o2 + w, a2), store8(o3 + w, a3);
    }
  }
#endif
  for (; r < nr; ++r) {
    const int64_t k0 = span == Span::Anticausal ? r : 0, k1 = span == Span::Causal ? std::min(r + 1, count) : count;
    comb(out + r * out_ld, coef + r * coef_ld + k0, rows + k0 * ld, ld, k1 - k0, width,
         init ? init + r * init_ld : nullptr, scale);
  }
}

// sum_w a[w] * b[w] over n (a multiple of 8) in 8 lanes, then a fixed tree.
inline float dot8(const float* __restrict a, const float* __restrict b, int64_t n) {
  v8f acc = {};
  for (int64_t i = 0; i < n; i += 8) acc += load8(a + i) * load8(b + i);
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// dst[c][r] = src[r][c] for r < rows, c < cols, in 8 x 8 blocks (column-order stores of whole rows thrashed L1);
// dst's other entries are left as they are.
inline void transpose(float* __restrict dst, int64_t dst_ld, const float* __restrict src, int64_t src_ld, int64_t rows,
                      int64_t cols) {
  for (int64_t r0 = 0; r0 < rows; r0 += 8)
    for (int64_t c0 = 0; c0 < cols; c0 += 8) {
      const int64_t r1 = std::min(r0 + 8, rows), c1 = std::min(c0 + 8, cols);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * dst_ld + r] = src[r * src_ld + c];
    }
}

#if defined(__clang__)
#define MAMBA_SHUFFLE(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
typedef int v8i __attribute__((vector_size(32)));
#define MAMBA_SHUFFLE(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shuffle(a, b, v8i{i0, i1, i2, i3, i4, i5, i6, i7})
#endif

// dst[c][r] = src[r][c] for whole 8 x 8 tiles (rows, cols multiples of 8): the classic unpack / shuffle / 128-bit
// permute network on vectors. Scalar transposes of the backward's two P x N states per chunk took a quarter of it.
inline void transpose8(float* __restrict dst, int64_t dst_ld, const float* __restrict src, int64_t src_ld, int64_t rows,
                       int64_t cols) {
  for (int64_t r0 = 0; r0 < rows; r0 += 8)
    for (int64_t c0 = 0; c0 < cols; c0 += 8) {
      const float* s = src + r0 * src_ld + c0;
      const v8f a0 = load8(s), a1 = load8(s + src_ld), a2 = load8(s + 2 * src_ld), a3 = load8(s + 3 * src_ld);
      const v8f a4 = load8(s + 4 * src_ld), a5 = load8(s + 5 * src_ld), a6 = load8(s + 6 * src_ld), a7 = load8(s + 7 * src_ld);
      const v8f t0 = MAMBA_SHUFFLE(a0, a1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = MAMBA_SHUFFLE(a0, a1, 2, 10, 3, 11, 6, 14, 7, 15);
      const v8f t2 = MAMBA_SHUFFLE(a2, a3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = MAMBA_SHUFFLE(a2, a3, 2, 10, 3, 11, 6, 14, 7, 15);
      const v8f t4 = MAMBA_SHUFFLE(a4, a5, 0, 8, 1, 9, 4, 12, 5, 13), t5 = MAMBA_SHUFFLE(a4, a5, 2, 10, 3, 11, 6, 14, 7, 15);
      const v8f t6 = MAMBA_SHUFFLE(a6, a7, 0, 8, 1, 9, 4, 12, 5, 13), t7 = MAMBA_SHUFFLE(a6, a7, 2, 10, 3, 11, 6, 14, 7, 15);
      const v8f u0 = MAMBA_SHUFFLE(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), u1 = MAMBA_SHUFFLE(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
      const v8f u2 = MAMBA_SHUFFLE(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), u3 = MAMBA_SHUFFLE(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
      const v8f u4 = MAMBA_SHUFFLE(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), u5 = MAMBA_SHUFFLE(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
      const v8f u6 = MAMBA_SHUFFLE(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), u7 = MAMBA_SHUFFLE(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
      float* d = dst + c0 * dst_ld + r0;
      store8(d, MAMBA_SHUFFLE(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11));
      store8(d + dst_ld, MAMBA_SHUFFLE(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11));
      store8(d + 2 * dst_ld, MAMBA_SHUFFLE(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11));
      store8(d + 3 * dst_ld, MAMBA_SHUFFLE(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11));
      store8(d + 4 * dst_ld, MAMBA_SHUFFLE(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15));
      store8(d + 5 * dst_ld, MAMBA_SHUFFLE(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15));
      store8(d + 6 * dst_ld, MAMBA_SHUFFLE(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15));
      store8(d + 7 * dst_ld, MAMBA_SHUFFLE(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15));
    }
}
#undef MAMBA_SHUFFLE

inline float softplus_exact(float v) { return v <= 20.f ? std::log1p(std::exp(v)) : v; }

// What every pass needs of one chunk of one head: Δ and its derivative, the log decays, u = Δ·x.
struct SsdChunk {
  int64_t t0, q;
  float *X, *U, *Bm, *Cm, *dtv, *dtd, *cum, *ecum, *ea, *lrow;
};

// Below this a decay product is flushed to zero: denormal arithmetic costs ~100 cycles on x86, and such a weight
// (already under 1e-30 of a term) changes no fp32 sum.
constexpr float kTinyDecay = 1e-30f;

// lrow[j] becomes exp(cum_i - cum_j) for j <= i, from row i - 1's values: multiplying by exp(a_i) (the decays from each
// step to step i are products of the per-step decays) is a vector loop where exp(cum_i - cum_j) would be i scalar exps.
inline void next_decay_row(const SsdChunk& c, int64_t i) {
  const float e = c.ea[i];
  for (int64_t j = 0; j < i; ++j) {
    const float v = c.lrow[j] * e;
    c.lrow[j] = v < kTinyDecay ? 0.f : v;
  }
  c.lrow[i] = 1.f;
}

// gather2d, with rows of contiguous fp32 (x, B, C and dy of an fp32 model, the usual case) copied whole.
inline void gather_rows(const void* src, int dtype, int64_t off, int64_t si, int64_t sj, int ni, int nj, int ld, float* dst) {
  if (dtype != MAMBA_F32 || sj != 1) return gather2d(src, dtype, off, si, sj, ni, nj, ld, dst);
  const float* s = static_cast<const float*>(src) + off;
  for (int i = 0; i < ni; ++i) {
    float* row = dst + int64_t(i) * ld;
    std::memcpy(row, s + i * si, sizeof(float) * size_t(nj));
    std::fill(row + nj, row + ld, 0.f);
  }
}

// Loads x, Δ, B and C of chunk [t0, t0 + q) of head h into the chunk's (zero-padded) tiles and forms Δ, cum, u.
inline void load_chunk(const SsdProblem& p, int64_t b, int64_t h, SsdChunk& c) {
  const mamba_ssd_args& a = *p.a;
  const int64_t g = h / p.heads_per_group, q = c.q, t0 = c.t0;
  gather_rows(a.x, a.dtype, b * a.x_stride[0] + t0 * a.x_stride[1] + h * a.x_stride[2], a.x_stride[1], a.x_stride[3],
           int(q), int(a.head_dim), int(p.Pp), c.X);
  gather_rows(a.B, a.dtype, b * a.B_stride[0] + t0 * a.B_stride[1] + g * a.B_stride[2], a.B_stride[1], a.B_stride[3],
           int(q), int(a.state), int(p.Np), c.Bm);
  gather_rows(a.C, a.dtype, b * a.C_stride[0] + t0 * a.C_stride[1] + g * a.C_stride[2], a.C_stride[1], a.C_stride[3],
           int(q), int(a.state), int(p.Np), c.Cm);
  gather2d(a.dt, a.dtype, b * a.dt_stride[0] + t0 * a.dt_stride[1] + h * a.dt_stride[2], a.dt_stride[1], 1, int(q), 1,
           1, c.dtv);
  const float bias = a.dt_bias ? a.dt_bias[h] : 0.f, A = a.A[h];
  float run = 0.f;
  for (int64_t i = 0; i < q; ++i) {
    const float s = c.dtv[i] + bias;
    float v = s, d = 1.f;
    if (a.dt_softplus) {
      v = softplus_exact(s);
      d = s <= 20.f ? 1.f / (1.f + std::exp(-s)) : 1.f;
    }
    if (v < a.dt_min) v = a.dt_min, d = 0.f;
    if (v > a.dt_max) v = a.dt_max, d = 0.f;
    c.dtv[i] = v;
    c.dtd[i] = d;
    c.ea[i] = std::exp(v * A);
    run += v * A;
    c.cum[i] = run;
    c.ecum[i] = std::exp(run);
  }
  for (int64_t i = 0; i < q; ++i)
    for (int64_t w = 0; w < p.Pp; ++w) c.U[i * p.Pp + w] = c.dtv[i] * c.X[i * p.Pp + w];
}

// out = exp(cum_end) in + sum_j exp(cum_end - cum_j) u_j B_j^T, states n-major (rows n < state written; out may be
// in). BT: B transposed (Np x Qp), scaled in place; wend: q floats.
inline void advance_state(const SsdProblem& p, const SsdChunk& c, float* BT, const float* in, float* out, float* wend) {
  const int64_t q = c.q, Pp = p.Pp, Qp = p.Qp, N = p.a->state;
  for (int64_t j = 0; j < q; ++j) wend[j] = std::exp(c.cum[q - 1] - c.cum[j]);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < q; ++j) BT[n * Qp + j] *= wend[j];  // BT becomes the coefficients (the caller is done with it)
  comb_many(N, out, Pp, BT, Qp, c.U, Pp, q, Pp, Span::All, in, Pp, c.ecum[q - 1]);
}

// Carves the next n floats off the scratch pointer.
inline float* take(float*& ws, int64_t n) {
  float* r = ws;
  ws += n;
  return r;
}

void ssd_fwd_impl(const SsdProblem& p, int64_t task, float* ws) {
  const mamba_ssd_args& a = *p.a;
  const int64_t b = task / a.heads, h = task % a.heads;
  const int64_t P = a.head_dim, N = a.state, Q = p.Q, Pp = p.Pp, Np = p.Np, Qp = p.Qp, L = a.length;
  std::memset(ws, 0, sizeof(float) * size_t(ssd_fwd_scratch(p)));
  SsdChunk c{};
  c.X = take(ws, Q * Pp);
  c.U = take(ws, Q * Pp);
  float* Y = take(ws, Q * Pp);
  c.Bm = take(ws, Q * Np);
  c.Cm = take(ws, Q * Np);
  float* BT = take(ws, Np * Qp);
  float* M = take(ws, Q * Qp);
  float* ST = take(ws, Np * Pp);
  float* CeC = take(ws, Q * Np);
  c.dtv = take(ws, Q);
  c.dtd = take(ws, Q);
  c.cum = take(ws, Q);
  c.ecum = take(ws, Q);
  c.ea = take(ws, Q);
  c.lrow = take(ws, Q);
  const float Dh = a.D ? a.D[h] : 0.f;
  const int64_t sbase = (b * a.heads + h) * P * N;
  if (a.initial_state)
    for (int64_t pp = 0; pp < P; ++pp)
      for (int64_t n = 0; n < N; ++n) ST[n * Pp + pp] = a.initial_state[sbase + pp * N + n];
  const mamba_ssd_outputs& o = *p.out;
  for (int64_t ch = 0; ch < p.chunks; ++ch) {
    c.t0 = ch * Q;
    c.q = std::min(Q, L - c.t0);
    const int64_t q = c.q;
    load_chunk(p, b, h, c);
    for (int64_t j = q; j < Qp; ++j)
      for (int64_t n = 0; n < N; ++n) BT[n * Qp + j] = 0.f;
    transpose(BT, Qp, c.Bm, Np, q, N);
    // M[i][j] = (C_i . B_j) exp(cum_i - cum_j) for j <= i, 0 above; CeC[i] = exp(cum_i) C_i.
    comb_many(q, M, Qp, c.Cm, Np, BT, Qp, N, ssd_pad(q));
    for (int64_t i = 0; i < q; ++i) {
      float* Mi = M + i * Qp;
      next_decay_row(c, i);
      for (int64_t j = 0; j <= i; ++j) Mi[j] *= c.lrow[j];
      for (int64_t j = i + 1; j < q; ++j) Mi[j] = 0.f;
      for (int64_t n = 0; n < Np; ++n) CeC[i * Np + n] = c.ecum[i] * c.Cm[i * Np + n];
    }
    // y = CeC S0 + M u + D x
    comb_many(q, Y, Pp, CeC, Np, ST, Pp, N, Pp);
    comb_many(q, Y, Pp, M, Qp, c.U, Pp, q, Pp, Span::Causal, Y, Pp);
    for (int64_t i = 0; i < q; ++i)
      for (int64_t w = 0; w < Pp; ++w) Y[i * Pp + w] += Dh * c.X[i * Pp + w];
    scatter2d(o.y, a.dtype, b * o.y_stride[0] + c.t0 * o.y_stride[1] + h * o.y_stride[2], o.y_stride[1], o.y_stride[3],
              int(q), int(P), int(Pp), Y);
    advance_state(p, c, BT, ST, ST, M);  // M is free again: the decays to the chunk's end go there
  }
  if (o.final_state)
    for (int64_t pp = 0; pp < P; ++pp)
      for (int64_t n = 0; n < N; ++n) o.final_state[sbase + pp * N + n] = ST[n * Pp + pp];
}

// One backward task: heads [h0, h1) of one (batch, group), in order; dB and dC of those heads summed into the
// task's own partial tile, dA/dD/ddt_bias per (b, h) into p.heads.
void ssd_bwd_impl(const SsdProblem& p, int64_t task, float* ws) {
  const mamba_ssd_args& a = *p.a;
  const mamba_ssd_grads& gr = *p.gr;
  const int64_t split = task % p.splits, bg = task / p.splits, b = bg / a.groups, g = bg % a.groups;
  const int64_t h0 = g * p.heads_per_group + split * p.heads_per_split;
  const int64_t h1 = std::min(h0 + p.heads_per_split, (g + 1) * p.heads_per_group);
  const int64_t P = a.head_dim, N = a.state, Q = p.Q, Pp = p.Pp, Np = p.Np, Qp = p.Qp, L = a.length;
  float* part = p.dBC + task * L * 2 * Np;
  float* const base = ws;
  const int64_t checkpoints = p.chunks * Np * Pp;
  for (int64_t h = h0; h < h1; ++h) {
    ws = base;
    float* ck = take(ws, checkpoints);  // every chunk's start state is written before it is read: no zeroing
    std::memset(ws, 0, sizeof(float) * size_t(ssd_bwd_scratch(p) - checkpoints));
    SsdChunk c{};
    c.X = take(ws, Q * Pp);
    c.U = take(ws, Q * Pp);
    float* DY = take(ws, Q * Pp);
    float* dU = take(ws, Q * Pp);
    float* tmpP = take(ws, Q * Pp);
    c.Bm = take(ws, Q * Np);
    c.Cm = take(ws, Q * Np);
    float* dBt = take(ws, Q * Np);
    float* dCt = take(ws, Q * Np);
    float* S0dy = take(ws, Q * Np);
    float* dSu = take(ws, Q * Np);
    float* BT = take(ws, Np * Qp);
    float* CeT = take(ws, Np * Qp);
    float* UT = take(ws, Pp * Qp);
    float* CB = take(ws, Q * Qp);
    float* DU = take(ws, Q * Qp);
    float* LD = take(ws, Q * Qp);
    float* LCT = take(ws, Q * Qp);
    float* LDT = take(ws, Q * Qp);
    float* S0 = take(ws, Np * Pp);   // p-major: S0[p][n] (Pp x Np)
    float* dS = take(ws, Np * Pp);   // p-major
    float* dST = take(ws, Np * Pp);  // n-major
    c.dtv = take(ws, Q);
    c.dtd = take(ws, Q);
    c.cum = take(ws, Q);
    c.ecum = take(ws, Q);
    c.ea = take(ws, Q);
    c.lrow = take(ws, Q);
    float* dcum = take(ws, Q);
    float* wend = take(ws, Q);
    float* ddt = take(ws, Q);
    float* dxd = take(ws, Q);

    const float Dh = a.D ? a.D[h] : 0.f, A = a.A[h];
    const int64_t sbase = (b * a.heads + h) * P * N;
    // Pass 1: the state at each chunk's start, each computed from the previous one into its own slot. The padding
    // rows (n >= state) are zeroed: the whole tile is read below.
    std::memset(ck, 0, sizeof(float) * size_t(Np * Pp));
    if (a.initial_state)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t n = 0; n < N; ++n) ck[n * Pp + pp] = a.initial_state[sbase + pp * N + n];
    for (int64_t ch = 0; ch + 1 < p.chunks; ++ch) {  // the final state is not needed
      c.t0 = ch * Q;
      c.q = std::min(Q, L - c.t0);
      load_chunk(p, b, h, c);
      transpose(BT, Qp, c.Bm, Np, c.q, N);
      float* next = ck + (ch + 1) * Np * Pp;
      advance_state(p, c, BT, ck + ch * Np * Pp, next, wend);
      std::memset(next + N * Pp, 0, sizeof(float) * size_t((Np - N) * Pp));
    }
    // Pass 2: chunks in reverse, dST = gradient of the chunk's end state.
    if (gr.dfinal_state)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t n = 0; n < N; ++n) dST[n * Pp + pp] = gr.dfinal_state[sbase + pp * N + n];
    transpose8(dS, Np, dST, Pp, Np, Pp);
    double dA = 0, dD = 0, dbias = 0;
    for (int64_t ch = p.chunks - 1; ch >= 0; --ch) {
      c.t0 = ch * Q;
      c.q = std::min(Q, L - c.t0);
      const int64_t q = c.q, qp = ssd_pad(q);
      load_chunk(p, b, h, c);
      gather_rows(gr.dy, a.dtype, b * gr.dy_stride[0] + c.t0 * gr.dy_stride[1] + h * gr.dy_stride[2], gr.dy_stride[1],
               gr.dy_stride[3], int(q), int(P), int(Pp), DY);
      transpose(BT, Qp, c.Bm, Np, q, N);
      transpose(UT, Qp, c.U, Pp, q, Pp);
      for (int64_t j = q; j < qp; ++j) {  // the short last chunk: no stale columns from pass 1
        for (int64_t n = 0; n < N; ++n) BT[n * Qp + j] = 0.f;
        for (int64_t w = 0; w < Pp; ++w) UT[w * Qp + j] = 0.f;
      }
      const float* S0T = ck + ch * Np * Pp;
      transpose8(S0, Np, S0T, Pp, Np, Pp);
      std::fill(dcum, dcum + q, 0.f);
      // CB[i][j] = C_i.B_j; DU[i][j] = dy_i.u_j; with L_ij = exp(cum_i - cum_j) for j <= i (0 above):
      // LC = L * CB (kept transposed), LD = L * DU, and the decay gradient L * CB * DU to cum_i (+) and cum_j (-).
      comb_many(q, CB, Qp, c.Cm, Np, BT, Qp, N, qp);
      comb_many(q, DU, Qp, DY, Pp, UT, Qp, P, qp);
      for (int64_t i = 0; i < q; ++i) {
        next_decay_row(c, i);
        float rowsum = 0.f;
        for (int64_t j = 0; j < q; ++j) {
          const float l = j <= i ? c.lrow[j] : 0.f;
          const float lc = l * CB[i * Qp + j], ld = l * DU[i * Qp + j];
          LD[i * Qp + j] = ld;
          LCT[j * Qp + i] = lc;
          LDT[j * Qp + i] = ld;
          if (j <= i) {
            const float w = lc * DU[i * Qp + j];
            rowsum += w;
            dcum[j] -= w;
          }
        }
        dcum[i] += rowsum;
      }
      // dC_i = exp(cum_i) S0^T dy_i + sum_{j<=i} LD_ij B_j; and exp(cum_i) C_i.(S0^T dy_i) to cum_i.
      comb_many(q, S0dy, Np, DY, Pp, S0, Np, P, Np);
      comb_many(q, dCt, Np, LD, Qp, c.Bm, Np, q, Np, Span::Causal);
      for (int64_t i = 0; i < q; ++i) {
        const float* s = S0dy + i * Np;
        float* dCi = dCt + i * Np;
        for (int64_t w = 0; w < Np; ++w) dCi[w] += c.ecum[i] * s[w];
        dcum[i] += c.ecum[i] * dot8(c.Cm + i * Np, s, Np);
      }
      // dB_j = sum_{i>=j} LD_ij C_i + exp(cum_end - cum_j) dS^T u_j;
      // du_j = sum_{i>=j} LC_ij dy_i + exp(cum_end - cum_j) dS B_j.
      comb_many(q, dSu, Np, c.U, Pp, dS, Np, P, Np);
      comb_many(q, dBt, Np, LDT, Qp, c.Cm, Np, q, Np, Span::Anticausal);
      comb_many(q, dU, Pp, LCT, Qp, DY, Pp, q, Pp, Span::Anticausal);
      comb_many(q, tmpP, Pp, c.Bm, Np, dST, Pp, N, Pp);
      for (int64_t j = 0; j < q; ++j) {
        wend[j] = std::exp(c.cum[q - 1] - c.cum[j]);
        const float* su = dSu + j * Np;
        float* dBj = dBt + j * Np;
        for (int64_t w = 0; w < Np; ++w) dBj[w] += wend[j] * su[w];
        const float v = wend[j] * dot8(c.Bm + j * Np, su, Np);
        dcum[q - 1] += v;
        dcum[j] -= v;
        float* duj = dU + j * Pp;
        const float* sb = tmpP + j * Pp;
        for (int64_t w = 0; w < Pp; ++w) duj[w] += wend[j] * sb[w];
      }
      dcum[q - 1] += c.ecum[q - 1] * dot8(dST, S0T, Np * Pp);
      // dx = Δ du + D dy; the direct part of dΔ is x.du.
      for (int64_t j = 0; j < q; ++j) {
        const float* duj = dU + j * Pp;
        const float* xj = c.X + j * Pp;
        const float* dyj = DY + j * Pp;
        dxd[j] = dot8(xj, duj, Pp);
        dD += double(dot8(dyj, xj, Pp));
        float* out = tmpP + j * Pp;
        for (int64_t w = 0; w < Pp; ++w) out[w] = c.dtv[j] * duj[w] + Dh * dyj[w];
      }
      scatter2d(gr.dx, a.dtype, b * gr.dx_stride[0] + c.t0 * gr.dx_stride[1] + h * gr.dx_stride[2], gr.dx_stride[1],
                gr.dx_stride[3], int(q), int(P), int(Pp), tmpP);
      // The gradient of the chunk's start state: exp(cum_end) dS + sum_i exp(cum_i) dy_i C_i^T.
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < q; ++i) CeT[n * Qp + i] = c.ecum[i] * c.Cm[i * Np + n];
      comb_many(N, dST, Pp, CeT, Qp, DY, Pp, q, Pp, Span::All, dST, Pp, c.ecum[q - 1]);
      transpose8(dS, Np, dST, Pp, Np, Pp);
      // cum_i = sum_{k<=i} a_k: da_k = sum_{i>=k} dcum_i; a_k = Δ_k A.
      float run = 0.f;
      for (int64_t k = q - 1; k >= 0; --k) {
        run += dcum[k];
        dA += double(run) * c.dtv[k];
        const float d = (dxd[k] + run * A) * c.dtd[k];
        ddt[k] = d;
        dbias += d;
      }
      scatter2d(gr.ddt, a.dtype, b * gr.ddt_stride[0] + c.t0 * gr.ddt_stride[1] + h * gr.ddt_stride[2],
                gr.ddt_stride[1], 1, int(q), 1, 1, ddt);
      for (int64_t i = 0; i < q; ++i) {
        float* row = part + (c.t0 + i) * 2 * Np;
        for (int64_t w = 0; w < Np; ++w) row[w] += dBt[i * Np + w];
        for (int64_t w = 0; w < Np; ++w) row[Np + w] += dCt[i * Np + w];
      }
    }
    if (gr.dinitial_state && a.initial_state)
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t n = 0; n < N; ++n) gr.dinitial_state[sbase + pp * N + n] = dST[n * Pp + pp];
    float* hp = p.heads + (b * a.heads + h) * 3;
    hp[0] = float(dA);
    hp[1] = float(dD);
    hp[2] = float(dbias);
  }
}

// The decode step's update of one (batch, head), states p-major (h[p][n] contiguous in n):
//   h[p][:] = decay h[p][:] + (dt x_p) B;   y_p = C.h[p] + D x_p
// 8 lanes of n at a time, the readout summed in a fixed order (lanes by a fixed tree, then the tail).
void ssd_step_head_impl(float* __restrict st, int64_t P, int64_t N, float decay, float dt, const float* __restrict x,
                        const float* __restrict Bv, const float* __restrict Cv, float Dh, float* __restrict y) {
  for (int64_t p = 0; p < P; ++p) {
    float* row = st + p * N;
    const float ux = dt * x[p];
    v8f acc = {};
    int64_t n = 0;
    for (; n + 8 <= N; n += 8) {
      const v8f h = decay * load8(row + n) + ux * load8(Bv + n);
      store8(row + n, h);
      acc += load8(Cv + n) * h;
    }
    float tail = 0.f;
    for (; n < N; ++n) {
      const float h = decay * row[n] + ux * Bv[n];
      row[n] = h;
      tail += Cv[n] * h;
    }
    const float lanes = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    y[p] = (lanes + tail) + Dh * x[p];
  }
}

}  // namespace
}  // namespace cpu
}  // namespace mamba

#pragma GCC diagnostic pop
