// The scan kernels for any x86-64 (or other) CPU: fp32 fallback when AVX2/FMA is missing, and the
// fp64 path, which computes in double throughout (storage dtype MAMBA_F64; handy for testing).
#include "cpu/scan_bwd_impl.h"
#include "cpu/vec_generic.h"

namespace mamba {
namespace cpu {
void scan_fwd_task_generic(const ScanProblem& p, int64_t task) { scan_fwd_block<VecGeneric<float>>(p, task); }
void scan_fwd_task_generic_f64(const ScanProblem& p, int64_t task) { scan_fwd_block<VecGeneric<double>>(p, task); }
void scan_bwd_task_generic(const ScanProblem& p, const ScanPartials<float>& part, int64_t task) {
  scan_bwd_task<VecGeneric<float>>(p, part, task);
}
void scan_bwd_task_generic_f64(const ScanProblem& p, const ScanPartials<double>& part, int64_t task) {
  scan_bwd_task<VecGeneric<double>>(p, part, task);
}
}  // namespace cpu
}  // namespace mamba
