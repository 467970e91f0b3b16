// Weight-GEMV CPU benchmark: the projections of one Mamba-130m decoding step at batch 1 (24 layers of in_proj
// 768 -> 3072 and out_proj 1536 -> 768, then the 50280 x 768 vocabulary projection), int8 / bf16 / fp32 weights,
// called back to back as a token makes them, with a short gap between calls (the step's other work). Prints ms
// per token and the rate the weights are read at, for 1 and N threads.
// Usage: bench_weight_gemv_cpu [threads=2] [gap_us=20] [tokens=50]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "mamba_native.h"

namespace {

struct Matrix {
  int64_t out, in;
  std::vector<uint8_t> w;
  std::vector<float> scales;
};

int64_t elem_bytes(int f) { return f == MAMBA_WEIGHTS_INT8 ? 1 : f == MAMBA_WEIGHTS_BF16 ? 2 : 4; }

Matrix make(int64_t out, int64_t in, int format, std::mt19937& g) {
  Matrix m{out, in, std::vector<uint8_t>(size_t(out * in * elem_bytes(format))), std::vector<float>(size_t(out), 0.01f)};
  // Small values whatever the format: int8 any byte, bf16 / fp32 bits of numbers near 1.
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : m.w) b = uint8_t(byte(g));
  if (format == MAMBA_WEIGHTS_BF16)
    for (size_t i = 1; i < m.w.size(); i += 2) m.w[i] = 0x3f;
  if (format == MAMBA_WEIGHTS_F32)
    for (size_t i = 3; i < m.w.size(); i += 4) m.w[i] = 0x3f;
  return m;
}

void spin_for(double us) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double, std::micro>(us);
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double gap_us = argc > 2 ? std::atof(argv[2]) : 20;
  const int tokens = argc > 3 ? std::atoi(argv[3]) : 50;
  const int64_t layers = 24, hidden = 768, inner = 1536, vocab = 50280;
  std::printf("token of Mamba-130m's projections: %lld layers, gap %.0f us between calls, best of 5 x %d tokens\n",
              (long long)layers, gap_us, tokens);
  for (int format : {MAMBA_WEIGHTS_INT8, MAMBA_WEIGHTS_BF16, MAMBA_WEIGHTS_F32}) {
    std::mt19937 g(1);
    std::vector<Matrix> mats;
    double bytes = 0;
    for (int64_t l = 0; l < layers; ++l) {
      mats.push_back(make(2 * inner, hidden, format, g));
      mats.push_back(make(hidden, inner, format, g));
    }
    mats.push_back(make(vocab, hidden, format, g));
    for (auto& m : mats) bytes += double(m.w.size()) + (format == MAMBA_WEIGHTS_INT8 ? 4.0 * double(m.out) : 0.0);
    std::vector<float> x(static_cast<size_t>(vocab), 0.5f), y(static_cast<size_t>(vocab));
    for (int t : {1, threads}) {
      mamba_set_num_threads(t);
      double best = 1e30;
      for (int rep = 0; rep < 6; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int k = 0; k < tokens; ++k)
          for (const auto& m : mats) {
            mamba_gemv_args a{};
            a.batch = 1, a.in = m.in, a.out = m.out, a.weight_format = format;
            a.x = x.data(), a.x_row_stride = m.in, a.weight = m.w.data();
            a.scales = format == MAMBA_WEIGHTS_INT8 ? m.scales.data() : nullptr;
            a.y = y.data(), a.y_row_stride = m.out;
            if (mamba_gemv_cpu(&a) != MAMBA_OK) {
              std::fprintf(stderr, "%s\n", mamba_last_error());
              return 1;
            }
            if (gap_us > 0) spin_for(gap_us);
          }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / tokens;
        if (rep > 0) best = std::min(best, ms);  // the first pass faults the pages in
      }
      const double calls_gap_ms = gap_us * 1e-3 * double(mats.size());
      std::printf("%-5s %d thread(s): %7.2f ms per token (%.2f of it gaps), weights %.1f MB read at %5.1f GB/s\n",
                  format == MAMBA_WEIGHTS_INT8 ? "int8" : format == MAMBA_WEIGHTS_BF16 ? "bf16" : "fp32", t, best,
                  calls_gap_ms, bytes / 1e6, bytes / ((best - calls_gap_ms) * 1e-3) / 1e9);
    }
  }
  return 0;
}
