// Naive fp64 causal depthwise conv1d (+ SiLU), forward and backward, from the formula in mamba_native.h.
// The one conv oracle of the native tests, CPU (test_conv1d_cpu.cpp) and CUDA (cuda/test_scan_cuda.cu) alike.
#pragma once
#include <cmath>
#include <vector>

struct RefConv {
  int B, D, L, W;
  bool silu, has_bias;
  std::vector<double> x, w, bias, dout;  // x, dout (B,D,L); w (D,W); bias (D)
  std::vector<double> out, dx, dw, db;

  void run() {
    const size_t n = (size_t)B * D * L;
    out.assign(n, 0); dx.assign(n, 0); dw.assign((size_t)D * W, 0); db.assign(D, 0);
    std::vector<double> dpre(L);
    for (int b = 0; b < B; ++b)
      for (int d = 0; d < D; ++d) {
        const double* xr = &x[((size_t)b * D + d) * L];
        for (int t = 0; t < L; ++t) {
          double pre = has_bias ? bias[d] : 0;
          for (int k = 0; k < W; ++k) {
            const int s = t - W + 1 + k;
            if (s >= 0) pre += w[(size_t)d * W + k] * xr[s];
          }
          const double sg = 1 / (1 + std::exp(-pre));
          const size_t o = ((size_t)b * D + d) * L + t;
          out[o] = silu ? pre * sg : pre;
          dpre[t] = silu ? dout[o] * sg * (1 + pre * (1 - sg)) : dout[o];
        }
        for (int t = 0; t < L; ++t) {
          db[d] += dpre[t];
          for (int k = 0; k < W; ++k) {
            const int s = t - W + 1 + k;
            if (s < 0) continue;
            dw[(size_t)d * W + k] += dpre[t] * xr[s];
            dx[((size_t)b * D + d) * L + s] += dpre[t] * w[(size_t)d * W + k];
          }
        }
      }
  }
};
