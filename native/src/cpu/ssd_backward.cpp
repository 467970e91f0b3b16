// mamba_ssd_bwd_cpu: validation, the work partition, and the fixed-order sums of the tasks' partials. A task is a
// run of heads of one (batch, group) (ssd_impl.h); dB and dC, shared by a group's heads, go to the task's own fp32
// tile, dA/dD/ddt_bias to per-(batch, head) slots, and the sums here run in task order. The partition depends on
// the shape only, so results are bitwise identical for any thread count (`deterministic` needs no special path).
#include <algorithm>
#include <new>
#include <vector>
#include "common/errors.h"
#include "common/ssd_validate.h"
#include "cpu/cpu_features.h"
#include "cpu/dtype_convert.h"
#include "cpu/ssd_problem.h"
#include "cpu/ssd_scratch.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

namespace {
// Bytes of dB/dC partials allowed before heads are grouped into fewer, longer tasks.
constexpr double kPartialBytes = 256.0 * 1024 * 1024;
// Tasks wanted: enough for a many-core machine; beyond that, splitting a group's heads only costs partial memory.
constexpr int64_t kTasksWanted = 64;
}  // namespace

MAMBA_API int32_t mamba_ssd_bwd_cpu(const mamba_ssd_args* args, const mamba_ssd_grads* grads) {
  mamba::clear_error();
  if (int rc = mamba::check_ssd_grads("mamba_ssd_bwd_cpu", args, grads)) return rc;
  SsdProblem p{};
  ssd_setup(p, args);
  p.gr = grads;
  const mamba_ssd_args& a = *args;
  const int64_t bg = a.batch * a.groups, L = a.length, N = a.state;
  // Splits of a group's heads: as many as make kTasksWanted tasks, at most one per head, within the memory cap.
  const double tile_bytes = double(L) * 2 * p.Np * sizeof(float);
  int64_t splits = std::min<int64_t>(p.heads_per_group, std::max<int64_t>(1, (kTasksWanted + bg - 1) / bg));
  splits = std::max<int64_t>(1, std::min<int64_t>(splits, int64_t(kPartialBytes / (tile_bytes * double(bg)))));
  p.heads_per_split = (p.heads_per_group + splits - 1) / splits;
  p.splits = (p.heads_per_group + p.heads_per_split - 1) / p.heads_per_split;
  auto kernel = use_avx2() ? ssd_bwd_task_avx2 : ssd_bwd_task_generic;
  try {
    std::vector<float> dBC(size_t(bg * p.splits) * size_t(L) * size_t(2 * p.Np), 0.f);
    std::vector<float> heads(size_t(a.batch * a.heads * 3), 0.f);
    p.dBC = dBC.data();
    p.heads = heads.data();
    const int64_t scratch = ssd_bwd_scratch(p);
    const double work = double(a.batch) * L * a.heads * a.head_dim * (5.0 * N + 2.0 * p.Q);
    SsdScratch buffers(scratch, bg * p.splits);
    parallel_for(bg * p.splits, [&](int64_t task) {
      float* ws = buffers.acquire();
      kernel(p, task, ws);
      buffers.release(ws);  // kernels throw nothing
    }, work);
    // dB, dC: per (batch, group), the splits in order.
    const mamba_ssd_grads& g = *grads;
    parallel_for(bg, [&](int64_t t) {
      const int64_t b = t / a.groups, grp = t % a.groups;
      const float* first = p.dBC + t * p.splits * L * 2 * p.Np;
      for (int64_t l = 0; l < L; ++l)
        for (int64_t n = 0; n < N; ++n) {
          float db = 0.f, dc = 0.f;
          for (int64_t s = 0; s < p.splits; ++s) {
            const float* row = first + (s * L + l) * 2 * p.Np;
            db += row[n];
            dc += row[p.Np + n];
          }
          store_elem<float>(g.dB, a.dtype, b * g.dB_stride[0] + l * g.dB_stride[1] + grp * g.dB_stride[2] + n * g.dB_stride[3], db);
          store_elem<float>(g.dC, a.dtype, b * g.dC_stride[0] + l * g.dC_stride[1] + grp * g.dC_stride[2] + n * g.dC_stride[3], dc);
        }
    }, double(bg) * L * N * p.splits);
    // dA, dD, ddt_bias: per head, the batch in order.
    for (int64_t h = 0; h < a.heads; ++h) {
      float sums[3] = {0.f, 0.f, 0.f};
      for (int64_t b = 0; b < a.batch; ++b)
        for (int k = 0; k < 3; ++k) sums[k] += heads[size_t((b * a.heads + h) * 3 + k)];
      g.dA[h] = sums[0];
      if (g.dD) g.dD[h] = sums[1];              // as if D (dt_bias) were 0 when it is NULL
      if (g.ddt_bias) g.ddt_bias[h] = sums[2];
    }
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_ssd_bwd_cpu: out of memory");
  }
  return MAMBA_OK;
}
