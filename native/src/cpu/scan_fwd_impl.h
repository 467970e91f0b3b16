// Fused selective-scan forward for one block of kLanes channels of one batch row, written once
// over a vector policy VP (VecAvx2, VecGeneric<float|double>). Lanes are channels: B and C are
// shared by the channels of a group, so they are broadcast and the state update needs no shuffles.
#pragma once
#include <algorithm>
#include <vector>
#include "cpu/dtype_convert.h"
#include "cpu/scan_problem.h"

namespace mamba {
namespace cpu {
namespace {

constexpr double kLog2e = 1.4426950408889634;

// Per-channel fp32 parameters of one block as vectors (padding lanes 0, which keeps them inert:
// A = 0 and u = 0 leave a zero state at zero).
template <class VP>
struct BlockParams {
  using T = typename VP::T;
  using V = typename VP::V;
  std::vector<V> A2;  // A * log2(e), per state: exp(dt A) = 2^(dt A2)
  std::vector<V> A;   // A itself (backward needs dA/da)
  V D, bias;

  BlockParams(const mamba_scan_args& a, int64_t d0, int nl) : A2(a.state), A(a.state) {
    T tmp[kLanes];
    for (int64_t n = 0; n < a.state; ++n) {
      for (int l = 0; l < kLanes; ++l)
        tmp[l] = l < nl ? T(a.A[(d0 + l) * a.A_stride[0] + n * a.A_stride[1]]) : T(0);
      A[n] = VP::load(tmp);
      A2[n] = VP::mul(A[n], VP::set1(T(kLog2e)));
    }
    D = lanes(a.D, d0, nl);
    bias = lanes(a.delta_bias, d0, nl);
  }
  static V lanes(const float* p, int64_t d0, int nl) {
    T tmp[kLanes];
    for (int l = 0; l < kLanes; ++l) tmp[l] = (p && l < nl) ? T(p[d0 + l]) : T(0);
    return VP::load(tmp);
  }
};

// State (batch b, channels d0..d0+nl) from initial_state, or zeros.
template <class VP>
void load_state(const mamba_scan_args& a, int64_t b, int64_t d0, int nl, typename VP::V* h) {
  using T = typename VP::T;
  T tmp[kLanes];
  for (int64_t n = 0; n < a.state; ++n) {
    for (int l = 0; l < kLanes; ++l)
      tmp[l] = (a.initial_state && l < nl) ? T(a.initial_state[((b * a.dim) + d0 + l) * a.state + n]) : T(0);
    h[n] = VP::load(tmp);
  }
}

template <class VP>
void store_state(const typename VP::V* h, int64_t state, int64_t dim, int64_t b, int64_t d0, int nl, float* dst) {
  using T = typename VP::T;
  T tmp[kLanes];
  for (int64_t n = 0; n < state; ++n) {
    VP::store(tmp, h[n]);
    for (int l = 0; l < nl; ++l) dst[((b * dim) + d0 + l) * state + n] = float(tmp[l]);
  }
}

// Loads a (time x lanes) tile of a (batch, dim, length) tensor. Fast path: storage in the compute
// type, time-contiguous, a full block of channels: 8x8 transposes straight from the rows.
template <class VP>
bool direct_rows(int dtype, const int64_t* s, int nl) {
  using T = typename VP::T;
  return dtype == (sizeof(T) == 4 ? MAMBA_F32 : MAMBA_F64) && s[2] == 1 && nl == kLanes;
}
template <class VP>
void load_tile(const void* p, int dtype, const int64_t* s, int64_t b, int64_t d0, int64_t t0, int tn, int nl,
               typename VP::T* dst) {
  using T = typename VP::T;
  const int64_t off = b * s[0] + d0 * s[1] + t0 * s[2];
  int done = 0;
  if (direct_rows<VP>(dtype, s, nl))
    for (; done + kLanes <= tn; done += kLanes)
      VP::transpose8(static_cast<const T*>(p) + off + done, s[1], dst + done * kLanes, kLanes);
  gather2d<T>(p, dtype, off + done * s[2], s[2], s[1], tn - done, nl, kLanes, dst + done * kLanes);
}
template <class VP>
void store_tile(void* p, int dtype, const int64_t* s, int64_t b, int64_t d0, int64_t t0, int tn, int nl,
                const typename VP::T* src) {
  using T = typename VP::T;
  const int64_t off = b * s[0] + d0 * s[1] + t0 * s[2];
  int done = 0;
  if (direct_rows<VP>(dtype, s, nl))
    for (; done + kLanes <= tn; done += kLanes)
      VP::transpose8(src + done * kLanes, kLanes, static_cast<T*>(p) + off + done, s[1]);
  scatter2d<T>(p, dtype, off + done * s[2], s[2], s[1], tn - done, nl, kLanes, src + done * kLanes);
}
// A (time x state) window of B or C (batch, groups, state, length): element (t, n) is p[t*st + n*sn].
template <class T>
struct BCView {
  const T* p;
  int64_t st, sn;
  T at(int t, int n) const { return p[t * st + n * sn]; }
};
// Reads B or C in place when stored in the compute type (no copy: the kernels broadcast single
// elements, any stride will do); otherwise converts the window into `tile`.
template <class T>
BCView<T> bc_view(const void* p, int dtype, const int64_t* s, int64_t b, int64_t g, int64_t t0, int tn, int N,
                  T* tile) {
  const int64_t off = b * s[0] + g * s[1] + t0 * s[3];
  if (dtype == (sizeof(T) == 4 ? MAMBA_F32 : MAMBA_F64)) return {static_cast<const T*>(p) + off, s[3], s[2]};
  gather2d<T>(p, dtype, off, s[3], s[2], tn, N, N, tile);
  return {tile, N, 1};
}

// dt = softplus(delta + bias) (or without softplus), in place over a tile of delta rows; dtu = dt * u.
template <class VP>
void discretise(const mamba_scan_args& a, typename VP::V bias, int tn, typename VP::T* delta_dt,
                const typename VP::T* u, typename VP::T* dtu) {
  for (int t = 0; t < tn; ++t) {
    auto x = VP::add(VP::load(delta_dt + t * kLanes), bias);
    if (a.delta_softplus) x = VP::softplus(x);
    VP::store(delta_dt + t * kLanes, x);
    VP::store(dtu + t * kLanes, VP::mul(x, VP::load(u + t * kLanes)));
  }
}

template <class VP>
void scan_fwd_block(const ScanProblem& p, int64_t task) {
  using T = typename VP::T;
  using V = typename VP::V;
  const mamba_scan_args& a = *p.a;
  const int64_t nbg = p.blocks_per_group;
  const int64_t b = task / (a.groups * nbg), g = (task / nbg) % a.groups, k = task % nbg;
  const int64_t d0 = g * p.dim_per_group + k * kLanes;
  const int nl = (int)std::min<int64_t>(kLanes, p.dim_per_group - k * kLanes);
  const int N = (int)a.state;

  const BlockParams<VP> prm(a, d0, nl);
  std::vector<V> h(N);
  load_state<VP>(a, b, d0, nl, h.data());

  std::vector<T> u(kFwdChunk * kLanes), dt(kFwdChunk * kLanes), dtu(kFwdChunk * kLanes), z(kFwdChunk * kLanes),
      y(kFwdChunk * kLanes), Bt(size_t(kFwdChunk) * N), Ct(size_t(kFwdChunk) * N);
  for (int64_t t0 = 0; t0 < a.length; t0 += kFwdChunk) {
    const int tn = (int)std::min<int64_t>(kFwdChunk, a.length - t0);
    load_tile<VP>(a.u, a.dtype, a.u_stride, b, d0, t0, tn, nl, u.data());
    load_tile<VP>(a.delta, a.dtype, a.delta_stride, b, d0, t0, tn, nl, dt.data());
    const BCView<T> Bv = bc_view<T>(a.B, a.bc_dtype, a.B_stride, b, g, t0, tn, N, Bt.data());
    const BCView<T> Cv = bc_view<T>(a.C, a.bc_dtype, a.C_stride, b, g, t0, tn, N, Ct.data());
    discretise<VP>(a, prm.bias, tn, dt.data(), u.data(), dtu.data());

    for (int t = 0; t < tn; ++t) {
      const V dtv = VP::load(&dt[t * kLanes]), dtuv = VP::load(&dtu[t * kLanes]);
      // Two accumulators halve the dependent FMA chain of the C-projection.
      V acc0 = VP::mul(prm.D, VP::load(&u[t * kLanes])), acc1 = VP::set1(T(0));
      int n = 0;
      for (; n + 2 <= N; n += 2) {
        h[n] = VP::fma(VP::exp2(VP::mul(dtv, prm.A2[n])), h[n], VP::mul(dtuv, VP::set1(Bv.at(t, n))));
        h[n + 1] = VP::fma(VP::exp2(VP::mul(dtv, prm.A2[n + 1])), h[n + 1], VP::mul(dtuv, VP::set1(Bv.at(t, n + 1))));
        acc0 = VP::fma(VP::set1(Cv.at(t, n)), h[n], acc0);
        acc1 = VP::fma(VP::set1(Cv.at(t, n + 1)), h[n + 1], acc1);
      }
      if (n < N) {
        h[n] = VP::fma(VP::exp2(VP::mul(dtv, prm.A2[n])), h[n], VP::mul(dtuv, VP::set1(Bv.at(t, n))));
        acc0 = VP::fma(VP::set1(Cv.at(t, n)), h[n], acc0);
      }
      VP::store(&y[t * kLanes], VP::add(acc0, acc1));
    }
    if (a.z) {  // gate: y * silu(z)
      load_tile<VP>(a.z, a.dtype, a.z_stride, b, d0, t0, tn, nl, z.data());
      for (int t = 0; t < tn; ++t) {
        const V zv = VP::load(&z[t * kLanes]);
        VP::store(&y[t * kLanes], VP::mul(VP::load(&y[t * kLanes]), VP::mul(zv, VP::sigmoid(zv))));
      }
    }
    store_tile<VP>(p.out->out, a.dtype, p.out->out_stride, b, d0, t0, tn, nl, y.data());
  }
  if (p.out->final_state) store_state<VP>(h.data(), N, a.dim, b, d0, nl, p.out->final_state);
}

}  // namespace
}  // namespace cpu
}  // namespace mamba
