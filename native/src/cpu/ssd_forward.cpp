// mamba_ssd_fwd_cpu: validation, kernel choice and one task per (batch, head); no task shares an output, so the
// result does not depend on the thread count.
#include <algorithm>
#include <new>
#include <vector>
#include "common/errors.h"
#include "common/ssd_validate.h"
#include "cpu/cpu_features.h"
#include "cpu/ssd_problem.h"
#include "cpu/ssd_scratch.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

namespace mamba {
namespace cpu {
// Sizes every SSD call derives from its arguments (validated).
void ssd_setup(SsdProblem& p, const mamba_ssd_args* a) {
  p.a = a;
  p.Q = std::min({a->chunk, a->length, kSsdCpuMaxChunk});
  p.chunks = (a->length + p.Q - 1) / p.Q;
  p.Pp = ssd_pad(a->head_dim);
  p.Np = ssd_pad(a->state);
  p.Qp = ssd_pad(p.Q);
  p.heads_per_group = a->heads / a->groups;
}
}  // namespace cpu
}  // namespace mamba

MAMBA_API int32_t mamba_ssd_fwd_cpu(const mamba_ssd_args* args, const mamba_ssd_outputs* outputs) {
  mamba::clear_error();
  if (int rc = mamba::check_ssd_outputs("mamba_ssd_fwd_cpu", args, outputs)) return rc;
  SsdProblem p{};
  ssd_setup(p, args);
  p.out = outputs;
  auto kernel = use_avx2() ? ssd_fwd_task_avx2 : ssd_fwd_task_generic;
  try {
    const int64_t scratch = ssd_fwd_scratch(p);
    const double work = double(args->batch) * args->length * args->heads * args->head_dim * (2.0 * args->state + p.Q);
    SsdScratch buffers(scratch, args->batch * args->heads);
    parallel_for(args->batch * args->heads, [&](int64_t task) {
      float* ws = buffers.acquire();
      kernel(p, task, ws);
      buffers.release(ws);  // kernels throw nothing
    }, work);
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_ssd_fwd_cpu: out of memory");
  }
  return MAMBA_OK;
}
