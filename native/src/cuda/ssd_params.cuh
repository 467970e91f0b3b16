// What the chunked SSD kernels receive: sizes, the caller's tensors with their strides, and the fp32 scratch
// of one call. Index conventions: bh = b * heads + h; chunk c covers steps 64 c .. 64 c + 63 (kQ); the
// padded length Lp = 64 * nc, where steps past `length` have dt = 0 and x = B = C = dy = 0, so they neither
// decay nor add to the state.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include "ssd_tile.cuh"

namespace mamba::cuda::ssd {

struct SsdParams {
  int batch, length, heads, head_dim, groups, state;
  int heads_per_group, nc;  // nc = ceil(length / kQ)
  bool softplus;
  float dt_min, dt_max;
  const void* x; int64_t x_s[4];
  const void* dt; int64_t dt_s[3];
  const float* A;
  const void* B; int64_t B_s[4];
  const void* C; int64_t C_s[4];
  const float* D;
  const float* dt_bias;
  const float* initial_state;
  // Forward outputs.
  void* y; int64_t y_s[4];
  float* final_state;
  // Backward inputs and outputs.
  const void* dy; int64_t dy_s[4];
  const float* dfinal_state;
  void* dx; int64_t dx_s[4];
  void* ddt; int64_t ddt_s[3];
  float* dA;
  void* dB; int64_t dB_s[4];
  void* dC; int64_t dC_s[4];
  float* dD;
  float* ddt_bias;
  float* dinitial_state;

  // Scratch (fp32 unless said otherwise).
  float* dtv;    // (batch, heads, Lp): dt after bias, softplus and clamp
  float* acum;   // (batch, heads, Lp): inclusive cumulative sum of dt * A within each chunk
  float* CB;     // (batch, nc, groups, 64, 64): C_q . B_s within each chunk, shared by the group's heads
  // The states, (batch, heads, nc + 1, head_dim, state) fp32 slots each. The chunk state kernel writes the local
  // state of chunk c into S slot c + 1 (and dS_loc of chunk c into dS slot c); the state passing reads them and
  // writes, in place, what the chunk scan and chunk gradients read: S slot c the state at the start of chunk c
  // (slot nc = final), dS slot c its gradient. In fp32, or with states16 in the 2-byte input dtype: row p of a
  // slot then fills the first half of the bytes of its fp32 row (row pitch 2 N elements), so that a block of
  // the state passing that owns whole rows overwrites only what it read itself (state_pass_kernel).
  float* S;
  float* dS;
  bool states16;
  // With the chain kernels (ssd_state_chain.cuh) nothing is passed in place, so 2-byte states are packed: slots
  // P N elements of St apart, rows N apart, half the bytes.
  bool packed;
  float* dAend;  // (batch, heads, nc, pass_split): partial sums of dS[c+1] . S[c+1] (backward)
  int pass_split;  // blocks per (b, h) in the state passing kernel
  int pass_rows;   // with states16: the whole state rows each of those blocks owns
  float* dBacc;  // (batch, Lp, groups, state) fp32 accumulators of dB and dC (backward)
  float* dCacc;
  float* part;   // (batch, nc, heads, 3): dA, dD and ddt_bias partial sums per chunk (backward)
  int head_splits;  // backward blocks per (b, c, g); > 1 accumulates dB and dC with atomics
  __host__ __device__ int64_t Lp() const { return (int64_t)nc * kQ; }
  __host__ __device__ int64_t PN() const { return (int64_t)head_dim * state; }
};

}  // namespace mamba::cuda::ssd
