// The SSD kernels built with -mavx2 -mfma (see CMakeLists.txt); ssd_forward.cpp/ssd_backward.cpp pick them only on
// CPUs that report both (cpu_features.h). ssd_impl.h has internal linkage throughout, so nothing compiled here can
// be merged by the linker into baseline code (`nm -C ssd_kernels_avx2.cpp.o | grep ' W '` lists nothing).
#include "cpu/ssd_impl.h"

namespace mamba {
namespace cpu {
void ssd_fwd_task_avx2(const SsdProblem& p, int64_t task, float* scratch) { ssd_fwd_impl(p, task, scratch); }
void ssd_bwd_task_avx2(const SsdProblem& p, int64_t task, float* scratch) { ssd_bwd_impl(p, task, scratch); }
void ssd_step_head_avx2(float* st, int64_t P, int64_t N, float decay, float dt, const float* x, const float* Bv,
                        const float* Cv, float Dh, float* y) {
  ssd_step_head_impl(st, P, N, decay, dt, x, Bv, Cv, Dh, y);
}
}  // namespace cpu
}  // namespace mamba
