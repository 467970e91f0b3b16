// C entry points of the CUDA selective scan: argument checks, dtype dispatch, backward scratch.
#include <cstring>
#include <string>
#include <utility>
#include "check.cuh"
#include "common/abi_validate.h"
#include "dtype.cuh"
#include "scan_launch.h"
#include "scratch.cuh"

namespace mamba::cuda {
namespace {

int invalid(const std::string& m) { return fail(MAMBA_ERR_INVALID_ARGUMENT, "selective scan (cuda): " + m); }

int check_args(const mamba_scan_args* a) {
  if (!a) return invalid("args is NULL");
  if (a->batch < 1 || a->dim < 1 || a->length < 1 || a->groups < 1)
    return invalid("batch, dim, length and groups must be >= 1");
  if (a->dim % a->groups != 0) return invalid("dim must be a multiple of groups");
  if (a->state < 1 || a->state > 256) return invalid("state must be in 1..256");
  if (a->batch > 65535 || a->groups > 65535 || a->dim > (1 << 30) || a->length > (1 << 30))
    return invalid("batch or groups above 65535, or dim or length above 2^30");
  if (!a->u || !a->delta || !a->A || !a->B || !a->C) return invalid("u, delta, A, B and C are required");
  if (a->dtype != MAMBA_F32 && a->dtype != MAMBA_F16 && a->dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, "selective scan (cuda): dtype must be f32, f16 or bf16");
  if (a->bc_dtype != MAMBA_F32 && a->bc_dtype != a->dtype)
    return fail(MAMBA_ERR_UNSUPPORTED, "selective scan (cuda): bc_dtype must be f32 or equal to dtype");
  return MAMBA_OK;
}

// The kernels address a (channel, time) tile's elements with 32-bit offsets from its first element
// (TileOffsets): channel and time strides must stay below 2^23 elements (up to 128 channels x 32 steps).
constexpr int64_t kMaxTileStride = int64_t(1) << 23;
int check_tile_strides(const char* name, const int64_t* s) {
  if (s[1] <= -kMaxTileStride || s[1] >= kMaxTileStride || s[2] <= -kMaxTileStride || s[2] >= kMaxTileStride)
    return fail(MAMBA_ERR_UNSUPPORTED, std::string("selective scan (cuda): ") + name +
                                           " has a channel or time stride of 2^23 elements or more");
  return MAMBA_OK;
}

void copy3(int64_t* dst, const int64_t* src) { std::memcpy(dst, src, 3 * sizeof(int64_t)); }
void copy4(int64_t* dst, const int64_t* src) { std::memcpy(dst, src, 4 * sizeof(int64_t)); }

ScanParams make_params(const mamba_scan_args* a) {
  ScanParams p{};
  p.batch = (int)a->batch; p.dim = (int)a->dim; p.length = (int)a->length; p.state = (int)a->state;
  p.groups = (int)a->groups; p.dim_per_group = (int)(a->dim / a->groups);
  p.softplus = a->delta_softplus != 0;
  p.u = a->u; copy3(p.u_s, a->u_stride);
  p.delta = a->delta; copy3(p.delta_s, a->delta_stride);
  p.A = a->A; p.A_s[0] = a->A_stride[0]; p.A_s[1] = a->A_stride[1];
  p.B = a->B; copy4(p.B_s, a->B_stride);
  p.C = a->C; copy4(p.C_s, a->C_stride);
  p.D = a->D;
  p.z = a->z; if (a->z) copy3(p.z_s, a->z_stride);
  p.delta_bias = a->delta_bias;
  p.initial_state = a->initial_state;
  return p;
}

template <typename Launch>
int dispatch(const mamba_scan_args* a, Launch&& launch) {
  switch (a->dtype) {
    case MAMBA_F32: return launch(float{}, float{});
    case MAMBA_F16: return a->bc_dtype == MAMBA_F32 ? launch(__half{}, float{}) : launch(__half{}, __half{});
    default:
      return a->bc_dtype == MAMBA_F32 ? launch(__nv_bfloat16{}, float{}) : launch(__nv_bfloat16{}, __nv_bfloat16{});
  }
}

// Segment end states and dt sums of the time split (none when n_seg == 1).
void carve_segments(ScanParams& p, Scratch& s) {
  const size_t bds = (size_t)p.batch * p.dim * p.n_seg;
  p.seg_h = p.n_seg > 1 ? s.take(bds * scan_geometry(p.state).npad) : nullptr;
  p.seg_dt = p.n_seg > 1 ? s.take(bds) : nullptr;
}

}  // namespace
}  // namespace mamba::cuda

using namespace mamba::cuda;

