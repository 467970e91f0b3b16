// Naive fp64 selective scan, forward and backward, one time step and one state at a time,
// written straight from the equations in mamba_native.h. All tensors are flat row-major:
// u, delta, z, out (batch, dim, length); A (dim, state); B, C (batch, groups, state, length);
// D, bias (dim); states (batch, dim, state). Empty vectors mean "absent".
#pragma once
#include <cmath>
#include <vector>

namespace ref {

struct Scan {
  int64_t batch, dim, length, state, groups;
  bool softplus;
  std::vector<double> u, delta, A, B, C, D, z, bias, h0;
};

inline double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }
inline double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

struct Fwd { std::vector<double> out, hT, y, states; };  // y: before the gate; states (b,d,t,n)

inline Fwd forward(const Scan& s) {
  const int64_t Bt = s.batch, D = s.dim, L = s.length, N = s.state, dg = D / s.groups;
  Fwd f;
  f.out.assign(Bt * D * L, 0);
  f.y.assign(Bt * D * L, 0);
  f.hT.assign(Bt * D * N, 0);
  f.states.assign(Bt * D * L * N, 0);
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t g = d / dg, row = (b * D + d) * L;
      std::vector<double> h(N, 0);
      if (!s.h0.empty())
        for (int64_t n = 0; n < N; ++n) h[n] = s.h0[(b * D + d) * N + n];
      for (int64_t t = 0; t < L; ++t) {
        double dt = s.delta[row + t] + (s.bias.empty() ? 0 : s.bias[d]);
        if (s.softplus) dt = softplus(dt);
        double y = s.D.empty() ? 0 : s.D[d] * s.u[row + t];
        for (int64_t n = 0; n < N; ++n) {
          const int64_t bc = ((b * s.groups + g) * N + n) * L + t;
          h[n] = std::exp(dt * s.A[d * N + n]) * h[n] + dt * s.B[bc] * s.u[row + t];
          y += s.C[bc] * h[n];
          f.states[(row + t) * N + n] = h[n];
        }
        f.y[row + t] = y;
        f.out[row + t] = s.z.empty() ? y : y * s.z[row + t] * sigmoid(s.z[row + t]);
      }
      for (int64_t n = 0; n < N; ++n) f.hT[(b * D + d) * N + n] = h[n];
    }
  return f;
}

struct Grads { std::vector<double> du, ddelta, dA, dB, dC, dD, dz, dbias, dh0; };

inline Grads backward(const Scan& s, const std::vector<double>& dout, const std::vector<double>& dhT) {
  const int64_t Bt = s.batch, D = s.dim, L = s.length, N = s.state, dg = D / s.groups;
  const Fwd f = forward(s);
  Grads r;
  r.du.assign(Bt * D * L, 0); r.ddelta = r.du; r.dz = r.du;
  r.dA.assign(D * N, 0);
  r.dB.assign(Bt * s.groups * N * L, 0); r.dC = r.dB;
  r.dD.assign(D, 0); r.dbias = r.dD;
  r.dh0.assign(Bt * D * N, 0);
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t g = d / dg, row = (b * D + d) * L;
      std::vector<double> gh(N, 0);  // dL/dh_t accumulated from later steps
      if (!dhT.empty())
        for (int64_t n = 0; n < N; ++n) gh[n] = dhT[(b * D + d) * N + n];
      for (int64_t t = L - 1; t >= 0; --t) {
        const double raw = s.delta[row + t] + (s.bias.empty() ? 0 : s.bias[d]);
        const double dt = s.softplus ? softplus(raw) : raw, u = s.u[row + t];
        double dy = dout[row + t];
        if (!s.z.empty()) {
          const double z = s.z[row + t], sg = sigmoid(z);
          r.dz[row + t] = dout[row + t] * f.y[row + t] * sg * (1 + z * (1 - sg));
          dy = dout[row + t] * z * sg;
        }
        r.dD[d] += dy * u;
        double du = s.D.empty() ? 0 : dy * s.D[d], ddt = 0;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t bc = ((b * s.groups + g) * N + n) * L + t;
          const double a = std::exp(dt * s.A[d * N + n]);
          const double hprev = t > 0 ? f.states[(row + t - 1) * N + n] : (s.h0.empty() ? 0 : s.h0[(b * D + d) * N + n]);
          const double gn = gh[n] + dy * s.C[bc];
          r.dC[bc] += dy * f.states[(row + t) * N + n];
          r.dA[d * N + n] += gn * hprev * a * dt;
          ddt += gn * (hprev * a * s.A[d * N + n] + s.B[bc] * u);
          r.dB[bc] += gn * dt * u;
          du += gn * dt * s.B[bc];
          gh[n] = a * gn;
        }
        r.du[row + t] = du;
        const double dd = ddt * (s.softplus ? (raw > 20 ? 1 : sigmoid(raw)) : 1);
        r.ddelta[row + t] = dd;
        r.dbias[d] += dd;
      }
      for (int64_t n = 0; n < N; ++n) r.dh0[(b * D + d) * N + n] = gh[n];
    }
  return r;
}

}  // namespace ref
