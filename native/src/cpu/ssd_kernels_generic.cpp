// The SSD kernels for any CPU (baseline x86-64 or other): the fallback when AVX2/FMA is missing or
// MAMBA_CPU_ISA=generic.
#include "cpu/ssd_impl.h"

namespace mamba {
namespace cpu {
void ssd_fwd_task_generic(const SsdProblem& p, int64_t task, float* scratch) { ssd_fwd_impl(p, task, scratch); }
void ssd_bwd_task_generic(const SsdProblem& p, int64_t task, float* scratch) { ssd_bwd_impl(p, task, scratch); }
}  // namespace cpu
}  // namespace mamba