MAMBA_API int32_t mamba_scan_fwd_cuda(const mamba_scan_args* args, const mamba_scan_outputs* outputs, void* stream) {
  mamba::clear_error();
  if (int rc = check_args(args)) return rc;
  if (!outputs || !outputs->out) return invalid("outputs->out is required");
  if (int rc = mamba::check_scan_layout("selective scan (cuda)", args)) return rc;
  if (int rc = mamba::check_scan_outputs_layout("selective scan (cuda)", args, outputs)) return rc;
  const std::pair<const char*, const int64_t*> tiles[] = {
      {"u", args->u_stride}, {"delta", args->delta_stride}, {"out", outputs->out_stride}, {"z", args->z ? args->z_stride : nullptr}};
  for (const auto& [name, st] : tiles)
    if (st)
      if (int rc = check_tile_strides(name, st)) return rc;
  ScanParams p = make_params(args);
  p.out = outputs->out; copy3(p.out_s, outputs->out_stride);
  p.final_state = outputs->final_state;
  auto st = static_cast<cudaStream_t>(stream);
  plan_segments(p);
  if (outputs->checkpoints && forward_checkpoint_floats(p) > 0) {
    p.ckpt = outputs->checkpoints;
    p.n_ckpt = checkpoint_count(p);
  }
  Scratch sizing;
  carve_segments(p, sizing);
  void* mem = nullptr;
  if (int rc = alloc_scratch(sizing.floats, st, "selective scan forward", &mem)) return rc;
  Scratch scratch;
  scratch.base = static_cast<float*>(mem);
  carve_segments(p, scratch);
  const int rc = dispatch(args, [&](auto t, auto bt) { return launch_scan_fwd<decltype(t), decltype(bt)>(p, st); });
  const cudaError_t ef = mem ? cudaFreeAsync(mem, st) : cudaSuccess;
  if (rc != MAMBA_OK) return rc;
  MAMBA_CUDA_TRY(ef, "selective scan forward: freeing scratch");
  return MAMBA_OK;
}

MAMBA_API int32_t mamba_scan_bwd_cuda(const mamba_scan_args* args, const mamba_scan_grads* grads, void* stream) {
  mamba::clear_error();
  if (int rc = check_args(args)) return rc;
  if (!grads || !grads->dout) return invalid("grads->dout is required");
  if (int rc = mamba::check_scan_layout("selective scan backward (cuda)", args)) return rc;
  if (int rc = mamba::check_scan_grads_layout("selective scan backward (cuda)", args, grads)) return rc;
  const std::pair<const char*, const int64_t*> tiles[] = {
      {"u", args->u_stride}, {"delta", args->delta_stride}, {"dout", grads->dout_stride},
      {"z", args->z ? args->z_stride : nullptr}, {"dz", args->z && grads->dz ? grads->dz_stride : nullptr},
      {"du", grads->du ? grads->du_stride : nullptr}, {"ddelta", grads->ddelta ? grads->ddelta_stride : nullptr}};
  for (const auto& [name, st] : tiles)
    if (st)
      if (int rc = check_tile_strides(name, st)) return rc;
  ScanParams p = make_params(args);
  p.dout = grads->dout; copy3(p.dout_s, grads->dout_stride);
  p.dfinal_state = grads->dfinal_state;
  p.du = grads->du; if (p.du) copy3(p.du_s, grads->du_stride);
  p.ddelta = grads->ddelta; if (p.ddelta) copy3(p.ddelta_s, grads->ddelta_stride);
  p.dz = args->z ? grads->dz : nullptr; if (p.dz) copy3(p.dz_s, grads->dz_stride);
  p.dinitial_state = grads->dinitial_state;
  p.dA = grads->dA;
  p.dB = grads->dB; if (p.dB) copy4(p.dB_s, grads->dB_stride);
  p.dC = grads->dC; if (p.dC) copy4(p.dC_s, grads->dC_stride);
  p.dD = grads->dD;
  p.ddelta_bias = grads->ddelta_bias;
  auto st = static_cast<cudaStream_t>(stream);

  // Sizes first (base == nullptr), then one allocation, then the same carving for real.
  const ScanGeometry geo = scan_geometry(p.state);
  const size_t bd = (size_t)p.batch * p.dim;
  const int nblk = (p.dim_per_group + geo.ch - 1) / geo.ch;
  const size_t bc_part = (size_t)nblk * p.batch * p.groups * p.length * p.state;
  p.n_ckpt = checkpoint_count(p);
  plan_segments(p);
  p.ckpt_given = grads->checkpoints && forward_checkpoint_floats(p) > 0;
  auto carve = [&](Scratch& s) {
    carve_segments(p, s);
    p.seg_adj = p.n_seg > 1 ? s.take(bd * p.n_seg * geo.npad) : nullptr;
    p.ckpt = p.ckpt_given ? const_cast<float*>(grads->checkpoints) : s.take(bd * p.n_ckpt * geo.npad);
    p.part_dA = s.take(bd * p.n_seg * geo.npad);
    p.part_dD = s.take(bd * p.n_seg);
    p.part_dbias = s.take(bd * p.n_seg);
    p.part_dB = p.dB ? s.take(bc_part) : nullptr;
    p.part_dC = p.dC ? s.take(bc_part) : nullptr;
  };
  Scratch sizing;
  carve(sizing);
  Scratch scratch;
  void* mem = nullptr;
  if (int rc = alloc_scratch(sizing.floats, st, "selective scan backward", &mem)) return rc;
  scratch.base = static_cast<float*>(mem);
  carve(scratch);
  const int rc = dispatch(args, [&](auto t, auto bt) { return launch_scan_bwd<decltype(t), decltype(bt)>(p, st); });
  const cudaError_t ef = cudaFreeAsync(mem, st);
  if (rc != MAMBA_OK) return rc;
  MAMBA_CUDA_TRY(ef, "selective scan backward: freeing scratch");
  return MAMBA_OK;
}

MAMBA_API int64_t mamba_scan_checkpoint_floats_cuda(const mamba_scan_args* args) {
  mamba::clear_error();
  if (check_args(args) != MAMBA_OK) return 0;
  ScanParams p = make_params(args);
  plan_segments(p);
  return forward_checkpoint_floats(p);
}
