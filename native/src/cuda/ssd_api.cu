// C entry points of the CUDA SSD (Mamba-2) scan: argument checks, scratch, dtype dispatch and launches of
// ssd_kernels.cuh (or of the first version, ssd_kernels_v1.cuh, with MAMBA_SSD_KERNELS=v1, read at every
// call). f16 and bf16 inputs use 16-bit operand tiles and mma m16n8k16 tensor cores with fp32 accumulation
// (operands computed in fp32 are rounded to the input dtype where mamba_ssm's Triton kernels round them);
// MAMBA_SSD_KERNELS=v2 keeps the second version's products for them instead: fp32 tiles on TF32 wmma. fp32
// inputs use fp32 FMA, or 3xTF32 tensor-core products (about fp32 accuracy) with the environment variable
// MAMBA_SSD_FP32=3xtf32 (read at every call, so one process can compare); v2 and the default agree for fp32.
//
// Dtypes of the states in scratch, following mamba_ssm (mamba_ssm/ops/triton/ssd_combined.py,
// _mamba_chunk_scan_combined_fwd / _bwd, and ssd_state_passing.py): its chunk state runs with
// states_in_fp32=True; its forward state passing writes the passed states with out_dtype = C.dtype; its backward
// recomputes them in fp32, takes dS_loc in fp32 (_chunk_scan_bwd_dstates, dtype=states.dtype), and its state
// passing backward writes dstates and a converted copy of the states with dstates_dtype = states_dtype =
// x.dtype, for the products of the next kernels. Here, for 2-byte inputs in v3 (the default):
//   fp32:        the chunk state kernel's S_loc and dS_loc (p.S, p.dS), the running sums of the state passing,
//                final_state, dinitial_state;
//   input dtype: the states the state passing writes for the chunk scan and chunk gradients: the state entering
//                each chunk (forward and backward) and its gradient (backward), written in place over the
//                fp32 local states (ssd_params.cuh), so the scratch keeps its size.
// One difference: mamba_ssm's state passing backward dots dS with its fp32 states for the gradient of each
// chunk's decay; ours reads back the stored (input dtype) states for it, 6 of 20 bytes per element and chunk
// less than keeping them in fp32 too. The products round S and dS to the input dtype as operands anyway (v3),
// so y, dx, dB, dC, dD and dinitial_state come out bitwise the same as with fp32 states; ddt, dA, ddt_bias differ
// by that one rounding in the decay's gradient. MAMBA_SSD_STATES=fp32 (read at every call) keeps every state in
// fp32; so do v1, v2, fp32 inputs, and states wider than one state passing block's elements (N > 256, or
// N > 1024 when N % 4 == 0: a block owns whole rows).
// In v3 the chunk states and their passing run as one chain kernel per direction (ssd_state_chain.cuh), which
// never stores the fp32 local states (so 2-byte states are packed, p.packed); MAMBA_SSD_PASS=separate (read at
// every call) runs chunk_state_kernel and state_pass_kernel instead, with bitwise the same states.
// With the chain kernels the forward can keep dt, acum, C.B and the states for its backward (the caller's
// checkpoints buffer, mamba_ssd_checkpoint_floats_cuda); the backward then skips the kernels that recompute them
// and gets bitwise the same gradients.
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include "check.cuh"
#include "common/ssd_validate.h"
#include "scratch.cuh"
#include "ssd_kernels.cuh"
#include "ssd_kernels_v1.cuh"
#include "ssd_state_chain.cuh"

