// Argument checks shared by the CPU and CUDA AdamW entry points.
#pragma once
#include <string>
#include "common/errors.h"

namespace mamba {

inline int check_adamw(const mamba_adamw_tensor* tensors, int64_t count, const char* backend) {
  const std::string where = std::string("adamw (") + backend + "): ";
  if (count < 0) return fail(MAMBA_ERR_INVALID_ARGUMENT, where + "count must be >= 0");
  if (count > 0 && !tensors) return fail(MAMBA_ERR_INVALID_ARGUMENT, where + "tensors is NULL");
  auto float_type = [](int t) { return t == MAMBA_F32 || t == MAMBA_F16 || t == MAMBA_BF16; };
  for (int64_t i = 0; i < count; ++i) {
    const mamba_adamw_tensor& t = tensors[i];
    const std::string which = where + "tensor " + std::to_string(i) + ": ";
    if (t.numel < 0) return fail(MAMBA_ERR_INVALID_ARGUMENT, which + "numel must be >= 0");
    if (t.numel > 0 && (!t.param || !t.grad || !t.exp_avg || !t.exp_avg_sq))
      return fail(MAMBA_ERR_INVALID_ARGUMENT, which + "param, grad, exp_avg and exp_avg_sq are required");
    if (!float_type(t.dtype) || !float_type(t.grad_dtype))
      return fail(MAMBA_ERR_UNSUPPORTED, which + "dtypes must be f32, f16 or bf16");
  }
  return MAMBA_OK;
}

}  // namespace mamba
