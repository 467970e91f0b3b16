// Fused selective-scan backward for one task: a run of channel blocks of one (batch, group).
// Per block: (1) forward over the whole sequence keeping only the state at chunk starts;
// (2) chunks in reverse: recompute the chunk's states from its checkpoint, then run the adjoint
// scan g_t = dy_t C_t + exp(dt_{t+1} A) g_{t+1} backwards through the chunk.
// Channel sums (dB, dC) go to this task's partial tile; batch sums (dA, dD, dbias) to per-batch
// partials. scan_backward.cpp adds the partials in a fixed order, so results are reproducible.
#pragma once
#include "cpu/scan_fwd_impl.h"

namespace mamba {
namespace cpu {
namespace {

template <class VP>
void scan_bwd_task(const ScanProblem& p, const ScanPartials<typename VP::T>& part, int64_t task) {
  using T = typename VP::T;
  using V = typename VP::V;
  const mamba_scan_args& a = *p.a;
  const mamba_scan_grads& gr = *p.gr;
  const int64_t S = p.splits, nbg = p.blocks_per_group;
  const int64_t b = task / (a.groups * S), g = (task / S) % a.groups, s = task % S;
  const int N = (int)a.state, TB = bwd_chunk(a.state);
  const int64_t L = a.length, nchunks = (L + TB - 1) / TB;
  T* dBC = part.dBC + task * L * N * 2;

  // hbuf/dabuf: states h_t and decays exp(dt_t A) of the current chunk; red: per-channel
  // products for dB and dC awaiting their sum over channels.
  std::vector<V> h(N), gc(N), dA(N), ckpt(size_t(nchunks) * N), hbuf(size_t(TB) * N), dabuf(size_t(TB) * N),
      red(2 * size_t(N));
  const size_t tile = size_t(TB) * kLanes;
  std::vector<T> u(tile), dt(tile), dtu(tile), z(tile), dout(tile), y(tile), dy(tile), spg(tile), du(tile),
      ddt(tile), dz(tile), Bt(size_t(TB) * N), Ct(size_t(TB) * N);
  const V zero = VP::set1(T(0)), one = VP::set1(T(1));

  for (int64_t k = s * nbg / S; k < (s + 1) * nbg / S; ++k) {
    const int64_t d0 = g * p.dim_per_group + k * kLanes;
    const int nl = (int)std::min<int64_t>(kLanes, p.dim_per_group - k * kLanes);
    const BlockParams<VP> prm(a, d0, nl);

    // (1) forward, keeping the state entering each chunk.
    load_state<VP>(a, b, d0, nl, h.data());
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t t0 = c * TB;
      const int tn = (int)std::min<int64_t>(TB, L - t0);
      std::copy(h.begin(), h.end(), ckpt.begin() + c * N);
      load_tile<VP>(a.u, a.dtype, a.u_stride, b, d0, t0, tn, nl, u.data());
      load_tile<VP>(a.delta, a.dtype, a.delta_stride, b, d0, t0, tn, nl, dt.data());
      const BCView<T> Bv = bc_view<T>(a.B, a.bc_dtype, a.B_stride, b, g, t0, tn, N, Bt.data());
      discretise<VP>(a, prm.bias, tn, dt.data(), u.data(), dtu.data());
      for (int t = 0; t < tn; ++t) {
        const V dtv = VP::load(&dt[t * kLanes]), dtuv = VP::load(&dtu[t * kLanes]);
        for (int n = 0; n < N; ++n)
          h[n] = VP::fma(VP::exp2(VP::mul(dtv, prm.A2[n])), h[n], VP::mul(dtuv, VP::set1(Bv.at(t, n))));
      }
    }

    // (2) reverse over chunks. gc[n] carries exp(dt_{t+1} A) g_{t+1}, starting from dfinal_state.
    if (gr.dfinal_state) {
      T tmp[kLanes];
      for (int n = 0; n < N; ++n) {
        for (int l = 0; l < kLanes; ++l) tmp[l] = l < nl ? T(gr.dfinal_state[(b * a.dim + d0 + l) * N + n]) : T(0);
        gc[n] = VP::load(tmp);
      }
    } else {
      std::fill(gc.begin(), gc.end(), zero);
    }
    std::fill(dA.begin(), dA.end(), zero);
    V dD = zero, dbias = zero;

    for (int64_t c = nchunks - 1; c >= 0; --c) {
      const int64_t t0 = c * TB;
      const int tn = (int)std::min<int64_t>(TB, L - t0);
      load_tile<VP>(a.u, a.dtype, a.u_stride, b, d0, t0, tn, nl, u.data());
      load_tile<VP>(a.delta, a.dtype, a.delta_stride, b, d0, t0, tn, nl, dt.data());
      load_tile<VP>(gr.dout, a.dtype, gr.dout_stride, b, d0, t0, tn, nl, dout.data());
      const BCView<T> Bv = bc_view<T>(a.B, a.bc_dtype, a.B_stride, b, g, t0, tn, N, Bt.data());
      const BCView<T> Cv = bc_view<T>(a.C, a.bc_dtype, a.C_stride, b, g, t0, tn, N, Ct.data());
      // softplus'(delta + bias), taken before dt overwrites delta.
      for (int t = 0; t < tn; ++t) {
        const V x = VP::add(VP::load(&dt[t * kLanes]), prm.bias);
        VP::store(&spg[t * kLanes], a.delta_softplus ? VP::select_gt(x, T(20), one, VP::sigmoid(x)) : one);
      }
      discretise<VP>(a, prm.bias, tn, dt.data(), u.data(), dtu.data());

      // Recompute states h_t (after step t) of this chunk, and the pre-gate output y_t.
      const V* hprev = &ckpt[size_t(c) * N];
      for (int t = 0; t < tn; ++t) {
        const V dtv = VP::load(&dt[t * kLanes]), dtuv = VP::load(&dtu[t * kLanes]);
        V* ht = &hbuf[size_t(t) * N];
        V* dat = &dabuf[size_t(t) * N];
        V acc = VP::mul(prm.D, VP::load(&u[t * kLanes]));
        for (int n = 0; n < N; ++n) {
          dat[n] = VP::exp2(VP::mul(dtv, prm.A2[n]));
          ht[n] = VP::fma(dat[n], hprev[n], VP::mul(dtuv, VP::set1(Bv.at(t, n))));
          acc = VP::fma(VP::set1(Cv.at(t, n)), ht[n], acc);
        }
        VP::store(&y[t * kLanes], acc);
        hprev = ht;
      }
      // Gate: out = y * silu(z)  =>  dy = dout * silu(z), dz = dout * y * silu'(z).
      if (a.z) {
        load_tile<VP>(a.z, a.dtype, a.z_stride, b, d0, t0, tn, nl, z.data());
        for (int t = 0; t < tn; ++t) {
          const V zv = VP::load(&z[t * kLanes]), sg = VP::sigmoid(zv), dov = VP::load(&dout[t * kLanes]);
          const V dsilu = VP::mul(sg, VP::fma(zv, VP::sub(one, sg), one));
          VP::store(&dy[t * kLanes], VP::mul(dov, VP::mul(zv, sg)));
          VP::store(&dz[t * kLanes], VP::mul(VP::mul(dov, VP::load(&y[t * kLanes])), dsilu));
        }
      } else {
        for (int i = 0; i < tn * kLanes; ++i) dy[i] = dout[i];
      }

      // Adjoint scan through the chunk, newest step first.
      for (int t = tn - 1; t >= 0; --t) {
        const V dtv = VP::load(&dt[t * kLanes]), dtuv = VP::load(&dtu[t * kLanes]);
        const V dyv = VP::load(&dy[t * kLanes]), uv = VP::load(&u[t * kLanes]);
        const V* ht = &hbuf[size_t(t) * N];
        const V* dat = &dabuf[size_t(t) * N];
        const V* hp = t > 0 ? &hbuf[size_t(t - 1) * N] : &ckpt[size_t(c) * N];
        T* dbc = dBC + (t0 + t) * N * 2;
        V sum_gB = zero, sum_gha = zero;  // sum_n g B ; sum_n g h_{t-1} a A
        for (int n = 0; n < N; ++n) {
          const V da = dat[n];
          const V gn = VP::fma(dyv, VP::set1(Cv.at(t, n)), gc[n]);  // dL/dh_t
          const V gha = VP::mul(gn, VP::mul(hp[n], da));      // g h_{t-1} a
          sum_gha = VP::fma(gha, prm.A[n], sum_gha);
          dA[n] = VP::fma(gha, dtv, dA[n]);
          sum_gB = VP::fma(gn, VP::set1(Bv.at(t, n)), sum_gB);
          red[2 * n] = VP::mul(gn, dtuv);        // dB: g dt u, to be summed over channels
          red[2 * n + 1] = VP::mul(dyv, ht[n]);  // dC: dy h_t
          gc[n] = VP::mul(da, gn);
        }
        VP::hsum_add(red.data(), 2 * N, dbc);
        // du = dt sum gB + D dy ; ddt = sum g h a A + u sum gB ; ddelta = ddt softplus'
        VP::store(&du[t * kLanes], VP::fma(dtv, sum_gB, VP::mul(prm.D, dyv)));
        const V dd = VP::mul(VP::fma(uv, sum_gB, sum_gha), VP::load(&spg[t * kLanes]));
        VP::store(&ddt[t * kLanes], dd);
        dD = VP::fma(dyv, uv, dD);
        dbias = VP::add(dbias, dd);
      }
      if (gr.du) store_tile<VP>(gr.du, a.dtype, gr.du_stride, b, d0, t0, tn, nl, du.data());
      if (gr.ddelta) store_tile<VP>(gr.ddelta, a.dtype, gr.ddelta_stride, b, d0, t0, tn, nl, ddt.data());
      if (a.z && gr.dz) store_tile<VP>(gr.dz, a.dtype, gr.dz_stride, b, d0, t0, tn, nl, dz.data());
    }

    // gc now holds exp(dt_0 A) g_0 = dL/dh_{-1}, the initial state's gradient.
    if (a.initial_state && gr.dinitial_state) store_state<VP>(gc.data(), N, a.dim, b, d0, nl, gr.dinitial_state);
    T tmp[kLanes];
    for (int n = 0; n < N; ++n) {
      VP::store(tmp, dA[n]);
      for (int l = 0; l < nl; ++l) part.dA[(b * a.dim + d0 + l) * N + n] = tmp[l];
    }
    VP::store(tmp, dD);
    for (int l = 0; l < nl; ++l) part.dD[b * a.dim + d0 + l] = tmp[l];
    VP::store(tmp, dbias);
    for (int l = 0; l < nl; ++l) part.dbias[b * a.dim + d0 + l] = tmp[l];
  }
}

}  // namespace
}  // namespace cpu
}  // namespace mamba
