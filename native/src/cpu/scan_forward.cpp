// mamba_scan_fwd_cpu: validation, kernel choice and one task per (batch, group, channel block).
#include <new>
#include "common/abi_validate.h"
#include "common/errors.h"
#include "cpu/cpu_features.h"
#include "cpu/scan_problem.h"
#include "cpu/scan_validate.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

MAMBA_API int32_t mamba_scan_fwd_cpu(const mamba_scan_args* args, const mamba_scan_outputs* outputs) {
  mamba::clear_error();
  if (int rc = validate_scan(args)) return rc;
  if (!outputs) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "outputs is NULL");
  if (!outputs->out) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "outputs->out is NULL");
  if (int rc = mamba::check_scan_layout("selective scan (cpu)", args)) return rc;
  if (int rc = mamba::check_scan_outputs_layout("selective scan (cpu)", args, outputs)) return rc;

  ScanProblem p{};
  p.a = args;
  p.out = outputs;
  p.dim_per_group = args->dim / args->groups;
  p.blocks_per_group = (p.dim_per_group + kLanes - 1) / kLanes;
  void (*kernel)(const ScanProblem&, int64_t) =
      args->dtype == MAMBA_F64 ? scan_fwd_task_generic_f64 : use_avx2() ? scan_fwd_task_avx2 : scan_fwd_task_generic;
  try {
    const double updates = double(args->batch) * args->dim * args->length * args->state;
    parallel_for(args->batch * args->groups * p.blocks_per_group, [&](int64_t task) { kernel(p, task); }, updates);
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_scan_fwd_cpu: out of memory");
  }
  return MAMBA_OK;
}
