// fp64 reference of one fused decoding step (the formulas in mamba_native.h, mamba_step_args). The one
// decode-step oracle of the native tests, CPU (test_decode_step_cpu.cpp) and CUDA (cuda/test_decode_step_cuda.cu).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

struct RefDecodeStep {
  int B = 1, E = 1, N = 1, R = 1, W = 4;
  bool has_z = true, has_D = true, has_conv_bias = true, has_dt_bias = true;
  // Inputs, logical row-major: x, z (B,E); conv_w (E,W); conv_b (E); x_proj (R+2N,E); dt_proj (E,R);
  // dt_bias (E); A_log (E,N); D (E). State, updated by step(): conv (B,E,W), ssm (B,E,N).
  std::vector<double> x, z, conv_w, conv_b, x_proj, dt_proj, dt_bias, A_log, D, conv, ssm;
  std::vector<double> out;  // (B,E)

  static double silu(double v) { return v / (1 + std::exp(-v)); }
  static double softplus(double v) { return v > 20 ? v : std::log1p(std::exp(v)); }

  void step() {
    const int J = R + 2 * N;
    out.assign((size_t)B * E, 0);
    std::vector<double> xc((size_t)E), p((size_t)J);
    for (int b = 0; b < B; ++b) {
      for (int e = 0; e < E; ++e) {
        double* win = &conv[((size_t)b * E + e) * W];
        for (int k = 0; k + 1 < W; ++k) win[k] = win[k + 1];
        win[W - 1] = x[(size_t)b * E + e];
        double acc = has_conv_bias ? conv_b[e] : 0;
        for (int k = 0; k < W; ++k) acc += conv_w[(size_t)e * W + k] * win[k];
        xc[e] = silu(acc);
      }
      for (int j = 0; j < J; ++j) {
        double acc = 0;
        for (int e = 0; e < E; ++e) acc += x_proj[(size_t)j * E + e] * xc[e];
        p[j] = acc;
      }
      for (int e = 0; e < E; ++e) {
        double dt = has_dt_bias ? dt_bias[e] : 0;
        for (int r = 0; r < R; ++r) dt += dt_proj[(size_t)e * R + r] * p[r];
        dt = softplus(dt);
        double y = 0;
        for (int n = 0; n < N; ++n) {
          double& h = ssm[((size_t)b * E + e) * N + n];
          h = std::exp(-dt * std::exp(A_log[(size_t)e * N + n])) * h + dt * p[R + n] * xc[e];
          y += p[R + N + n] * h;
        }
        if (has_D) y += D[e] * xc[e];
        if (has_z) y *= silu(z[(size_t)b * E + e]);
        out[(size_t)b * E + e] = y;
      }
    }
  }
};
