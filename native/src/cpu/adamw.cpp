// AdamW over many tensors on the CPU: fixed 64K-element chunks spread over the thread pool.
#include <cmath>
#include <vector>
#include "common/adamw_check.h"
#include "cpu/dtype_convert.h"
#include "cpu/thread_pool.h"

namespace {

constexpr int64_t kChunk = 1 << 16;

void update(const mamba_adamw_tensor& t, int64_t begin, int64_t end) {
  using namespace mamba::cpu;
  for (int64_t i = begin; i < end; ++i) {
    const float g = load_elem<float>(t.grad, t.grad_dtype, i);
    float p = load_elem<float>(t.param, t.dtype, i) * t.decay;
    const float m = t.beta1 * load_elem<float>(t.exp_avg, t.dtype, i) + t.one_minus_beta1 * g;
    const float v = t.beta2 * load_elem<float>(t.exp_avg_sq, t.dtype, i) + t.one_minus_beta2 * g * g;
    p -= t.step_size * m / (std::sqrt(v) / t.bias_correction2_sqrt + t.eps);
    store_elem<float>(t.param, t.dtype, i, p);
    store_elem<float>(t.exp_avg, t.dtype, i, m);
    store_elem<float>(t.exp_avg_sq, t.dtype, i, v);
  }
}

}  // namespace

MAMBA_API int32_t mamba_adamw_step_cpu(const mamba_adamw_tensor* tensors, int64_t count) {
  mamba::clear_error();
  if (int rc = mamba::check_adamw(tensors, count, "cpu")) return rc;
  struct Piece { int64_t tensor, begin, end; };
  std::vector<Piece> pieces;
  double work = 0;
  for (int64_t k = 0; k < count; ++k) {
    for (int64_t b = 0; b < tensors[k].numel; b += kChunk)
      pieces.push_back({k, b, std::min(tensors[k].numel, b + kChunk)});
    work += (double)tensors[k].numel;
  }
  mamba::cpu::parallel_for((int64_t)pieces.size(), [&](int64_t i) {
    const Piece& p = pieces[i];
    update(tensors[p.tensor], p.begin, p.end);
  }, work * 10);
  return MAMBA_OK;
}
