// The Mamba-2 SSD call after validation: arguments, derived sizes, work partition and per-task scratch, plus
// the per-ISA kernel entry points (ssd_kernels_avx2.cpp, ssd_kernels_generic.cpp). Everything here has internal
// linkage or is a plain declaration: the header is included by a TU built with -mavx2 -mfma (see
// scan_kernels_avx2.cpp for why nothing inline may have external linkage).
#pragma once
#include <cstdint>
#include "mamba_native.h"

namespace mamba {
namespace cpu {

constexpr int kSsdLanes = 8;  // every padded row length (head_dim, state, chunk) is a multiple of this

// The chunk is a hint (mamba_native.h). On the CPU the intra-chunk work grows with the chunk while the state work
// does not, and 16..32 steps measured fastest (forward flat from 8 to 32, backward best at 16..32, both slower from
// 64 on, 2-2.4x at 256: bench_ssd_cpu in CPU time, head_dim 64, state 16..128); longer hints are cut to this.
constexpr int64_t kSsdCpuMaxChunk = 32;

static inline int64_t ssd_pad(int64_t n) { return (n + kSsdLanes - 1) / kSsdLanes * kSsdLanes; }

struct SsdProblem {
  const mamba_ssd_args* a;
  const mamba_ssd_outputs* out;  // forward only
  const mamba_ssd_grads* gr;     // backward only
  int64_t Q;                     // chunk length actually used: min(chunk, length, kSsdCpuMaxChunk)
  int64_t chunks;                // ceil(length / Q)
  int64_t Pp, Np, Qp;            // head_dim, state and Q padded to kSsdLanes
  int64_t heads_per_group;
  // Backward: each (batch, group) is split into `splits` runs of `heads_per_split` heads (fixed by the shape only,
  // so results never depend on the thread count). Task = (b * groups + g) * splits + split.
  int64_t splits, heads_per_split;
  // Backward partial sums, summed in a fixed order by ssd_backward.cpp:
  float* dBC;    // [task][length][2][Np]: dB then dC of one (t), zero-initialised
  float* heads;  // [batch][heads][3]: dA, dD, ddt_bias of one (b, h)
};

// Floats of scratch one task needs (the caller allocates it, so the AVX2 TU never touches std containers).
static inline int64_t ssd_fwd_scratch(const SsdProblem& p) {
  const int64_t Q = p.Q;
  return 3 * Q * p.Pp + 3 * Q * p.Np + p.Np * p.Qp + Q * p.Qp + p.Np * p.Pp + 6 * Q;
}
static inline int64_t ssd_bwd_scratch(const SsdProblem& p) {
  const int64_t Q = p.Q;
  return p.chunks * p.Np * p.Pp                   // chunk start states
         + 5 * Q * p.Pp + 6 * Q * p.Np           // X, U, DY, dU, Y; B, C, dB, dC, S0dy, dSu
         + 2 * p.Np * p.Qp + p.Pp * p.Qp          // BT, CeT (C·exp(cum) transposed), UT
         + 5 * Q * p.Qp                           // CB, DU, LD; LC and LD transposed
         + 3 * p.Np * p.Pp                        // S0 p-major, dS both layouts
         + 10 * Q;
}

// Fills Q, chunks, the padded sizes and heads_per_group from validated args (ssd_forward.cpp).
void ssd_setup(SsdProblem& p, const mamba_ssd_args* a);

// task = b * heads + h.
void ssd_fwd_task_avx2(const SsdProblem& p, int64_t task, float* scratch);
void ssd_fwd_task_generic(const SsdProblem& p, int64_t task, float* scratch);
void ssd_bwd_task_avx2(const SsdProblem& p, int64_t task, float* scratch);
void ssd_bwd_task_generic(const SsdProblem& p, int64_t task, float* scratch);
// The decode step's state update and readout of one (batch, head): st (P x N) in place, y (P) written (ssd_impl.h).
void ssd_step_head_avx2(float* st, int64_t P, int64_t N, float decay, float dt, const float* x, const float* Bv,
                        const float* Cv, float Dh, float* y);
void ssd_step_head_generic(float* st, int64_t P, int64_t N, float decay, float dt, const float* x, const float* Bv,
                           const float* Cv, float Dh, float* y);

}  // namespace cpu
}  // namespace mamba
