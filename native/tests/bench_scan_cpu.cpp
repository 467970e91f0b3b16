// Selective-scan CPU benchmark: forward and backward time of the library kernels (fp32, with z,
// D, delta_bias and softplus, as in a Mamba block) against a naive scalar fused loop.
// One state update = one (b, d, t, n) element. Usage: bench_scan_cpu [threads]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include "mamba_native.h"

namespace {

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

template <class F>
double best_ms(int reps, F&& f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// The textbook loop: one channel at a time, one state at a time, libm exp/log1p, fp32.
void naive_forward(int64_t Bt, int64_t D, int64_t L, int64_t N, const float* u, const float* delta, const float* A,
                   const float* B, const float* C, const float* Dp, const float* z, const float* bias, float* out) {
  std::vector<float> h(N);
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t d = 0; d < D; ++d) {
      std::fill(h.begin(), h.end(), 0.f);
      const int64_t row = (b * D + d) * L;
      for (int64_t t = 0; t < L; ++t) {
        float dt = delta[row + t] + bias[d];
        dt = dt > 20.f ? dt : std::log1p(std::exp(dt));
        float y = Dp[d] * u[row + t];
        for (int64_t n = 0; n < N; ++n) {
          const int64_t bc = (b * N + n) * L + t;
          h[n] = std::exp(dt * A[d * N + n]) * h[n] + dt * B[bc] * u[row + t];
          y += C[bc] * h[n];
        }
        const float zv = z[row + t];
        out[row + t] = y * zv / (1.f + std::exp(-zv));
      }
    }
}

void bench(int64_t Bt, int64_t D, int64_t L, int64_t N, int threads) {
  std::mt19937 g(0);
  std::normal_distribution<float> nd;
  std::uniform_real_distribution<float> ud;
  const int64_t nseq = Bt * D * L, nbc = Bt * N * L;
  auto fill = [&](std::vector<float>& v, int64_t n, auto gen) { v.resize(n); for (auto& x : v) x = gen(); };
  std::vector<float> u, delta, A, B, C, Dp, z, bias, out(nseq), out_naive(nseq), dout;
  fill(u, nseq, [&] { return nd(g); });
  fill(delta, nseq, [&] { return 0.5f * nd(g); });
  fill(A, D * N, [&] { return -0.05f - ud(g); });
  fill(B, nbc, [&] { return nd(g); });
  fill(C, nbc, [&] { return nd(g); });
  fill(Dp, D, [&] { return nd(g); });
  fill(z, nseq, [&] { return nd(g); });
  fill(bias, D, [&] { return 0.5f * ud(g); });
  fill(dout, nseq, [&] { return nd(g); });
  std::vector<float> du(nseq), ddelta(nseq), dz(nseq), dA(D * N), dB(nbc), dC(nbc), dD(D), dbias(D);

  const int64_t s3[3] = {D * L, L, 1}, s4[4] = {N * L, N * L, L, 1};
  mamba_scan_args a{};
  a.batch = Bt, a.dim = D, a.length = L, a.state = N, a.groups = 1;
  a.dtype = a.bc_dtype = MAMBA_F32, a.delta_softplus = 1, a.deterministic = 1;
  a.u = u.data(), a.delta = delta.data(), a.A = A.data(), a.B = B.data(), a.C = C.data();
  a.D = Dp.data(), a.z = z.data(), a.delta_bias = bias.data();
  std::copy(s3, s3 + 3, a.u_stride); std::copy(s3, s3 + 3, a.delta_stride); std::copy(s3, s3 + 3, a.z_stride);
  a.A_stride[0] = N, a.A_stride[1] = 1;
  std::copy(s4, s4 + 4, a.B_stride); std::copy(s4, s4 + 4, a.C_stride);
  mamba_scan_outputs o{};
  o.out = out.data(); std::copy(s3, s3 + 3, o.out_stride);
  mamba_scan_grads gr{};
  gr.dout = dout.data(), gr.du = du.data(), gr.ddelta = ddelta.data(), gr.dz = dz.data();
  std::copy(s3, s3 + 3, gr.dout_stride); std::copy(s3, s3 + 3, gr.du_stride);
  std::copy(s3, s3 + 3, gr.ddelta_stride); std::copy(s3, s3 + 3, gr.dz_stride);
  gr.dA = dA.data(), gr.dB = dB.data(), gr.dC = dC.data(), gr.dD = dD.data(), gr.ddelta_bias = dbias.data();
  std::copy(s4, s4 + 4, gr.dB_stride); std::copy(s4, s4 + 4, gr.dC_stride);

  mamba_set_num_threads(threads);
  int rc = 0;
  const double fwd = best_ms(5, [&] { rc |= mamba_scan_fwd_cpu(&a, &o); });
  const double bwd = best_ms(3, [&] { rc |= mamba_scan_bwd_cpu(&a, &gr); });
  const double naive = best_ms(1, [&] {
    naive_forward(Bt, D, L, N, u.data(), delta.data(), A.data(), B.data(), C.data(), Dp.data(), z.data(), bias.data(),
                  out_naive.data());
  });
  if (rc) std::printf("kernel error: %s\n", mamba_last_error());
  double maxdiff = 0;
  for (int64_t i = 0; i < nseq; ++i) maxdiff = std::max(maxdiff, double(std::fabs(out[i] - out_naive[i])));

  const double updates = double(Bt) * D * L * N;
  const double fwd_core = updates / (fwd * 1e-3) / threads, bwd_core = updates / (bwd * 1e-3) / threads;
  const double naive_rate = updates / (naive * 1e-3);  // single thread
  std::printf("(B,D,L,N)=(%lld,%lld,%lld,%lld) fp32, %d thread(s)\n", (long long)Bt, (long long)D, (long long)L,
              (long long)N, threads);
  std::printf("  forward : %8.2f ms  %.3g state updates/s/core  (%.1fx naive)\n", fwd, fwd_core, fwd_core / naive_rate);
  std::printf("  backward: %8.2f ms  %.3g state updates/s/core  (%.1fx naive forward)\n", bwd, bwd_core,
              bwd_core / naive_rate);
  std::printf("  naive scalar fused forward, 1 thread: %8.2f ms  %.3g state updates/s  (max |out - naive| = %.2g)\n",
              naive, naive_rate, maxdiff);
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned hw = std::thread::hardware_concurrency();
  const int threads = argc > 1 ? std::atoi(argv[1]) : int(hw ? hw : 1);
  std::printf("CPU: %s, %u hardware threads, benchmark threads: %d\n", cpu_name().c_str(), hw, threads);
  bench(1, 1536, 1024, 16, threads);
  bench(4, 768, 512, 16, threads);
  return 0;
}
