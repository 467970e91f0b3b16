// Naive fp64 Mamba-2 SSD scan, forward and backward, and its decode step, straight from the equations in
// mamba_native.h: one time step at a time, every state kept. The SSD oracle of the native tests, CPU and CUDA
// alike; plain host C++.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

struct RefSsd {
  int B, L, H, P, G, N;
  bool softplus = true;
  double dt_min = 0, dt_max = INFINITY;
  // Logical contiguous inputs: x (B,L,H,P); dt (B,L,H); A, Dv, bias (H); Bm, Cm (B,L,G,N); init (B,H,P,N);
  // dy like x; dfinal like init.
  std::vector<double> x, dt, A, Bm, Cm, Dv, bias, init, dy, dfinal;
  bool has_D = false, has_bias = false, has_init = false, has_dfinal = false;
  // Outputs.
  std::vector<double> y, final_state, dx, ddt, dA, dB, dC, dD, dbias, dinit;

  static double softplus_f(double v) { return v <= 20 ? std::log1p(std::exp(v)) : v; }
  static double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

  size_t xi(int b, int t, int h, int p) const { return (((size_t)b * L + t) * H + h) * P + p; }
  size_t ti(int b, int t, int h) const { return ((size_t)b * L + t) * H + h; }
  size_t bci(int b, int t, int g, int n) const { return (((size_t)b * L + t) * G + g) * N + n; }
  size_t si(int b, int h, int p, int n) const { return (((size_t)b * H + h) * P + p) * N + n; }

  // dt after softplus and clamp of `in` (dt_in + bias), and d(dt)/d(in) (0 where the clamp holds it).
  void delta(double in, double& v, double& dv) const {
    v = softplus ? softplus_f(in) : in;
    dv = softplus ? (in <= 20 ? sigmoid(in) : 1) : 1;
    if (v < dt_min) { v = dt_min; dv = 0; }
    if (v > dt_max) { v = dt_max; dv = 0; }
  }

  // Forward and, when dy is set, backward.
  void run() {
    const size_t nx = (size_t)B * L * H * P, nt = (size_t)B * L * H, nbc = (size_t)B * L * G * N, ns = (size_t)B * H * P * N;
    y.assign(nx, 0); final_state.assign(ns, 0); dx.assign(nx, 0); ddt.assign(nt, 0); dA.assign(H, 0);
    dB.assign(nbc, 0); dC.assign(nbc, 0); dD.assign(H, 0); dbias.assign(H, 0); dinit.assign(ns, 0);
    const int hpg = H / G;
    const bool backward = !dy.empty();
    std::vector<double> hist((size_t)(L + 1) * P * N), dtv(L), dtd(L), a(L), S((size_t)P * N);
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h) {
        const int g = h / hpg;
        const double Dh = has_D ? Dv[h] : 0;
        for (int p = 0; p < P; ++p)
          for (int n = 0; n < N; ++n) hist[(size_t)p * N + n] = has_init ? init[si(b, h, p, n)] : 0;
        for (int t = 0; t < L; ++t) {
          delta(dt[ti(b, t, h)] + (has_bias ? bias[h] : 0), dtv[t], dtd[t]);
          a[t] = std::exp(dtv[t] * A[h]);
          const double* prev = &hist[(size_t)t * P * N];
          double* cur = &hist[(size_t)(t + 1) * P * N];
          for (int p = 0; p < P; ++p) {
            const double xv = x[xi(b, t, h, p)];
            double acc = 0;
            for (int n = 0; n < N; ++n) {
              cur[(size_t)p * N + n] = a[t] * prev[(size_t)p * N + n] + dtv[t] * xv * Bm[bci(b, t, g, n)];
              acc += Cm[bci(b, t, g, n)] * cur[(size_t)p * N + n];
            }
            y[xi(b, t, h, p)] = acc + Dh * xv;
          }
        }
        for (int p = 0; p < P; ++p)
          for (int n = 0; n < N; ++n) final_state[si(b, h, p, n)] = hist[((size_t)L * P + p) * N + n];
        if (!backward) continue;
        // Reverse sweep: S holds the gradient of the state after step t.
        for (int p = 0; p < P; ++p)
          for (int n = 0; n < N; ++n) S[(size_t)p * N + n] = has_dfinal ? dfinal[si(b, h, p, n)] : 0;
        for (int t = L - 1; t >= 0; --t) {
          const double* prev = &hist[(size_t)t * P * N];
          const double* cur = &hist[(size_t)(t + 1) * P * N];
          double da = 0, ddtv = 0;
          for (int p = 0; p < P; ++p) {
            const double xv = x[xi(b, t, h, p)], g_y = dy[xi(b, t, h, p)];
            dD[h] += g_y * xv;
            double gx = g_y * Dh;
            for (int n = 0; n < N; ++n) {
              const size_t k = (size_t)p * N + n;
              dC[bci(b, t, g, n)] += g_y * cur[k];
              S[k] += g_y * Cm[bci(b, t, g, n)];
              da += S[k] * prev[k];
              ddtv += S[k] * xv * Bm[bci(b, t, g, n)];
              gx += S[k] * dtv[t] * Bm[bci(b, t, g, n)];
              dB[bci(b, t, g, n)] += S[k] * dtv[t] * xv;
              S[k] *= a[t];
            }
            dx[xi(b, t, h, p)] = gx;
          }
          // a = exp(dt * A): da/d(dt) = a * A, da/dA = a * dt.
          ddtv += da * a[t] * A[h];
          dA[h] += da * a[t] * dtv[t];
          ddt[ti(b, t, h)] = ddtv * dtd[t];
          dbias[h] += ddtv * dtd[t];
        }
        for (int p = 0; p < P; ++p)
          for (int n = 0; n < N; ++n) dinit[si(b, h, p, n)] = S[(size_t)p * N + n];
      }
  }
};

