// mamba_scan_bwd_cpu: runs the backward tasks into partial sums, then reduces them in a fixed
// order (split by split, batch by batch). The split count depends only on the shape and the
// machine, never on the thread count or timing, so results are bitwise reproducible: the
// `deterministic` flag needs no special path on CPU.
#include <algorithm>
#include <new>
#include <thread>
#include <vector>
#include "common/abi_validate.h"
#include "common/errors.h"
#include "cpu/cpu_features.h"
#include "cpu/dtype_convert.h"
#include "cpu/scan_problem.h"
#include "cpu/scan_validate.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

namespace {

// Enough tasks to keep every core busy even for batch 1, groups 1; but every split adds a
// dB/dC partial tile (length x state x 2) per (batch, group), so long sequences get fewer.
int64_t choose_splits(const mamba_scan_args& a, int64_t blocks_per_group, size_t elem) {
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t target = std::max<int64_t>(16, 2 * hw);
  const int64_t rows = std::max<int64_t>(1, a.batch * a.groups);
  const int64_t tile_bytes = std::max<int64_t>(1, rows * a.length * a.state * 2 * int64_t(elem));
  const int64_t by_memory = std::max<int64_t>(1, (int64_t(256) << 20) / tile_bytes);  // ~256 MiB of partials
  return std::clamp<int64_t>(std::min((target + rows - 1) / rows, by_memory), 1, blocks_per_group);
}

template <class T>
void run_backward(const ScanProblem& p, void (*kernel)(const ScanProblem&, const ScanPartials<T>&, int64_t)) {
  const mamba_scan_args& a = *p.a;
  const mamba_scan_grads& gr = *p.gr;
  const int64_t N = a.state, L = a.length, tasks = a.batch * a.groups * p.splits;
  std::vector<T> dBC(size_t(tasks * L * N * 2), T(0)), dA(size_t(a.batch * a.dim * N)), dD(size_t(a.batch * a.dim)),
      dbias(size_t(a.batch * a.dim));
  const ScanPartials<T> part{dBC.data(), dA.data(), dD.data(), dbias.data()};
  const double updates = 3.0 * a.batch * a.dim * L * N;  // backward costs about three forwards
  parallel_for(tasks, [&](int64_t task) { kernel(p, part, task); }, updates);

  // dB, dC (batch, groups, state, length): add the splits of each (b, g) in order.
  if (gr.dB || gr.dC) {
    parallel_for(a.batch * a.groups, [&](int64_t bg) {
      const int64_t b = bg / a.groups, g = bg % a.groups;
      std::vector<T> sumB(size_t(L * N), T(0)), sumC(size_t(L * N), T(0));
      for (int64_t s = 0; s < p.splits; ++s) {
        const T* src = &dBC[size_t((bg * p.splits + s) * L * N * 2)];
        for (int64_t i = 0; i < L * N; ++i) {
          sumB[i] += src[2 * i];
          sumC[i] += src[2 * i + 1];
        }
      }
      if (gr.dB)
        scatter2d<T>(gr.dB, a.bc_dtype, b * gr.dB_stride[0] + g * gr.dB_stride[1], gr.dB_stride[3], gr.dB_stride[2],
                     (int)L, (int)N, (int)N, sumB.data());
      if (gr.dC)
        scatter2d<T>(gr.dC, a.bc_dtype, b * gr.dC_stride[0] + g * gr.dC_stride[1], gr.dC_stride[3], gr.dC_stride[2],
                     (int)L, (int)N, (int)N, sumC.data());
    }, double(tasks) * L * N);
  }
  // Parameter gradients: sums over the batch, in batch order.
  auto reduce_batch = [&](const std::vector<T>& src, int64_t per_batch, float* dst) {
    if (!dst) return;
    for (int64_t i = 0; i < per_batch; ++i) {
      T s = T(0);
      for (int64_t b = 0; b < a.batch; ++b) s += src[size_t(b * per_batch + i)];
      dst[i] = float(s);
    }
  };
  reduce_batch(dA, a.dim * N, gr.dA);
  reduce_batch(dD, a.dim, gr.dD);
  reduce_batch(dbias, a.dim, gr.ddelta_bias);
}

}  // namespace

MAMBA_API int32_t mamba_scan_bwd_cpu(const mamba_scan_args* args, const mamba_scan_grads* grads) {
  mamba::clear_error();
  if (int rc = validate_scan(args)) return rc;
  if (!grads) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "grads is NULL");
  if (!grads->dout) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "grads->dout is NULL");
  if (int rc = mamba::check_scan_layout("selective scan backward (cpu)", args)) return rc;
  if (int rc = mamba::check_scan_grads_layout("selective scan backward (cpu)", args, grads)) return rc;

  ScanProblem p{};
  p.a = args;
  p.gr = grads;
  p.dim_per_group = args->dim / args->groups;
  p.blocks_per_group = (p.dim_per_group + kLanes - 1) / kLanes;
  p.splits = choose_splits(*args, p.blocks_per_group, args->dtype == MAMBA_F64 ? sizeof(double) : sizeof(float));
  try {
    if (args->dtype == MAMBA_F64)
      run_backward<double>(p, scan_bwd_task_generic_f64);
    else
      run_backward<float>(p, use_avx2() ? scan_bwd_task_avx2 : scan_bwd_task_generic);
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_scan_bwd_cpu: out of memory");
  }
  return MAMBA_OK;
}
