// Definitions of the launchers declared in scan_launch.h.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include "check.cuh"
#include "scan_adj_seg_kernel.cuh"
#include "scan_bwd_kernel.cuh"
#include "scan_launch.h"
#include "scan_reduce.cuh"

namespace mamba::cuda {

// segs time segments per channel block.
template <typename Cfg>
dim3 scan_grid(const ScanParams& p, int segs) {
  return dim3((p.dim_per_group + Cfg::CH - 1) / Cfg::CH * segs, p.groups, p.batch);
}

// Forward-direction pass in mode MODE (kFwdOut or kFwdCkpt), preceded by the segment end-state
// pass when time is split. VEC: 16-byte vector tiles (scan_fwd_kernel), only where vec_tiles_ok.
template <typename T, typename BT, typename Cfg, int MODE, bool VEC = false>
void launch_fwd_pass(const ScanParams& p, cudaStream_t stream) {
  if (p.n_seg > 1)
    scan_fwd_kernel<T, BT, Cfg, kFwdSegEnd, VEC><<<scan_grid<Cfg>(p, p.n_seg - 1), Cfg::THREADS, 0, stream>>>(p);
  scan_fwd_kernel<T, BT, Cfg, MODE, VEC><<<scan_grid<Cfg>(p, p.n_seg), Cfg::THREADS, 0, stream>>>(p);
}

// Whether a 2-byte (batch, dim, length) tensor's tiles can move as 16-byte vectors (VecTileRegs): the pointer
// 16-byte aligned, and every vector's first element 8-element aligned, i.e. the batch stride and the stride of the
// non-unit axis multiples of 8 and, along channels, block starts (d0) too: dim per group a multiple of 8, and at
// least 8 channels per block. Chunk starts (t0) are multiples of the forward chunk, itself a multiple of 8.
template <typename Cfg>
bool vec_tile_ok(const ScanParams& p, const void* x, const int64_t* s) {
  static_assert(Cfg::FWD_T % kVec == 0, "forward chunks must hold whole vectors");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || (p.batch > 1 && s[0] % kVec != 0)) return false;
  if (s[2] == 1) return s[1] % kVec == 0;  // along time (the kernel's walk when the time stride is 1)
  return s[1] == 1 && s[2] % kVec == 0 && Cfg::CH % kVec == 0 && p.dim_per_group % kVec == 0;
}
template <typename Cfg>
bool vec_tiles_ok(const ScanParams& p) {
  return vec_tile_ok<Cfg>(p, p.u, p.u_s) && vec_tile_ok<Cfg>(p, p.delta, p.delta_s) &&
         (!p.z || vec_tile_ok<Cfg>(p, p.z, p.z_s)) && vec_tile_ok<Cfg>(p, p.out, p.out_s);
}

// MAMBA_SCAN_FWD_VEC=0 turns the vector tiles off, so a benchmark can time the element-load forward in the same
// run; read once.
inline bool fwd_vec_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("MAMBA_SCAN_FWD_VEC");
    return !(v && v[0] == '0');
  }();
  return on;
}

// Streaming multiprocessors of the current device (132 on an H200); an attribute read, cheap per call.
inline int sm_count() {
  int device = 0, count = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || count < 1) {
    (void)cudaGetLastError();
    return 132;
  }
  return count;
}

inline unsigned reduce_blocks(int64_t n) { return (unsigned)std::min<int64_t>((n + 255) / 256, 132 * 16); }

template <typename T, typename BT>
int launch_scan_fwd(const ScanParams& p, cudaStream_t stream) {
  with_scan_cfg(p.state, [&](auto cfg) {
    using Cfg = decltype(cfg);
    // Vector tiles up to 32 states (Mamba's 16 included); above, their kernels spilled more than the element-load
    // ones at the 128-register cap (ptxas, sm_90), so those sizes keep element loads.
    if constexpr (sizeof(T) == 2 && Cfg::NPAD <= 32) {
      if (fwd_vec_enabled() && vec_tiles_ok<Cfg>(p)) {
        launch_fwd_pass<T, BT, Cfg, kFwdOut, true>(p, stream);
        return;
      }
    }
    launch_fwd_pass<T, BT, Cfg, kFwdOut>(p, stream);
  });
  MAMBA_CUDA_LAUNCHED("selective scan forward kernel");
  return MAMBA_OK;
}

