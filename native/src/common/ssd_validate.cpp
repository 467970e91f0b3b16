#include "common/ssd_validate.h"

#include <cmath>
#include <cstdint>
#include <string>
#include "common/abi_validate.h"
#include "common/errors.h"

namespace mamba {
namespace {
int invalid(const char* where, const std::string& what) {
  return fail(MAMBA_ERR_INVALID_ARGUMENT, std::string(where) + ": " + what);
}

int check_range(const char* where, const char* name, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi)
    return invalid(where, std::string(name) + "=" + std::to_string(value) + " must be in [" + std::to_string(lo) +
                              ", " + std::to_string(hi) + "]");
  return MAMBA_OK;
}

int check_dtype(const char* where, int32_t dtype) {
  if (dtype != MAMBA_F32 && dtype != MAMBA_F16 && dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, std::string(where) + ": dtype=" + std::to_string(dtype) + " must be f32, f16 or bf16");
  return MAMBA_OK;
}

int check_dt_limits(const char* where, float lo, float hi) {
  if (std::isnan(lo) || std::isnan(hi) || lo < 0.0f || lo > hi || std::isinf(lo))
    return invalid(where, "dt limits (" + std::to_string(lo) + ", " + std::to_string(hi) +
                              ") must satisfy 0 <= dt_min <= dt_max, dt_min finite");
  return MAMBA_OK;
}

int require(const char* where, const char* name, const void* p) {
  return p ? MAMBA_OK : invalid(where, std::string(name) + " is NULL");
}

// Heads, groups and the sizes every SSD call shares.
int check_heads(const char* where, int64_t heads, int64_t head_dim, int64_t groups, int64_t state) {
  if (int rc = check_range(where, "heads", heads, 1, INT32_MAX)) return rc;
  if (int rc = check_range(where, "head_dim", head_dim, 1, kSsdMaxHeadDim)) return rc;
  if (int rc = check_range(where, "state", state, 1, kSsdMaxState)) return rc;
  if (int rc = check_range(where, "groups", groups, 1, heads)) return rc;
  if (heads % groups != 0)
    return invalid(where, "heads=" + std::to_string(heads) + " must be divisible by groups=" + std::to_string(groups));
  return MAMBA_OK;
}
}  // namespace

int check_ssd_args(const char* where, const mamba_ssd_args* a) {
  if (!a) return invalid(where, "args is NULL");
  if (int rc = check_range(where, "batch", a->batch, 1, INT32_MAX)) return rc;
  if (int rc = check_range(where, "length", a->length, 1, INT32_MAX)) return rc;
  if (int rc = check_heads(where, a->heads, a->head_dim, a->groups, a->state)) return rc;
  if (int rc = check_range(where, "chunk", a->chunk, 1, kSsdMaxChunk)) return rc;
  if (int rc = check_dtype(where, a->dtype)) return rc;
  if (a->reserved != 0) return invalid(where, "reserved must be 0");
  if (int rc = check_dt_limits(where, a->dt_min, a->dt_max)) return rc;
  if (int rc = require(where, "x", a->x)) return rc;
  if (int rc = require(where, "dt", a->dt)) return rc;
  if (int rc = require(where, "A", a->A)) return rc;
  if (int rc = require(where, "B", a->B)) return rc;
  if (int rc = require(where, "C", a->C)) return rc;
  const int64_t xs[4] = {a->batch, a->length, a->heads, a->head_dim};
  const int64_t dts[3] = {a->batch, a->length, a->heads};
  const int64_t bcs[4] = {a->batch, a->length, a->groups, a->state};
  const int64_t states[4] = {a->batch, a->heads, a->head_dim, a->state};
  if (int rc = check_layout(where, "x", 4, xs, a->x_stride, false)) return rc;
  if (int rc = check_layout(where, "dt", 3, dts, a->dt_stride, false)) return rc;
  if (int rc = check_layout(where, "B", 4, bcs, a->B_stride, false)) return rc;
  if (int rc = check_layout(where, "C", 4, bcs, a->C_stride, false)) return rc;
  return check_count(where, "initial_state", 4, states);
}