namespace mamba::cuda::ssd {
namespace {

constexpr const char* kFwd = "ssd forward (cuda)";
constexpr const char* kBwd = "ssd backward (cuda)";

constexpr bool kFp32TensorCoresByDefault = false;

bool fp32_on_tensor_cores() {
  const char* v = std::getenv("MAMBA_SSD_FP32");
  if (v && std::strcmp(v, "simt") == 0) return false;
  if (v && std::strcmp(v, "3xtf32") == 0) return true;
  return kFp32TensorCoresByDefault;
}


void copy_n(int64_t* dst, const int64_t* src, int n) { std::memcpy(dst, src, n * sizeof(int64_t)); }

// Grids are flattened into blockIdx.x (at most 2^31 - 1 blocks).
int check_grid(const char* where, const mamba_ssd_args* a) {
  const int64_t nc = (a->length + kQ - 1) / kQ;
  if (a->batch * nc * a->heads > INT32_MAX)
    return fail(MAMBA_ERR_UNSUPPORTED, std::string(where) + ": batch * heads * ceil(length / 64) = " +
                                           std::to_string(a->batch * nc * a->heads) + " blocks exceed 2^31 - 1");
  const int64_t tiles = ((a->head_dim + kQ - 1) / kQ) * ((a->state + kQ - 1) / kQ);
  if (a->batch * a->heads * tiles > INT32_MAX)
    return fail(MAMBA_ERR_UNSUPPORTED, std::string(where) + ": batch * heads * 64x64 tiles of the state = " +
                                           std::to_string(a->batch * a->heads * tiles) + " blocks exceed 2^31 - 1");
  return MAMBA_OK;
}

// Elements per thread of the current state passing kernel: 4 (16-byte fp32 or 8-byte 2-byte accesses) when every
// group of 4 stays aligned: fp32 states, (batch, heads, nc + 1) slots of P N floats carved at multiples of 64
// floats, when P N % 4 == 0; 2-byte states, rows 2 N elements apart, when N % 4 == 0.
int pass_vec(const SsdParams& p) { return (p.states16 ? p.state : p.PN()) % 4 == 0 ? 4 : 1; }

SsdParams make_params(const mamba_ssd_args* a, bool v1, bool states16, bool chain) {
  SsdParams p{};
  p.batch = (int)a->batch; p.length = (int)a->length; p.heads = (int)a->heads; p.head_dim = (int)a->head_dim;
  p.groups = (int)a->groups; p.state = (int)a->state;
  p.heads_per_group = p.heads / p.groups;
  p.nc = (int)((a->length + kQ - 1) / kQ);
  p.softplus = a->dt_softplus != 0;
  p.dt_min = a->dt_min; p.dt_max = a->dt_max;
  p.x = a->x; copy_n(p.x_s, a->x_stride, 4);
  p.dt = a->dt; copy_n(p.dt_s, a->dt_stride, 3);
  p.A = a->A;
  p.B = a->B; copy_n(p.B_s, a->B_stride, 4);
  p.C = a->C; copy_n(p.C_s, a->C_stride, 4);
  p.D = a->D;
  p.dt_bias = a->dt_bias;
  p.initial_state = a->initial_state;
  p.states16 = states16;
  const int64_t per_block = (int64_t)kSsdThreads * (v1 ? 1 : pass_vec(p));
  p.pass_split = (int)((p.PN() + per_block - 1) / per_block);
  p.head_splits = 1;
  if (states16) {  // blocks of whole rows (states_in_input_dtype checked that one fits)
    p.pass_rows = (int)((int64_t)kSsdThreads * pass_vec(p) / p.state);
    p.pass_split = (p.head_dim + p.pass_rows - 1) / p.pass_rows;
  }
  if (chain) p.pass_split = (int)state_tiles(p);  // dAend's columns: one per state tile (ssd_state_chain.cuh)
  p.packed = chain && states16;
  return p;
}

// Floats of the (batch, heads, nc + 1) slots of P N states: fp32, or 2-byte ones in fp32-sized slots (stored in
// place by the state passing, ssd_params.cuh) or packed.
size_t state_floats(const SsdParams& p) {
  const size_t elements = (size_t)p.batch * p.heads * (p.nc + 1) * (size_t)p.PN();
  return p.packed ? (elements + 1) / 2 : elements;
}

// What the forward computes and the backward needs again: dt, acum, C.B and the states entering each chunk.
// Carved from the call's scratch, or from the caller's checkpoints buffer when the forward keeps them.
void carve_kept(SsdParams& p, Scratch& s) {
  const size_t bh = (size_t)p.batch * p.heads, Lp = (size_t)p.Lp();
  p.dtv = s.take(bh * Lp);
  p.acum = s.take(bh * Lp);
  p.CB = s.take((size_t)p.batch * p.nc * p.groups * kQ * kQ);
  p.S = s.take(state_floats(p));
}

// Scratch of one call: what carve_kept carves unless `kept` (it is in the checkpoints), and the backward's
// gradient buffers.
void carve(SsdParams& p, Scratch& s, bool backward, bool kept) {
  const size_t bh = (size_t)p.batch * p.heads, Lp = (size_t)p.Lp();
  if (!kept) carve_kept(p, s);
  if (!backward) return;
  p.dS = s.take(state_floats(p));
  p.dAend = s.take(bh * p.nc * p.pass_split);
  const size_t bc = (size_t)p.batch * Lp * p.groups * p.state;
  p.dBacc = s.take(bc);
  p.dCacc = s.take(bc);
  p.part = s.take((size_t)p.batch * p.nc * p.heads * 3);
}

template <typename Kernel>
int allow_smem(Kernel kernel, int bytes, const char* where) {
  MAMBA_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), where);
  return MAMBA_OK;
}

