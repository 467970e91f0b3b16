// Kernel-side view of a selective-scan call: plain pointers and strides, passed by value to the kernels.
#pragma once
#include <stdint.h>
#include <algorithm>

namespace mamba::cuda {

struct ScanParams {
  int batch, dim, length, state, groups, dim_per_group;
  bool softplus;
  const void* u;      int64_t u_s[3];
  const void* delta;  int64_t delta_s[3];
  const float* A;     int64_t A_s[2];
  const void* B;      int64_t B_s[4];
  const void* C;      int64_t C_s[4];
  const float* D;
  const void* z;      int64_t z_s[3];
  const float* delta_bias;
  const float* initial_state;
  // Forward outputs.
  void* out;          int64_t out_s[3];
  float* final_state;
  // Backward inputs and outputs.
  const void* dout;   int64_t dout_s[3];
  const float* dfinal_state;
  void* du;           int64_t du_s[3];
  void* ddelta;       int64_t ddelta_s[3];
  void* dz;           int64_t dz_s[3];
  float* dinitial_state;
  float* dA;          // (dim, state)
  void* dB;           int64_t dB_s[4];
  void* dC;           int64_t dC_s[4];
  float* dD;
  float* ddelta_bias;
  // Scratch for backward (fp32, owned by the entry point). Checkpoints: states before every
  // backward chunk, (batch, dim, n_ckpt, n_pad). Partials are reduced later in fixed order.
  float* ckpt;        int n_ckpt;
  bool ckpt_given;    // backward: ckpt was written by the forward (outputs->checkpoints), skip the pass
  float* part_dA;     // (n_seg, batch, dim, n_pad)
  float* part_dD;     // (n_seg, batch, dim)
  float* part_dbias;  // (n_seg, batch, dim)
  float* part_dB;     // (channel blocks, batch, groups, length, state)
  float* part_dC;     // same
  // Time segments, for long sequences with few channel blocks: each channel block becomes n_seg
  // blocks of seg_len steps (a multiple of FWD_T). A first pass stores each segment's end state
  // scanned from zero (segment 0: from initial_state) and its sum of dt; a segment then starts from
  // the fold  h = exp2(A2 * sum dt) * h + end  over the segments before it.
  int n_seg, seg_len;
  float* seg_h;       // (batch, dim, n_seg, n_pad)
  float* seg_dt;      // (batch, dim, n_seg)
  float* seg_adj;     // (batch, dim, n_seg, n_pad): backward, see scan_adj_seg_kernel
};

// Work split for one state size: each channel's state vector is spread over TPC lanes holding NPT
// states each, so small N still gives enough threads and large N still fits in registers.
template <int NPT_, int TPC_>
struct ScanCfg {
  static constexpr int NPT = NPT_;
  static constexpr int TPC = TPC_;
  static constexpr int THREADS = 128;
  static constexpr int CH = THREADS / TPC;  // channels per block
  static constexpr int NPAD = NPT * TPC;    // state size the block works with (>= N)
  // Backward keeps a chunk of decayed states in registers: NPT * BWD_T floats per thread. 8 steps keep the
  // backward under 128 registers at N = 16 (16 steps spilled there and needed 168 registers to avoid it).
  static constexpr int BWD_T = 8;
  // Forward chunk: 32 steps (its prefetch registers stay near 32 per thread for N = 16), 16 when
  // the tiles get large. A multiple of BWD_T, so checkpoints fall on chunk-relative steps.
  static constexpr int FWD_T = (NPAD >= 128 || CH >= 128) ? 16 : 32;
};

// Calls f(Cfg{}) with the configuration for state size n (1..256).
template <typename F>
inline void with_scan_cfg(int n, F&& f) {
  if (n <= 4) f(ScanCfg<4, 1>{});
  else if (n <= 8) f(ScanCfg<4, 2>{});
  else if (n <= 16) f(ScanCfg<4, 4>{});
  else if (n <= 32) f(ScanCfg<4, 8>{});
  else if (n <= 64) f(ScanCfg<4, 16>{});
  else if (n <= 128) f(ScanCfg<4, 32>{});
  else f(ScanCfg<8, 32>{});
}

// Host-side geometry of the configuration for state size n, to size backward scratch.
struct ScanGeometry { int npad, ch, bwd_t, fwd_t; };
inline ScanGeometry scan_geometry(int n) {
  ScanGeometry g{};
  with_scan_cfg(n, [&](auto cfg) {
    using Cfg = decltype(cfg);
    g = ScanGeometry{Cfg::NPAD, Cfg::CH, Cfg::BWD_T, Cfg::FWD_T};
  });
  return g;
}

// Sets n_seg and seg_len. Segments only when the channel blocks fill at most one block per SM
// (132 on an H200): then about 4 blocks per SM, each segment at least 4 forward chunks long.
inline void plan_segments(ScanParams& p) {
  const ScanGeometry geo = scan_geometry(p.state);
  const int64_t blocks = (int64_t)((p.dim_per_group + geo.ch - 1) / geo.ch) * p.groups * p.batch;
  const int want = blocks <= 132 ? (int)std::min<int64_t>(528 / blocks, 64) : 1;
  int len = (p.length + want - 1) / want;
  len = std::max(4 * geo.fwd_t, (len + geo.fwd_t - 1) / geo.fwd_t * geo.fwd_t);
  p.seg_len = len;
  p.n_seg = (p.length + len - 1) / len;
}

// Checkpoints per (batch, channel): the state before every backward chunk.
inline int checkpoint_count(const ScanParams& p) {
  const int bwd_t = scan_geometry(p.state).bwd_t;
  return (p.length + bwd_t - 1) / bwd_t;
}

// Checkpoints the forward can hand to the backward: only without time segments, whose backward needs the
// segment pass anyway. (batch, dim, n_ckpt, n_pad) floats, or 0.
inline int64_t forward_checkpoint_floats(const ScanParams& p) {
  if (p.n_seg != 1) return 0;
  return (int64_t)p.batch * p.dim * checkpoint_count(p) * scan_geometry(p.state).npad;
}

}  // namespace mamba::cuda