int check_ssd_outputs(const char* where, const mamba_ssd_args* a, const mamba_ssd_outputs* o) {
  if (int rc = check_ssd_args(where, a)) return rc;
  if (!o) return invalid(where, "outputs is NULL");
  if (int rc = require(where, "y", o->y)) return rc;
  const int64_t xs[4] = {a->batch, a->length, a->heads, a->head_dim};
  return check_layout(where, "y", 4, xs, o->y_stride, true);
}

int check_ssd_grads(const char* where, const mamba_ssd_args* a, const mamba_ssd_grads* g) {
  if (int rc = check_ssd_args(where, a)) return rc;
  if (!g) return invalid(where, "grads is NULL");
  if (int rc = require(where, "dy", g->dy)) return rc;
  if (int rc = require(where, "dx", g->dx)) return rc;
  if (int rc = require(where, "ddt", g->ddt)) return rc;
  if (int rc = require(where, "dA", g->dA)) return rc;
  if (int rc = require(where, "dB", g->dB)) return rc;
  if (int rc = require(where, "dC", g->dC)) return rc;
  const int64_t xs[4] = {a->batch, a->length, a->heads, a->head_dim};
  const int64_t dts[3] = {a->batch, a->length, a->heads};
  const int64_t bcs[4] = {a->batch, a->length, a->groups, a->state};
  if (int rc = check_layout(where, "dy", 4, xs, g->dy_stride, false)) return rc;
  if (int rc = check_layout(where, "dx", 4, xs, g->dx_stride, true)) return rc;
  if (int rc = check_layout(where, "ddt", 3, dts, g->ddt_stride, true)) return rc;
  if (int rc = check_layout(where, "dB", 4, bcs, g->dB_stride, true)) return rc;
  return check_layout(where, "dC", 4, bcs, g->dC_stride, true);
}

int check_ssd_step(const char* where, const mamba_ssd_step_args* a) {
  if (!a) return invalid(where, "args is NULL");
  if (int rc = check_range(where, "batch", a->batch, 1, INT32_MAX)) return rc;
  if (int rc = check_heads(where, a->heads, a->head_dim, a->groups, a->state)) return rc;
  if (int rc = check_range(where, "width", a->width, 1, kSsdMaxWidth)) return rc;
  if (int rc = check_dtype(where, a->dtype)) return rc;
  if (int rc = check_dt_limits(where, a->dt_min, a->dt_max)) return rc;
  if (int rc = require(where, "xBC", a->xBC)) return rc;
  if (int rc = require(where, "dt", a->dt)) return rc;
  if (int rc = require(where, "conv_state", a->conv_state)) return rc;
  if (int rc = require(where, "conv_weight", a->conv_weight)) return rc;
  if (int rc = require(where, "A_log", a->A_log)) return rc;
  if (int rc = require(where, "ssm_state", a->ssm_state)) return rc;
  if (int rc = require(where, "out", a->out)) return rc;
  // heads * head_dim and 2 * groups * state are far below 2^62 after the range checks above.
  const int64_t inner = a->heads * a->head_dim;
  const int64_t channels = inner + 2 * a->groups * a->state;
  const int64_t rows[2] = {a->batch, channels};
  const int64_t dts[2] = {a->batch, a->heads};
  const int64_t conv[3] = {a->batch, channels, a->width};
  const int64_t outs[2] = {a->batch, inner};
  const int64_t states[4] = {a->batch, a->heads, a->head_dim, a->state};
  if (int rc = check_layout(where, "xBC", 2, rows, a->xBC_stride, false)) return rc;
  if (int rc = check_layout(where, "dt", 2, dts, a->dt_stride, false)) return rc;
  if (int rc = check_layout(where, "conv_state", 3, conv, a->conv_state_stride, true)) return rc;
  if (int rc = check_layout(where, "out", 2, outs, a->out_stride, true)) return rc;
  return check_count(where, "ssm_state", 4, states);
}
}  // namespace mamba
