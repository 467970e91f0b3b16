// The scan kernels instantiated for AVX2+FMA. This file alone is compiled with -mavx2 -mfma
// (see CMakeLists.txt); cpu_features.h only selects it when the CPU reports both features.
// Where those flags are unavailable (non-x86 builds) it falls back to the portable vector.
// Hazard of per-file -m flags: an inline/template function with external linkage instantiated
// here could be merged by the linker with the baseline copy of another file and then run on a
// CPU without AVX2. Everything in the kernel headers therefore has internal linkage; checked with
// `nm -C scan_kernels_avx2.cpp.o | grep ' W '`, which lists nothing (std helpers all inline).
#include "cpu/scan_bwd_impl.h"
#if defined(__AVX2__) && defined(__FMA__)
#include "cpu/vec_avx2.h"
#else
#include "cpu/vec_generic.h"
#endif

namespace mamba {
namespace cpu {
namespace {
#if defined(__AVX2__) && defined(__FMA__)
using Vec = VecAvx2;
#else
using Vec = VecGeneric<float>;
#endif
}  // namespace

void scan_fwd_task_avx2(const ScanProblem& p, int64_t task) { scan_fwd_block<Vec>(p, task); }
void scan_bwd_task_avx2(const ScanProblem& p, const ScanPartials<float>& part, int64_t task) {
  scan_bwd_task<Vec>(p, part, task);
}
}  // namespace cpu
}  // namespace mamba
