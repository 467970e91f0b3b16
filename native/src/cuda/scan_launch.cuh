// Definitions of the launchers declared in scan_launch.h.
#pragma once
#include <algorithm>
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
// pass when time is split.
template <typename T, typename BT, typename Cfg, int MODE>
void launch_fwd_pass(const ScanParams& p, cudaStream_t stream) {
  if (p.n_seg > 1)
    scan_fwd_kernel<T, BT, Cfg, kFwdSegEnd><<<scan_grid<Cfg>(p, p.n_seg - 1), Cfg::THREADS, 0, stream>>>(p);
  scan_fwd_kernel<T, BT, Cfg, MODE><<<scan_grid<Cfg>(p, p.n_seg), Cfg::THREADS, 0, stream>>>(p);
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
