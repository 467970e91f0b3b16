#include "cpu/scan_validate.h"

#include <string>
#include "common/errors.h"

namespace mamba {
namespace cpu {
namespace {
int invalid(const std::string& what) { return fail(MAMBA_ERR_INVALID_ARGUMENT, what); }
int null_arg(const char* name) { return invalid(std::string(name) + " is NULL"); }
std::string eq(const char* name, int64_t v) { return std::string(name) + "=" + std::to_string(v); }
}  // namespace

int validate_dtype(const char* name, int32_t dtype) {
  if (dtype == MAMBA_F32 || dtype == MAMBA_F64 || dtype == MAMBA_F16 || dtype == MAMBA_BF16) return MAMBA_OK;
  return fail(MAMBA_ERR_UNSUPPORTED, eq(name, dtype) + " is not a supported mamba_dtype (F32=0, F16=1, BF16=2, F64=3)");
}

int validate_scan(const mamba_scan_args* a) {
  if (!a) return null_arg("args");
  if (a->batch < 0) return invalid(eq("batch", a->batch) + " must be >= 0");
  if (a->dim < 1) return invalid(eq("dim", a->dim) + " must be >= 1");
  if (a->length < 0) return invalid(eq("length", a->length) + " must be >= 0");
  if (a->groups < 1) return invalid(eq("groups", a->groups) + " must be >= 1");
  if (a->dim % a->groups != 0)
    return invalid(eq("dim", a->dim) + " is not divisible by " + eq("groups", a->groups));
  if (a->state < 1) return invalid(eq("state", a->state) + " must be >= 1");
  if (a->state > 256) return fail(MAMBA_ERR_UNSUPPORTED, eq("state", a->state) + " exceeds the supported maximum 256");
  if (int rc = validate_dtype("dtype", a->dtype)) return rc;
  if (int rc = validate_dtype("bc_dtype", a->bc_dtype)) return rc;
  if (!a->u) return null_arg("u");
  if (!a->delta) return null_arg("delta");
  if (!a->A) return null_arg("A");
  if (!a->B) return null_arg("B");
  if (!a->C) return null_arg("C");
  return MAMBA_OK;
}

int validate_conv(const mamba_conv_args* a) {
  if (!a) return null_arg("args");
  if (a->batch < 0) return invalid(eq("batch", a->batch) + " must be >= 0");
  if (a->dim < 1) return invalid(eq("dim", a->dim) + " must be >= 1");
  if (a->length < 0) return invalid(eq("length", a->length) + " must be >= 0");
  if (a->width < 1) return invalid(eq("width", a->width) + " must be >= 1");
  if (a->width > 8) return fail(MAMBA_ERR_UNSUPPORTED, eq("width", a->width) + " exceeds the supported maximum 8");
  if (int rc = validate_dtype("dtype", a->dtype)) return rc;
  if (!a->x) return null_arg("x");
  if (!a->weight) return null_arg("weight");
  return MAMBA_OK;
}

}  // namespace cpu
}  // namespace mamba