// Dynamic shared memory of each tile kernel (ssd_kernels.cuh: fp32 output tiles, then operand tiles).
template <typename Acc> constexpr int kStateSmem = tiles_smem<Acc>(kStateTiles[0], kStateTiles[1]);
template <typename Acc> constexpr int kCbSmem = tiles_smem<Acc>(kCbTiles[0], kCbTiles[1]);
template <typename Acc> constexpr int kScanSmem = tiles_smem<Acc>(kScanTiles[0], kScanTiles[1]);
template <typename Acc> constexpr int kBwdSmem = tiles_smem<Acc>(kBwdTiles[0], kBwdTiles[1]);

// The states of one call: chunk_state_kernel then state_pass_kernel, or the chain kernels that fuse them
// (ssd_state_chain.cuh). Backward: S recomputed (dt and acum too) unless the forward kept them, then dS passed in
// reverse with dAend. A forward that keeps them writes every slot, as the backward's recomputation does.
template <typename T, typename Acc, typename St>
int launch_states(const SsdParams& p, bool chain, bool backward, bool kept, cudaStream_t st) {
  const char* where = backward ? kBwd : kFwd;
  if (chain) {
    const unsigned blocks = (unsigned)((int64_t)p.batch * p.heads * state_tiles(p));
    if (!(backward && kept)) {
      if (int rc = allow_smem(state_chain_fwd_kernel<T, Acc, St>, kChainSmem<Acc>, where)) return rc;
      state_chain_fwd_kernel<T, Acc, St><<<blocks, kSsdThreads, kChainSmem<Acc>, st>>>(p, backward || kept);
      MAMBA_CUDA_LAUNCHED(backward ? "ssd backward: state chain" : "ssd forward: state chain");
    }
    if (!backward) return MAMBA_OK;
    if (int rc = allow_smem(state_chain_bwd_kernel<T, Acc, St>, kChainSmem<Acc>, where)) return rc;
    state_chain_bwd_kernel<T, Acc, St><<<blocks, kSsdThreads, kChainSmem<Acc>, st>>>(p);
    MAMBA_CUDA_LAUNCHED("ssd backward: gradient chain");
    return MAMBA_OK;
  }
  const int64_t blocks = (int64_t)p.batch * p.nc * p.heads;
  if (int rc = allow_smem(chunk_state_kernel<T, Acc>, kStateSmem<Acc>, where)) return rc;
  chunk_state_kernel<T, Acc><<<(unsigned)blocks, kSsdThreads, kStateSmem<Acc>, st>>>(p, backward);
  MAMBA_CUDA_LAUNCHED(backward ? "ssd backward: chunk state" : "ssd forward: chunk state");
  const unsigned pass_blocks = (unsigned)((int64_t)p.batch * p.heads * p.pass_split);
  if (pass_vec(p) == 4)
    state_pass_kernel<4, St><<<pass_blocks, kSsdThreads, 0, st>>>(p, backward);
  else
    state_pass_kernel<1, St><<<pass_blocks, kSsdThreads, 0, st>>>(p, backward);
  MAMBA_CUDA_LAUNCHED(backward ? "ssd backward: state passing" : "ssd forward: state passing");
  return MAMBA_OK;
}

