// Naive fp64 selective scan, forward and backward, straight from the equations in mamba_native.h: one time
// step and one state at a time. The one scan oracle of the native tests, CPU (test_scan_cpu.cpp) and CUDA
// (cuda/test_scan_cuda.cu) alike; plain host C++.
#pragma once
#include <cmath>
#include <vector>

struct RefScan {
  int B, D, L, N, G;
  bool softplus;
  // Logical contiguous inputs: u, delta, z (B,D,L); A (D,N); Bm, Cm (B,G,N,L); Dv, bias (D); init (B,D,N).
  std::vector<double> u, delta, z, A, Bm, Cm, Dv, bias, init, dout, dfinal;
  bool has_z, has_D, has_bias, has_init, has_dfinal;
  // Outputs.
  std::vector<double> out, final_state, du, ddelta, dz, dA, dB, dC, dD, dbias, dinit;

  static double softplus_f(double x) { return x <= 20 ? std::log1p(std::exp(x)) : x; }
  static double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

  void run() {
    const size_t bdl = (size_t)B * D * L;
    out.assign(bdl, 0); du.assign(bdl, 0); ddelta.assign(bdl, 0); dz.assign(bdl, 0);
    final_state.assign((size_t)B * D * N, 0); dinit.assign((size_t)B * D * N, 0);
    dA.assign((size_t)D * N, 0); dB.assign((size_t)B * G * N * L, 0); dC.assign((size_t)B * G * N * L, 0);
    dD.assign(D, 0); dbias.assign(D, 0);
    const int dpg = D / G;
    std::vector<double> dt(L), dsp(L), hp((size_t)L * N), a((size_t)L * N), h(N), adj(N), dy(L);
    for (int b = 0; b < B; ++b)
      for (int d = 0; d < D; ++d) {
        const int g = d / dpg;
        auto X = [&](const std::vector<double>& v, int t) { return v[((size_t)b * D + d) * L + t]; };
        auto BC = [&](const std::vector<double>& v, int n, int t) { return v[(((size_t)b * G + g) * N + n) * L + t]; };
        const double Dd = has_D ? Dv[d] : 0;
        for (int n = 0; n < N; ++n) h[n] = has_init ? init[((size_t)b * D + d) * N + n] : 0;
        for (int t = 0; t < L; ++t) {
          const double x = X(delta, t) + (has_bias ? bias[d] : 0);
          dt[t] = softplus ? softplus_f(x) : x;
          dsp[t] = softplus ? (x <= 20 ? sigmoid(x) : 1) : 1;
          double y = 0;
          for (int n = 0; n < N; ++n) {
            hp[(size_t)t * N + n] = h[n];
            a[(size_t)t * N + n] = std::exp(dt[t] * A[(size_t)d * N + n]);
            h[n] = a[(size_t)t * N + n] * h[n] + dt[t] * BC(Bm, n, t) * X(u, t);
            y += BC(Cm, n, t) * h[n];
          }
          y += Dd * X(u, t);
          const size_t o = ((size_t)b * D + d) * L + t;
          if (has_z) {
            const double zv = X(z, t), s = sigmoid(zv);
            out[o] = y * zv * s;
            dy[t] = dout[o] * zv * s;
            dz[o] = dout[o] * y * s * (1 + zv * (1 - s));
          } else {
            out[o] = y;
            dy[t] = dout[o];
          }
          for (int n = 0; n < N; ++n) dC[(((size_t)b * G + g) * N + n) * L + t] += dy[t] * h[n];
        }
        for (int n = 0; n < N; ++n) {
          final_state[((size_t)b * D + d) * N + n] = h[n];
          adj[n] = has_dfinal ? dfinal[((size_t)b * D + d) * N + n] : 0;
        }
        for (int t = L - 1; t >= 0; --t) {
          const size_t o = ((size_t)b * D + d) * L + t;
          const double uu = X(u, t);
          double sB = 0, ddt = 0;
          for (int n = 0; n < N; ++n) {
            const double Bv = BC(Bm, n, t), an = a[(size_t)t * N + n], hpn = hp[(size_t)t * N + n];
            adj[n] += BC(Cm, n, t) * dy[t];
            dB[(((size_t)b * G + g) * N + n) * L + t] += adj[n] * dt[t] * uu;
            sB += adj[n] * Bv;
            ddt += adj[n] * (hpn * an * A[(size_t)d * N + n] + uu * Bv);
            dA[(size_t)d * N + n] += adj[n] * hpn * an * dt[t];
            adj[n] *= an;
          }
          du[o] = dt[t] * sB + Dd * dy[t];
          ddelta[o] = ddt * dsp[t];
          dbias[d] += ddelta[o];
          dD[d] += dy[t] * uu;
        }
        for (int n = 0; n < N; ++n) dinit[((size_t)b * D + d) * N + n] = adj[n];
      }
  }
};
