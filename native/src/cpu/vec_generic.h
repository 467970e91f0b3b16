// Portable 8-lane "vector" of float or double: plain loops the compiler may auto-vectorise.
// Same interface as VecAvx2 so the scan kernels are written once (scan_fwd_impl.h, scan_bwd_impl.h).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include "cpu/fast_math.h"
#include "cpu/scalar_math.h"

namespace mamba {
namespace cpu {
namespace {

template <class TT>
struct VecGeneric {
  using T = TT;
  static constexpr int W = 8;
  struct V { T x[W]; };

#define MAMBA_LANES(expr) V r; for (int i = 0; i < W; ++i) r.x[i] = (expr); return r
  static V set1(T a) { MAMBA_LANES(a); }
  static V load(const T* p) { MAMBA_LANES(p[i]); }
  static void store(T* p, V a) { for (int i = 0; i < W; ++i) p[i] = a.x[i]; }
  static V add(V a, V b) { MAMBA_LANES(a.x[i] + b.x[i]); }
  static V sub(V a, V b) { MAMBA_LANES(a.x[i] - b.x[i]); }
  static V mul(V a, V b) { MAMBA_LANES(a.x[i] * b.x[i]); }
  static V fma(V a, V b, V c) { MAMBA_LANES(a.x[i] * b.x[i] + c.x[i]); }  // a * b + c
  // x > thr ? a : b
  static V select_gt(V x, T thr, V a, V b) { MAMBA_LANES(x.x[i] > thr ? a.x[i] : b.x[i]); }
  static V exp2(V a) { MAMBA_LANES(exp2_1(a.x[i])); }
  static V softplus(V a) { MAMBA_LANES(softplus_1(a.x[i])); }
  static V sigmoid(V a) { MAMBA_LANES(sigmoid_1(a.x[i])); }
#undef MAMBA_LANES
  static void transpose8(const T* src, int64_t src_ld, T* dst, int64_t dst_ld) {
    for (int j = 0; j < W; ++j)
      for (int k = 0; k < W; ++k) dst[k * dst_ld + j] = src[j * src_ld + k];
  }
  static void hsum_add(const V* v, int count, T* dst) {
    for (int i = 0; i < count; ++i) dst[i] += hsum(v[i]);
  }
  static T hsum(V a) {
    T s = T(0);
    for (int i = 0; i < W; ++i) s += a.x[i];
    return s;
  }

 private:
  // Branch-free (fast_math.h) so the lane loops vectorise with baseline SSE2.
  static float exp2_1(float x) { return exp2_approx(x); }
  static double exp2_1(double x) { return std::exp2(x); }  // fp64 path is the accurate one

  // fp32 softplus/sigmoid as in VecAvx2 (vectorisable, no libm calls); fp64 uses libm.
  static float softplus_1(float x) { return softplus_approx(x); }
  static double softplus_1(double x) { return mamba::softplus(x); }
  static float sigmoid_1(float x) { return 1.f / (1.f + exp2_1(-x * 1.44269504f)); }
  static double sigmoid_1(double x) { return mamba::sigmoid(x); }
};

}  // namespace
}  // namespace cpu
}  // namespace mamba