// St: the type of the states the state passing stores: float, or T with p.states16.
template <typename T, typename Acc, typename St>
int launch_fwd(const SsdParams& p, bool chain, bool kept, cudaStream_t st) {
  const int64_t blocks = (int64_t)p.batch * p.nc * p.heads;
  if (int rc = allow_smem(chunk_scan_kernel<T, Acc, St>, kScanSmem<Acc>, kFwd)) return rc;
  if (int rc = allow_smem(chunk_cb_kernel<T, Acc>, kCbSmem<Acc>, kFwd)) return rc;
  if (int rc = launch_states<T, Acc, St>(p, chain, false, kept, st)) return rc;
  chunk_cb_kernel<T, Acc><<<(unsigned)((int64_t)p.batch * p.nc * p.groups), kSsdThreads, kCbSmem<Acc>, st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd forward: C.B");
  chunk_scan_kernel<T, Acc, St><<<(unsigned)blocks, kSsdThreads, kScanSmem<Acc>, st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd forward: chunk scan");
  return MAMBA_OK;
}

template <typename T, typename Acc, typename St>
int launch_bwd(const SsdParams& p, bool chain, bool kept, cudaStream_t st) {
  if (int rc = allow_smem(chunk_bwd_kernel<T, Acc, St>, kBwdSmem<Acc>, kBwd)) return rc;
  if (!kept) {
    if (int rc = allow_smem(chunk_cb_kernel<T, Acc>, kCbSmem<Acc>, kBwd)) return rc;
    chunk_cb_kernel<T, Acc><<<(unsigned)((int64_t)p.batch * p.nc * p.groups), kSsdThreads, kCbSmem<Acc>, st>>>(p);
    MAMBA_CUDA_LAUNCHED("ssd backward: C.B");
  }
  if (int rc = launch_states<T, Acc, St>(p, chain, true, kept, st)) return rc;
  if (p.head_splits > 1) {
    const size_t bytes = (size_t)p.batch * p.Lp() * p.groups * p.state * sizeof(float);
    MAMBA_CUDA_TRY(cudaMemsetAsync(p.dBacc, 0, bytes, st), "ssd backward: clearing dB");
    MAMBA_CUDA_TRY(cudaMemsetAsync(p.dCacc, 0, bytes, st), "ssd backward: clearing dC");
  }
  const int64_t bwd_blocks = (int64_t)p.batch * p.nc * p.groups * p.head_splits;
  chunk_bwd_kernel<T, Acc, St><<<(unsigned)bwd_blocks, kSsdThreads, kBwdSmem<Acc>, st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd backward: chunk gradients");
  param_grads_kernel<<<p.heads, kSsdThreads, 0, st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd backward: dA, dD, ddt_bias");
  const int64_t n = (int64_t)p.batch * p.length * p.groups * p.state;
  const int64_t grid = (n + kSsdThreads - 1) / kSsdThreads;
  bc_grads_kernel<T><<<(unsigned)(grid < 65536 ? grid : 65536), kSsdThreads, 0, st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd backward: dB, dC");
  return MAMBA_OK;
}

// The first version's launches (ssd_kernels_v1.cuh), unchanged.
constexpr int v1_tiles_bytes(int n) { return n * v1::kTileFloats * (int)sizeof(float); }

template <typename T, typename Acc>
int launch_fwd_v1(const SsdParams& p, cudaStream_t st) {
  const int64_t blocks = (int64_t)p.batch * p.nc * p.heads;
  if (int rc = allow_smem(v1::chunk_state_kernel<T, Acc>, v1_tiles_bytes(3), kFwd)) return rc;
  if (int rc = allow_smem(v1::chunk_scan_kernel<T, Acc>, v1_tiles_bytes(4), kFwd)) return rc;
  if (int rc = allow_smem(v1::chunk_cb_kernel<T, Acc>, v1_tiles_bytes(3), kFwd)) return rc;
  v1::chunk_state_kernel<T, Acc><<<(unsigned)blocks, kSsdThreads, v1_tiles_bytes(3), st>>>(p, false);
  MAMBA_CUDA_LAUNCHED("ssd forward: chunk state");
  v1::chunk_cb_kernel<T, Acc><<<(unsigned)((int64_t)p.batch * p.nc * p.groups), kSsdThreads, v1_tiles_bytes(3), st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd forward: C.B");
  v1::state_pass_kernel<<<(unsigned)((int64_t)p.batch * p.heads * p.pass_split), kSsdThreads, 0, st>>>(p, false);
  MAMBA_CUDA_LAUNCHED("ssd forward: state passing");
  v1::chunk_scan_kernel<T, Acc><<<(unsigned)blocks, kSsdThreads, v1_tiles_bytes(4), st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd forward: chunk scan");
  return MAMBA_OK;
}