template <typename T, typename BT>
int launch_scan_bwd(const ScanParams& p, cudaStream_t stream) {
  cudaError_t err = cudaSuccess;
  int nblk = 0;
  with_scan_cfg(p.state, [&](auto cfg) {
    using Cfg = decltype(cfg);
    nblk = (int)scan_grid<Cfg>(p, 1).x;
    const dim3 grid = scan_grid<Cfg>(p, p.n_seg);
    if (!p.ckpt_given) launch_fwd_pass<T, BT, Cfg, kFwdCkpt>(p, stream);  // also seg_dt, used by the folds below
    if (p.n_seg > 1)
      scan_adj_seg_kernel<T, BT, Cfg><<<scan_grid<Cfg>(p, p.n_seg - 1), Cfg::THREADS, 0, stream>>>(p);
    constexpr int smem = BwdSmem<Cfg>::BYTES;
    // Fewer, unspilled blocks per SM when the whole grid still runs in one wave of them (H200, (8,1536,1024,16):
    // backward 1.14 -> 0.94 ms); the 4-per-SM variant when more blocks than that would queue behind each other.
    const int64_t blocks = (int64_t)grid.x * grid.y * grid.z;
    if (blocks <= 3 * (int64_t)sm_count()) {
      err = cudaFuncSetAttribute(scan_bwd_kernel<T, BT, Cfg, 3>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      if (err == cudaSuccess) scan_bwd_kernel<T, BT, Cfg, 3><<<grid, Cfg::THREADS, smem, stream>>>(p);
    } else {
      err = cudaFuncSetAttribute(scan_bwd_kernel<T, BT, Cfg, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      if (err == cudaSuccess) scan_bwd_kernel<T, BT, Cfg, 4><<<grid, Cfg::THREADS, smem, stream>>>(p);
    }
  });
  MAMBA_CUDA_TRY(err, "selective scan backward: shared memory attribute");
  MAMBA_CUDA_LAUNCHED("selective scan backward kernels");

  const int64_t bc_total = (int64_t)p.batch * p.groups * p.state * p.length;
  if (p.dB) {
    reduce_bc_kernel<BT><<<reduce_blocks(bc_total), 256, 0, stream>>>(p.part_dB, nblk, p, static_cast<BT*>(p.dB),
                                                                        p.dB_s[0], p.dB_s[1], p.dB_s[2], p.dB_s[3]);
  }
  if (p.dC) {
    reduce_bc_kernel<BT><<<reduce_blocks(bc_total), 256, 0, stream>>>(p.part_dC, nblk, p, static_cast<BT*>(p.dC),
                                                                        p.dC_s[0], p.dC_s[1], p.dC_s[2], p.dC_s[3]);
  }
  const int npad = scan_geometry(p.state).npad;
  const int sb = p.n_seg * p.batch;  // per-(b, d) partials come per segment too
  if (p.dA) {
    reduce_batch_kernel<<<reduce_blocks((int64_t)p.dim * p.state), 256, 0, stream>>>(p.part_dA, sb, p.dim,
                                                                                     p.state, npad, p.dA);
  }
  if (p.dD) reduce_batch_kernel<<<reduce_blocks(p.dim), 256, 0, stream>>>(p.part_dD, sb, p.dim, 1, 1, p.dD);
  if (p.ddelta_bias) {
    reduce_batch_kernel<<<reduce_blocks(p.dim), 256, 0, stream>>>(p.part_dbias, sb, p.dim, 1, 1, p.ddelta_bias);
  }
  MAMBA_CUDA_LAUNCHED("selective scan backward reductions");
  return MAMBA_OK;
}

}  // namespace mamba::cuda

// One line per (T, BT) pair in the instantiating .cu files.
#define MAMBA_INSTANTIATE_SCAN_FWD(T, BT) template int mamba::cuda::launch_scan_fwd<T, BT>(const ScanParams&, cudaStream_t);
#define MAMBA_INSTANTIATE_SCAN_BWD(T, BT) template int mamba::cuda::launch_scan_bwd<T, BT>(const ScanParams&, cudaStream_t);
