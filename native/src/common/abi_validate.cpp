#include "common/abi_validate.h"

#include <cstdint>
#include <string>
#include "common/errors.h"

namespace mamba {
namespace {
constexpr int64_t kMax = INT64_MAX;

int invalid(const char* where, const std::string& what) {
  return fail(MAMBA_ERR_INVALID_ARGUMENT, std::string(where) + ": " + what);
}

std::string shape(int rank, const int64_t* v) {
  std::string s = "(";
  for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}
}  // namespace

int check_count(const char* where, const char* name, int count, const int64_t* sizes) {
  int64_t n = 1;
  for (int i = 0; i < count; ++i) {
    if (sizes[i] < 0) return invalid(where, std::string(name) + " has a negative size " + shape(count, sizes));
    if (sizes[i] != 0 && n > kMax / sizes[i])
      return invalid(where, std::string(name) + " sizes " + shape(count, sizes) + " have more than 2^63 elements");
    n *= sizes[i];
  }
  return MAMBA_OK;
}

int check_layout(const char* where, const char* name, int rank, const int64_t* sizes, const int64_t* strides,
                 bool written) {
  if (int rc = check_count(where, name, rank, sizes)) return rc;
  for (int i = 0; i < rank; ++i)
    if (sizes[i] == 0) return MAMBA_OK;  // no elements: nothing is addressed (libtorch gives such tensors stride 0)
  int64_t last = 0;  // offset of the last element, which must fit int64
  for (int i = 0; i < rank; ++i) {
    if (strides[i] < 0)
      return invalid(where, std::string(name) + " strides " + shape(rank, strides) + " must be non-negative");
    if (sizes[i] <= 1) continue;
    if (written && strides[i] == 0)
      return invalid(where, std::string(name) + " is written but its strides " + shape(rank, strides) +
                                " alias elements of axis " + std::to_string(i) + " (size " + std::to_string(sizes[i]) + ")");
    if (strides[i] > (kMax - last) / (sizes[i] - 1))
      return invalid(where, std::string(name) + " strides " + shape(rank, strides) + " with sizes " + shape(rank, sizes) +
                                " address beyond 2^63 elements");
    last += (sizes[i] - 1) * strides[i];
  }
  return MAMBA_OK;
}

int check_scan_layout(const char* where, const mamba_scan_args* a) {
  const int64_t seq[3] = {a->batch, a->dim, a->length};
  const int64_t bc[4] = {a->batch, a->groups, a->state, a->length};
  const int64_t mat[2] = {a->dim, a->state};
  const int64_t states[3] = {a->batch, a->dim, a->state};
  if (int rc = check_layout(where, "u", 3, seq, a->u_stride, false)) return rc;
  if (int rc = check_layout(where, "delta", 3, seq, a->delta_stride, false)) return rc;
  if (int rc = check_layout(where, "A", 2, mat, a->A_stride, false)) return rc;
  if (int rc = check_layout(where, "B", 4, bc, a->B_stride, false)) return rc;
  if (int rc = check_layout(where, "C", 4, bc, a->C_stride, false)) return rc;
  if (a->z)
    if (int rc = check_layout(where, "z", 3, seq, a->z_stride, false)) return rc;
  return check_count(where, "initial_state", 3, states);
}

int check_scan_outputs_layout(const char* where, const mamba_scan_args* a, const mamba_scan_outputs* o) {
  const int64_t seq[3] = {a->batch, a->dim, a->length};
  return check_layout(where, "out", 3, seq, o->out_stride, true);
}

int check_scan_grads_layout(const char* where, const mamba_scan_args* a, const mamba_scan_grads* g) {
  const int64_t seq[3] = {a->batch, a->dim, a->length};
  const int64_t bc[4] = {a->batch, a->groups, a->state, a->length};
  if (int rc = check_layout(where, "dout", 3, seq, g->dout_stride, false)) return rc;
  if (g->du)
    if (int rc = check_layout(where, "du", 3, seq, g->du_stride, true)) return rc;
  if (g->ddelta)
    if (int rc = check_layout(where, "ddelta", 3, seq, g->ddelta_stride, true)) return rc;
  if (g->dB)
    if (int rc = check_layout(where, "dB", 4, bc, g->dB_stride, true)) return rc;
  if (g->dC)
    if (int rc = check_layout(where, "dC", 4, bc, g->dC_stride, true)) return rc;
  if (g->dz)
    if (int rc = check_layout(where, "dz", 3, seq, g->dz_stride, true)) return rc;
  return MAMBA_OK;
}

int check_conv_tensor(const char* where, const char* name, const mamba_conv_args* a, const int64_t* strides, bool written) {
  const int64_t seq[3] = {a->batch, a->dim, a->length};
  return check_layout(where, name, 3, seq, strides, written);
}

int check_conv_layout(const char* where, const mamba_conv_args* a) {
  const int64_t w[2] = {a->dim, a->width};
  if (int rc = check_count(where, "weight", 2, w)) return rc;
  return check_conv_tensor(where, "x", a, a->x_stride, false);
}

int check_step_layout(const char* where, const mamba_step_args* a) {
  const int64_t rows[2] = {a->batch, a->dim};
  const int64_t conv[3] = {a->batch, a->dim, a->width};
  const int64_t states[3] = {a->batch, a->dim, a->state};
  if (int rc = check_layout(where, "x", 2, rows, a->x_stride, false)) return rc;
  if (a->z)
    if (int rc = check_layout(where, "z", 2, rows, a->z_stride, false)) return rc;
  if (int rc = check_layout(where, "conv_state", 3, conv, a->conv_state_stride, true)) return rc;
  if (int rc = check_layout(where, "out", 2, rows, a->out_stride, true)) return rc;
  if (int rc = check_count(where, "ssm_state", 3, states)) return rc;
  // x_proj (dt_rank + 2 state, dim) and the workspace, batch * (dim + dt_rank + 2 state) floats.
  if (a->dt_rank > kMax / 4 || a->state > kMax / 4 || a->dim > kMax / 4)
    return invalid(where, "dim, dt_rank or state above 2^61");
  const int64_t proj[2] = {a->dt_rank + 2 * a->state, a->dim};
  if (int rc = check_count(where, "x_proj_weight", 2, proj)) return rc;
  const int64_t work[2] = {a->batch, a->dim + a->dt_rank + 2 * a->state};
  return check_count(where, "workspace", 2, work);
}

int check_rms_norm(const char* where, int64_t rows, int64_t size, int32_t dtype, const void* x, int64_t x_row_stride,
                   const void* weight, const void* out, int64_t out_row_stride) {
  if (rows < 1) return invalid(where, "rows=" + std::to_string(rows) + " must be >= 1");
  if (size < 1) return invalid(where, "size=" + std::to_string(size) + " must be >= 1");
  if (!x) return invalid(where, "x is NULL");
  if (!weight) return invalid(where, "weight is NULL");
  if (!out) return invalid(where, "out is NULL");
  if (dtype != MAMBA_F32 && dtype != MAMBA_F16 && dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, std::string(where) + ": dtype=" + std::to_string(dtype) + " must be f32, f16 or bf16");
  // Rows of `size` contiguous elements: out's may not overlap (each row is written whole); x's may repeat.
  const int64_t sizes[2] = {rows, size};
  const int64_t xs[2] = {x_row_stride, 1}, os[2] = {out_row_stride, 1};
  if (int rc = check_layout(where, "x", 2, sizes, xs, false)) return rc;
  if (int rc = check_layout(where, "out", 2, sizes, os, true)) return rc;
  if (rows > 1 && out_row_stride < size)
    return invalid(where, "out_row_stride=" + std::to_string(out_row_stride) + " is below size=" + std::to_string(size) +
                              ": rows would overlap");
  return MAMBA_OK;
}

int check_gated_rms_norm(const char* where, int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                         const void* z, const float* weight, const void* out, const float* rstd, const void* dout,
                         const void* dy, const void* dz, const float* dweight, bool backward) {
  if (rows < 1) return invalid(where, "rows=" + std::to_string(rows) + " must be >= 1");
  if (size < 1 || size > kMaxGatedNormSize)
    return invalid(where, "size=" + std::to_string(size) + " must be in 1.." + std::to_string(kMaxGatedNormSize));
  if (groups < 1 || size % groups != 0)
    return invalid(where, "groups=" + std::to_string(groups) + " must be positive and divide size=" + std::to_string(size));
  if (dtype != MAMBA_F32 && dtype != MAMBA_F16 && dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, std::string(where) + ": dtype=" + std::to_string(dtype) + " must be f32, f16 or bf16");
  const int64_t n[2] = {rows, size};
  if (int rc = check_count(where, "y", 2, n)) return rc;
  if (!y) return invalid(where, "y is NULL");
  if (!z) return invalid(where, "z is NULL");
  if (!weight) return invalid(where, "weight is NULL");
  if (!backward) return out ? MAMBA_OK : invalid(where, "out is NULL");
  if (!rstd) return invalid(where, "rstd is NULL");
  if (!dout) return invalid(where, "dout is NULL");
  if (!dy) return invalid(where, "dy is NULL");
  if (!dz) return invalid(where, "dz is NULL");
  if (!dweight) return invalid(where, "dweight is NULL");
  return MAMBA_OK;
}
}  // namespace mamba