template <typename T, typename Acc>
int launch_bwd_v1(const SsdParams& p, cudaStream_t st) {
  const int64_t blocks = (int64_t)p.batch * p.nc * p.heads;
  if (int rc = allow_smem(v1::chunk_state_kernel<T, Acc>, v1_tiles_bytes(3), kBwd)) return rc;
  if (int rc = allow_smem(v1::chunk_bwd_kernel<T, Acc>, v1_tiles_bytes(6), kBwd)) return rc;
  if (int rc = allow_smem(v1::chunk_cb_kernel<T, Acc>, v1_tiles_bytes(3), kBwd)) return rc;
  v1::chunk_state_kernel<T, Acc><<<(unsigned)blocks, kSsdThreads, v1_tiles_bytes(3), st>>>(p, true);
  MAMBA_CUDA_LAUNCHED("ssd backward: chunk state");
  v1::chunk_cb_kernel<T, Acc><<<(unsigned)((int64_t)p.batch * p.nc * p.groups), kSsdThreads, v1_tiles_bytes(3), st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd backward: C.B");
  v1::state_pass_kernel<<<(unsigned)((int64_t)p.batch * p.heads * p.pass_split), kSsdThreads, 0, st>>>(p, true);
  MAMBA_CUDA_LAUNCHED("ssd backward: state passing");
  if (p.head_splits > 1) {
    const size_t bytes = (size_t)p.batch * p.Lp() * p.groups * p.state * sizeof(float);
    MAMBA_CUDA_TRY(cudaMemsetAsync(p.dBacc, 0, bytes, st), "ssd backward: clearing dB");
    MAMBA_CUDA_TRY(cudaMemsetAsync(p.dCacc, 0, bytes, st), "ssd backward: clearing dC");
  }
  const int64_t bwd_blocks = (int64_t)p.batch * p.nc * p.groups * p.head_splits;
  v1::chunk_bwd_kernel<T, Acc><<<(unsigned)bwd_blocks, kSsdThreads, v1_tiles_bytes(6), st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd backward: chunk gradients");
  v1::param_grads_kernel<<<p.heads, kSsdThreads, 0, st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd backward: dA, dD, ddt_bias");
  const int64_t n = (int64_t)p.batch * p.length * p.groups * p.state;
  const int64_t grid = (n + kSsdThreads - 1) / kSsdThreads;
  v1::bc_grads_kernel<T><<<(unsigned)(grid < 65536 ? grid : 65536), kSsdThreads, 0, st>>>(p);
  MAMBA_CUDA_LAUNCHED("ssd backward: dB, dC");
  return MAMBA_OK;
}

// The kernel versions MAMBA_SSD_KERNELS selects (read at every call): v1, the first kernels; v2, the second
// ones with TF32 products for 2-byte inputs; v3 (the default, also when unset), the same kernels with bf16/f16
// operand tiles and mma m16n8k16 for 2-byte inputs. fp32 inputs run the same code in v2 and v3.
enum class Version { v1, v2, v3 };

Version kernel_version() {
  const char* v = std::getenv("MAMBA_SSD_KERNELS");
  if (v && std::strcmp(v, "v1") == 0) return Version::v1;
  if (v && std::strcmp(v, "v2") == 0) return Version::v2;
  return Version::v3;
}

// Whether the call stores the passed states in its 2-byte input dtype (see the top of this file): v3 with bf16
// or f16 inputs, unless MAMBA_SSD_STATES=fp32 (read at every call, next to MAMBA_SSD_KERNELS) or a state row
// does not fit one state passing block (256 threads of 4 elements when N % 4 == 0, else of 1).
bool states_in_input_dtype(Version version, int32_t dtype, int64_t state) {
  if (version != Version::v3 || dtype == MAMBA_F32) return false;
  if (state > (int64_t)kSsdThreads * (state % 4 == 0 ? 4 : 1)) return false;
  const char* v = std::getenv("MAMBA_SSD_STATES");
  return !(v && std::strcmp(v, "fp32") == 0);
}

