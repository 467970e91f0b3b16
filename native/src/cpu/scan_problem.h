// The selective-scan call after validation: arguments, outputs/gradients and the work partition,
// plus the per-ISA kernel entry points (scan_kernels_avx2.cpp, scan_kernels_generic.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include "mamba_native.h"

namespace mamba {
namespace cpu {

constexpr int kLanes = 8;          // channels per vector block (both ISAs)
constexpr int kFwdChunk = 32;      // time steps per tile in the forward pass
// Backward recomputes states per chunk and keeps chunk x state x 8 of them: keep that tile ~L2-sized.
inline int bwd_chunk(int64_t state) { return (int)std::clamp<int64_t>(2048 / state, 8, 64); }

struct ScanProblem {
  const mamba_scan_args* a;
  const mamba_scan_outputs* out;   // forward only
  const mamba_scan_grads* gr;      // backward only
  int64_t dim_per_group;           // channels of one B/C group
  int64_t blocks_per_group;        // ceil(dim_per_group / kLanes): a block never straddles groups
  int64_t splits;                  // backward: tasks per (batch, group), fixed by shape only
};

// Backward partial sums, in the compute type T; summed in a fixed order by scan_backward.cpp.
template <class T>
struct ScanPartials {
  T* dBC;      // [task][length][state][2]: dB then dC per (t, n), zero-initialised
  T* dA;       // [batch][dim][state]
  T* dD;       // [batch][dim]
  T* dbias;    // [batch][dim]
};

// Forward: task = ((b * groups) + g) * blocks_per_group + block.
// Backward: task = ((b * groups) + g) * splits + split; each covers a contiguous run of blocks.
void scan_fwd_task_avx2(const ScanProblem& p, int64_t task);
void scan_fwd_task_generic(const ScanProblem& p, int64_t task);
void scan_fwd_task_generic_f64(const ScanProblem& p, int64_t task);
void scan_bwd_task_avx2(const ScanProblem& p, const ScanPartials<float>& part, int64_t task);
void scan_bwd_task_generic(const ScanProblem& p, const ScanPartials<float>& part, int64_t task);
void scan_bwd_task_generic_f64(const ScanProblem& p, const ScanPartials<double>& part, int64_t task);

}  // namespace cpu
}  // namespace mamba
