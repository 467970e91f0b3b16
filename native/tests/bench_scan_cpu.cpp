// Selective-scan CPU benchmark: forward and backward time of the library kernels (fp32, with z,
// D, delta_bias and softplus, as in a Mamba block) against a naive scalar fused loop.
// One state update = one (b, d, t, n) element. Usage: bench_scan_cpu [threads]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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

// Wall time and process CPU time (all threads), each the best of `reps` runs. On a shared
// machine CPU time is the fairer per-core measure: it counts only the cycles this process got.
struct Timing { double wall_ms, cpu_ms; };
double cpu_now_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
template <class F>
Timing best_of(int reps, F&& f) {
  Timing best{1e30, 1e30};
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_now_ms();
    f();
    const double cpu = cpu_now_ms() - c0;
    best.wall_ms = std::min(best.wall_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    best.cpu_ms = std::min(best.cpu_ms, cpu);
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
  // Best of several runs: the fairest figure on a machine shared with other work.
  const Timing fwd = best_of(10, [&] { rc |= mamba_scan_fwd_cpu(&a, &o); });
  const Timing bwd = best_of(5, [&] { rc |= mamba_scan_bwd_cpu(&a, &gr); });
  const Timing naive = best_of(2, [&] {
    naive_forward(Bt, D, L, N, u.data(), delta.data(), A.data(), B.data(), C.data(), Dp.data(), z.data(), bias.data(),
                  out_naive.data());
  });
  if (rc) std::printf("kernel error: %s\n", mamba_last_error());
  double maxdiff = 0;
  for (int64_t i = 0; i < nseq; ++i) maxdiff = std::max(maxdiff, double(std::fabs(out[i] - out_naive[i])));

  // Per core: updates per CPU-second of the process (the same as wall-clock per thread when
  // every thread has a core of its own).
  const double updates = double(Bt) * D * L * N;
  auto per_core = [&](const Timing& t) { return updates / (t.cpu_ms * 1e-3); };
  const double naive_rate = per_core(naive);
  std::printf("(B,D,L,N)=(%lld,%lld,%lld,%lld) fp32, %d thread(s)\n", (long long)Bt, (long long)D, (long long)L,
              (long long)N, threads);
  std::printf("  forward : %8.2f ms wall, %8.2f ms CPU  %.3g state updates/s/core  (%.1fx naive)\n", fwd.wall_ms,
              fwd.cpu_ms, per_core(fwd), per_core(fwd) / naive_rate);
  std::printf("  backward: %8.2f ms wall, %8.2f ms CPU  %.3g state updates/s/core  (%.1fx naive forward)\n",
              bwd.wall_ms, bwd.cpu_ms, per_core(bwd), per_core(bwd) / naive_rate);
  std::printf("  naive scalar fused forward, 1 thread: %8.2f ms wall, %8.2f ms CPU  %.3g state updates/s  "
              "(max |out - naive| = %.2g)\n", naive.wall_ms, naive.cpu_ms, naive_rate, maxdiff);
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned hw = std::thread::hardware_concurrency();
  const int threads = argc > 1 ? std::atoi(argv[1]) : int(hw ? hw : 1);
  std::string load = "?";
  std::getline(std::ifstream("/proc/loadavg") >> std::ws, load);
  const char* isa = std::getenv("MAMBA_CPU_ISA");
  std::printf("CPU: %s, %u hardware threads, benchmark threads: %d, kernels: %s, load average: %s\n",
              cpu_name().c_str(), hw, threads, isa ? isa : "auto (AVX2+FMA when available)", load.c_str());
  bench(1, 1536, 1024, 16, threads);
  bench(4, 768, 512, 16, threads);
  return 0;
}
