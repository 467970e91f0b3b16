// The SSD kernels for any CPU (baseline x86-64 or other): the fallback when AVX2/FMA is missing or
// MAMBA_CPU_ISA=generic.
#include "cpu/ssd_impl.h"

namespace mamba {
namespace cpu {
void ssd_fwd_task_generic(const SsdProblem& p, int64_t task, float* scratch) { ssd_fwd_impl(p, task, scratch); }
void ssd_bwd_task_generic(const SsdProblem& p, int64_t task, float* scratch) { ssd_bwd_impl(p, task, scratch); }
void ssd_step_head_generic(float* st, int64_t P, int64_t N, float decay, float dt, const float* x, const float* Bv,
                        const float* Cv, float Dh, float* y) {
  ssd_step_head_impl(st, P, N, decay, dt, x, Bv, Cv, Dh, y);
}
}  // namespace cpu
}  // namespace mamba