// Whether the call runs the chain kernels for its states (ssd_state_chain.cuh): v3 (the default), unless
// MAMBA_SSD_PASS=separate (read at every call) asks for the chunk state and state passing kernels, kept as the
// same-run baseline and for the bitwise comparison in test_ssd_cuda.
bool chain_kernels(Version version) {
  if (version != Version::v3) return false;
  const char* v = std::getenv("MAMBA_SSD_PASS");
  return !(v && std::strcmp(v, "separate") == 0);
}

// f(T{}, Acc{}, V1{}, St{}) for the call's dtype, product kind, kernel version and state dtype (states16: St = T).
template <typename F>
int dispatch(int32_t dtype, Version version, bool states16, F&& f) {
  if (version == Version::v1) {
    if (dtype == MAMBA_F32)
      return fp32_on_tensor_cores() ? f(float{}, v1::Tc3Acc{}, std::true_type{}, float{})
                                    : f(float{}, v1::SimtAcc{}, std::true_type{}, float{});
    if (dtype == MAMBA_F16) return f(__half{}, v1::TcAcc{}, std::true_type{}, float{});
    return f(__nv_bfloat16{}, v1::TcAcc{}, std::true_type{}, float{});
  }
  if (dtype == MAMBA_F32)
    return fp32_on_tensor_cores() ? f(float{}, Tc3Acc{}, std::false_type{}, float{})
                                  : f(float{}, SimtAcc{}, std::false_type{}, float{});
  if (version == Version::v2) {
    if (dtype == MAMBA_F16) return f(__half{}, TcAcc{}, std::false_type{}, float{});
    return f(__nv_bfloat16{}, TcAcc{}, std::false_type{}, float{});
  }
  if (dtype == MAMBA_F16)
    return states16 ? f(__half{}, MmaAcc<__half>{}, std::false_type{}, __half{})
                    : f(__half{}, MmaAcc<__half>{}, std::false_type{}, float{});
  return states16 ? f(__nv_bfloat16{}, MmaAcc<__nv_bfloat16>{}, std::false_type{}, __nv_bfloat16{})
                  : f(__nv_bfloat16{}, MmaAcc<__nv_bfloat16>{}, std::false_type{}, float{});
}

// Backward blocks per (batch, chunk, group): one (no atomics) when deterministic or when the blocks already
// fill the GPU twice over; otherwise the group's heads are split and dB, dC accumulate with atomics.
int plan_head_splits(const SsdParams& p, bool deterministic) {
  if (deterministic || p.heads_per_group == 1) return 1;
  int device = 0, sms = 132;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    (void)cudaGetLastError();
    sms = 132;
  }
  const int64_t blocks = (int64_t)p.batch * p.nc * p.groups, want = 4LL * sms;
  if (blocks >= want) return 1;
  const int64_t splits = (want + blocks - 1) / blocks;
  return (int)(splits < p.heads_per_group ? splits : p.heads_per_group);
}

// One stream-ordered scratch allocation for the call, carved, run, freed. `kept`: dt, acum, C.B and the states
// are in the caller's checkpoints (carve_kept has pointed p at them), not in the scratch.
template <typename Run>
int with_scratch(SsdParams& p, bool backward, bool kept, cudaStream_t st, const char* what, Run&& run) {
  Scratch sizing;
  carve(p, sizing, backward, kept);
  void* mem = nullptr;
  if (int rc = alloc_scratch(sizing.floats, st, what, &mem)) return rc;
  Scratch scratch;
  scratch.base = static_cast<float*>(mem);
  carve(p, scratch, backward, kept);
  const int rc = run();
  const cudaError_t ef = mem ? cudaFreeAsync(mem, st) : cudaSuccess;
  if (rc != MAMBA_OK) return rc;
  MAMBA_CUDA_TRY(ef, what);
  return MAMBA_OK;
}

