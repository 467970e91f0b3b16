// AdamW over many tensors against an fp64 reference of the same update, for fp32 and bf16 storage.
#include <cmath>
#include <vector>
#include "test_util.h"

namespace {

struct Case {
  int64_t numel;
  int dtype;
  double lr, wd;
  int step;
};

// Storage for one tensor (params, grads, moments) as raw bytes of `dtype`, plus fp64 copies.
struct Slot {
  int dtype;
  std::vector<unsigned char> p, g, m, v;
  std::vector<double> pd, gd, md, vd;
  Slot(int dt, int64_t n, std::mt19937_64& rng) : dtype(dt) {
    const size_t es = dt == MAMBA_F32 ? 4 : 2;
    p.resize(n * es); g.resize(n * es); m.resize(n * es); v.resize(n * es);
    std::normal_distribution<double> nd(0.0, 1.0);
    for (int64_t i = 0; i < n; ++i) {
      put(p, i, nd(rng), pd); put(g, i, nd(rng) * 0.1, gd);
      put(m, i, nd(rng) * 0.01, md); put(v, i, std::abs(nd(rng)) * 1e-3, vd);
    }
  }
  // Stores x rounded to the dtype and keeps the rounded value as the reference's input.
  void put(std::vector<unsigned char>& dst, int64_t i, double x, std::vector<double>& ref) {
    mamba::cpu::store_elem<float>(dst.data(), dtype, i, (float)x);
    ref.push_back(mamba::cpu::load_elem<float>(dst.data(), dtype, i));
  }
  double at(const std::vector<unsigned char>& src, int64_t i) const {
    return mamba::cpu::load_elem<float>(src.data(), dtype, i);
  }
};

TEST(AdamwCpu, ManyTensorsMatchReference) {
  std::mt19937_64 rng(7);
  const Case cases[] = {
      {1, MAMBA_F32, 1e-3, 0.1, 1}, {0, MAMBA_F32, 1e-3, 0.1, 1}, {70000, MAMBA_F32, 2e-3, 0.0, 5},
      {131073, MAMBA_F32, 1e-2, 0.01, 100}, {1000, MAMBA_BF16, 1e-3, 0.1, 3}, {65537, MAMBA_BF16, 5e-4, 0.0, 1}};
  std::vector<Slot> slots;
  std::vector<mamba_adamw_tensor> ts;
  for (const Case& c : cases) slots.emplace_back(c.dtype, c.numel, rng);
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  for (size_t k = 0; k < slots.size(); ++k) {
    const Case& c = cases[k];
    mamba_adamw_tensor t{};
    t.param = slots[k].p.data(); t.grad = slots[k].g.data();
    t.exp_avg = slots[k].m.data(); t.exp_avg_sq = slots[k].v.data();
    t.numel = c.numel; t.dtype = c.dtype; t.grad_dtype = c.dtype;
    t.decay = (float)(1 - c.lr * c.wd); t.beta1 = (float)beta1; t.beta2 = (float)beta2;
    t.one_minus_beta1 = (float)(1 - beta1); t.one_minus_beta2 = (float)(1 - beta2); t.eps = (float)eps;
    t.step_size = (float)(c.lr / (1 - std::pow(beta1, c.step)));
    t.bias_correction2_sqrt = (float)std::sqrt(1 - std::pow(beta2, c.step));
    ts.push_back(t);
  }
  ASSERT_EQ(mamba_adamw_step_cpu(ts.data(), (int64_t)ts.size()), MAMBA_OK) << mamba_last_error();
  for (size_t k = 0; k < slots.size(); ++k) {
    const Case& c = cases[k];
    const Slot& s = slots[k];
    // Relative errors; bf16 storage rounds each result to 8 bits of mantissa.
    const double tol = c.dtype == MAMBA_F32 ? 1e-5 : 1e-2;
    double worst = 0;
    for (int64_t i = 0; i < c.numel; ++i) {
      const double g = s.gd[i];
      const double m = beta1 * s.md[i] + (1 - beta1) * g;
      const double v = beta2 * s.vd[i] + (1 - beta2) * g * g;
      const double bc1 = 1 - std::pow(beta1, c.step), bc2 = 1 - std::pow(beta2, c.step);
      const double update = c.lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + eps);
      const double p = s.pd[i] * (1 - c.lr * c.wd) - update;
      // Each error relative to the size of the terms that were added (cancellation makes results near 0).
      worst = std::max({worst, std::abs(s.at(s.p, i) - p) / (std::abs(s.pd[i]) + std::abs(update)),
                        std::abs(s.at(s.m, i) - m) / (beta1 * std::abs(s.md[i]) + (1 - beta1) * std::abs(g)),
                        std::abs(s.at(s.v, i) - v) / v});
    }
    EXPECT_LT(worst, tol) << "tensor " << k << " (" << c.numel << " elements)";
  }
}

TEST(AdamwCpu, RejectsBadArguments) {
  mamba_adamw_tensor t{};
  t.numel = 4; t.dtype = MAMBA_F32; t.grad_dtype = MAMBA_F32;
  EXPECT_EQ(mamba_adamw_step_cpu(&t, 1), MAMBA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mamba_last_error()).find("tensor 0"), std::string::npos) << mamba_last_error();
  EXPECT_EQ(mamba_adamw_step_cpu(nullptr, 1), MAMBA_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(mamba_adamw_step_cpu(nullptr, 0), MAMBA_OK);
  float x[4] = {};
  t.param = t.exp_avg = t.exp_avg_sq = x; t.grad = x; t.dtype = MAMBA_F64;
  EXPECT_EQ(mamba_adamw_step_cpu(&t, 1), MAMBA_ERR_UNSUPPORTED);
}

}  // namespace