// One Mamba-2 decode step in fp64 (see mamba_ssd_step_args): K = H*P + 2*G*N conv channels x | B | C.
struct RefSsdStep {
  int B, H, P, G, N, W;
  bool softplus = true;
  double dt_min = 0, dt_max = INFINITY;
  // xBC (B,K); dt (B,H); conv_state (B,K,W) in/out; conv_weight (K,W); conv_bias (K); dt_bias, A_log, Dv (H);
  // ssm_state (B,H,P,N) in/out; out (B,H*P).
  std::vector<double> xBC, dt, conv_state, conv_weight, conv_bias, dt_bias, A_log, Dv, ssm_state, out;
  bool has_conv_bias = false, has_dt_bias = false, has_D = false;

  void run() {
    const int K = H * P + 2 * G * N, hpg = H / G;
    out.assign((size_t)B * H * P, 0);
    std::vector<double> v(K);
    for (int b = 0; b < B; ++b) {
      for (int k = 0; k < K; ++k) {
        double* win = &conv_state[((size_t)b * K + k) * W];
        for (int w = 0; w + 1 < W; ++w) win[w] = win[w + 1];
        win[W - 1] = xBC[(size_t)b * K + k];
        double s = has_conv_bias ? conv_bias[k] : 0;
        for (int w = 0; w < W; ++w) s += conv_weight[(size_t)k * W + w] * win[w];
        v[k] = s / (1 + std::exp(-s));
      }
      for (int h = 0; h < H; ++h) {
        const int g = h / hpg;
        const double s = dt[(size_t)b * H + h] + (has_dt_bias ? dt_bias[h] : 0);
        double d = softplus ? RefSsd::softplus_f(s) : s;
        d = std::min(std::max(d, dt_min), dt_max);
        const double a = std::exp(-d * std::exp(A_log[h]));
        const double* Bv = &v[(size_t)H * P + (size_t)g * N];
        const double* Cv = &v[(size_t)H * P + (size_t)G * N + (size_t)g * N];
        for (int p = 0; p < P; ++p) {
          const double xv = v[(size_t)h * P + p];
          double acc = 0;
          for (int n = 0; n < N; ++n) {
            double& st = ssm_state[(((size_t)b * H + h) * P + p) * N + n];
            st = a * st + d * xv * Bv[n];
            acc += Cv[n] * st;
          }
          out[(size_t)b * H * P + (size_t)h * P + p] = acc + (has_D ? Dv[h] : 0) * xv;
        }
      }
    }
  }
};