// Points p's dt, acum, C.B and states into the caller's checkpoints (mamba_ssd_checkpoint_floats_cuda floats).
void keep_in(SsdParams& p, float* checkpoints) {
  Scratch kept;
  kept.base = checkpoints;
  carve_kept(p, kept);
}

}  // namespace
}  // namespace mamba::cuda::ssd

using namespace mamba::cuda::ssd;

MAMBA_API int32_t mamba_ssd_fwd_cuda(const mamba_ssd_args* args, const mamba_ssd_outputs* outputs, void* stream) {
  mamba::clear_error();
  if (int rc = mamba::check_ssd_outputs(kFwd, args, outputs)) return rc;
  if (int rc = check_grid(kFwd, args)) return rc;
  const Version version = kernel_version();
  const bool v1 = version == Version::v1;
  const bool chain = chain_kernels(version);
  SsdParams p = make_params(args, v1, states_in_input_dtype(version, args->dtype, args->state), chain);
  p.y = outputs->y; copy_n(p.y_s, outputs->y_stride, 4);
  p.final_state = outputs->final_state;
  const bool kept = chain && outputs->checkpoints;
  if (kept) keep_in(p, outputs->checkpoints);
  auto st = static_cast<cudaStream_t>(stream);
  return with_scratch(p, false, kept, st, "ssd forward", [&] {
    return dispatch(args->dtype, version, p.states16, [&](auto t, auto acc, auto old, auto s) {
      if constexpr (decltype(old)::value) return launch_fwd_v1<decltype(t), decltype(acc)>(p, st);
      else return launch_fwd<decltype(t), decltype(acc), decltype(s)>(p, chain, kept, st);
    });
  });
}

MAMBA_API int32_t mamba_ssd_bwd_cuda(const mamba_ssd_args* args, const mamba_ssd_grads* grads, void* stream) {
  mamba::clear_error();
  if (int rc = mamba::check_ssd_grads(kBwd, args, grads)) return rc;
  if (int rc = check_grid(kBwd, args)) return rc;
  const Version version = kernel_version();
  const bool v1 = version == Version::v1;
  const bool chain = chain_kernels(version);
  SsdParams p = make_params(args, v1, states_in_input_dtype(version, args->dtype, args->state), chain);
  p.dy = grads->dy; copy_n(p.dy_s, grads->dy_stride, 4);
  p.dfinal_state = grads->dfinal_state;
  p.dx = grads->dx; copy_n(p.dx_s, grads->dx_stride, 4);
  p.ddt = grads->ddt; copy_n(p.ddt_s, grads->ddt_stride, 3);
  p.dA = grads->dA;
  p.dB = grads->dB; copy_n(p.dB_s, grads->dB_stride, 4);
  p.dC = grads->dC; copy_n(p.dC_s, grads->dC_stride, 4);
  p.dD = grads->dD;  // sum of dy x: defined (and written) whether or not D is given, like ddt_bias
  p.ddt_bias = grads->ddt_bias;
  p.dinitial_state = grads->dinitial_state;
  p.head_splits = plan_head_splits(p, args->deterministic != 0);
  const bool kept = chain && grads->checkpoints;
  if (kept) keep_in(p, const_cast<float*>(grads->checkpoints));  // only read
  auto st = static_cast<cudaStream_t>(stream);
  return with_scratch(p, true, kept, st, "ssd backward", [&] {
    return dispatch(args->dtype, version, p.states16, [&](auto t, auto acc, auto old, auto s) {
      if constexpr (decltype(old)::value) return launch_bwd_v1<decltype(t), decltype(acc)>(p, st);
      else return launch_bwd<decltype(t), decltype(acc), decltype(s)>(p, chain, kept, st);
    });
  });
}

MAMBA_API int64_t mamba_ssd_checkpoint_floats_cuda(const mamba_ssd_args* args) {
  mamba::clear_error();
  if (mamba::check_ssd_args(kFwd, args) != MAMBA_OK || check_grid(kFwd, args) != MAMBA_OK) {
    mamba::clear_error();
    return 0;
  }
  const Version version = kernel_version();
  if (!chain_kernels(version)) return 0;
  SsdParams p = make_params(args, false, states_in_input_dtype(version, args->dtype, args->state), true);
  mamba::cuda::Scratch sizing;
  carve_kept(p, sizing);
  return (int64_t)sizing.floats;
}
