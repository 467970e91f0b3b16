// mamba_quantize_int8_cpu and mamba_gemv_cpu: weight-only int8 / bf16 projections for CPU decoding (see
// mamba_native.h). Decoding one token reads every weight once, so a step is bound by memory bandwidth: int8 weights
// read a quarter of fp32's bytes, bf16 half. Activations and sums stay fp32; the int8 row scale is applied once
// after the row's dot product. The AVX2 kernels are in weight_gemv_avx2.cpp; the portable ones below.
#include "cpu/weight_gemv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include "common/abi_validate.h"
#include "common/errors.h"
#include "cpu/cpu_features.h"
#include "cpu/dtype_convert.h"
#include "cpu/thread_pool.h"

#ifndef MAMBA_GEMV_THREADED_US
#define MAMBA_GEMV_THREADED_US 20
#endif

namespace mamba {
namespace cpu {
namespace {

template <int Format>
inline float weight_at(const void* w, int64_t i) {
  if constexpr (Format == MAMBA_WEIGHTS_INT8) return float(static_cast<const int8_t*>(w)[i]);
  else if constexpr (Format == MAMBA_WEIGHTS_BF16) return bf16_to_float(static_cast<const uint16_t*>(w)[i]);
  else return static_cast<const float*>(w)[i];
}

inline int64_t elem_bytes(int format) { return format == MAMBA_WEIGHTS_INT8 ? 1 : format == MAMBA_WEIGHTS_BF16 ? 2 : 4; }

// 8 lanes added in a fixed order, like the AVX2 kernel's (the two need not agree bit for bit).
template <int Format>
void rows_generic(const GemvProblem& p, int64_t r0, int64_t r1) {
  const int64_t in = p.in;
  const char* wbase = static_cast<const char*>(p.w);
  for (int64_t o = r0; o < r1; ++o) {
    const void* w = wbase + o * in * elem_bytes(Format);
    const float scale = Format == MAMBA_WEIGHTS_INT8 ? p.scales[o] : 1.f;
    const float bias = p.bias ? p.bias[o] : 0.f;
    for (int64_t b = 0; b < p.batch; ++b) {
      const float* x = p.x + b * p.xs;
      float acc[8] = {};
      int64_t i = 0;
      for (; i + 8 <= in; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] += weight_at<Format>(w, i + k) * x[i + k];
      float sum = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
      for (; i < in; ++i) sum += weight_at<Format>(w, i) * x[i];
      float v = scale * sum + bias;
      if (p.add) v += p.add[b * p.as + o];
      p.y[b * p.ys + o] = v;
    }
  }
}

int invalid(const std::string& what) { return fail(MAMBA_ERR_INVALID_ARGUMENT, what); }
std::string eq(const char* name, int64_t v) { return std::string(name) + "=" + std::to_string(v); }

bool known_format(int32_t f) { return f == MAMBA_WEIGHTS_F32 || f == MAMBA_WEIGHTS_BF16 || f == MAMBA_WEIGHTS_INT8; }

// (rows, cols) with rows `stride` apart and a contiguous last axis; `written` rows may not overlap.
int check_rows(const char* where, const char* name, int64_t rows, int64_t cols, int64_t stride, bool written) {
  const int64_t sizes[2] = {rows, cols}, strides[2] = {stride, 1};
  if (int rc = check_layout(where, name, 2, sizes, strides, written)) return rc;
  if (written && rows > 1 && stride < cols)
    return invalid(std::string(where) + ": " + name + " row stride " + std::to_string(stride) + " is below its " +
                   std::to_string(cols) + " columns: rows would overlap");
  return MAMBA_OK;
}

int validate(const mamba_gemv_args* a) {
  constexpr const char* where = "gemv (cpu)";
  auto bad = [&](const std::string& what) { return invalid(std::string(where) + ": " + what); };
  if (!a) return bad("args is NULL");
  if (a->batch < 1) return bad(eq("batch", a->batch) + " must be >= 1");
  if (a->in < 1) return bad(eq("in", a->in) + " must be >= 1");
  if (a->out < 1) return bad(eq("out", a->out) + " must be >= 1");
  if (!known_format(a->weight_format))
    return fail(MAMBA_ERR_UNSUPPORTED, std::string(where) + ": " + eq("weight_format", a->weight_format) +
                                           " is not a mamba_weight_format (F32=0, BF16=2, INT8=8)");
  if (a->reserved != 0) return bad(eq("reserved", a->reserved) + " must be 0");
  if (!a->x) return bad("x is NULL");
  if (!a->weight) return bad("weight is NULL");
  if (!a->y) return bad("y is NULL");
  if (a->weight_format == MAMBA_WEIGHTS_INT8 && !a->scales) return bad("scales is NULL (required for int8 weights)");
  if (a->weight_format != MAMBA_WEIGHTS_INT8 && a->scales)
    return bad("scales must be NULL for weight_format=" + std::to_string(a->weight_format) + " (only int8 has scales)");
  const int64_t w[2] = {a->out, a->in};
  if (int rc = check_count(where, "weight", 2, w)) return rc;
  if (a->out > INT64_MAX / 4 / a->in) return bad("weight (" + std::to_string(a->out) + ", " + std::to_string(a->in) + ") is too large");
  if (int rc = check_rows(where, "x", a->batch, a->in, a->x_row_stride, false)) return rc;
  if (int rc = check_rows(where, "y", a->batch, a->out, a->y_row_stride, true)) return rc;
  if (a->add)
    if (int rc = check_rows(where, "add", a->batch, a->out, a->add_row_stride, false)) return rc;
  return MAMBA_OK;
}

// Estimated microseconds on one core: streaming weights at ~10 GB/s and ~25e9 multiply-adds per second.
double single_thread_us(const GemvProblem& p) {
  const double weights = double(p.out) * double(p.in);
  return 1e-4 * weights * double(elem_bytes(p.format)) + 4e-5 * weights * double(p.batch);
}

// Products estimated below this run on the calling thread. The pool's workers are awake between a token's calls
// (thread_pool.cpp), so handing them rows costs a few microseconds: at the Mamba-130m shape every layer's in_proj and
// out_proj is split (~60-120 us on one core at batch 1), x_proj (inside the decode step) is not.
constexpr double kThreadedUs = MAMBA_GEMV_THREADED_US;

}  // namespace

void gemv_rows_generic(const GemvProblem& p, int64_t r0, int64_t r1) {
  switch (p.format) {
    case MAMBA_WEIGHTS_INT8: rows_generic<MAMBA_WEIGHTS_INT8>(p, r0, r1); break;
    case MAMBA_WEIGHTS_BF16: rows_generic<MAMBA_WEIGHTS_BF16>(p, r0, r1); break;
    default: rows_generic<MAMBA_WEIGHTS_F32>(p, r0, r1); break;
  }
}

void weight_rows_to_f32(int32_t format, const void* w, int64_t r0, int64_t r1, int64_t in, float* dst) {
  const int64_t n = (r1 - r0) * in, first = r0 * in;
  switch (format) {
    case MAMBA_WEIGHTS_INT8:
      for (int64_t i = 0; i < n; ++i) dst[i] = weight_at<MAMBA_WEIGHTS_INT8>(w, first + i);
      break;
    case MAMBA_WEIGHTS_BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = weight_at<MAMBA_WEIGHTS_BF16>(w, first + i);
      break;
    default: std::memcpy(dst, static_cast<const float*>(w) + first, size_t(n) * sizeof(float)); break;
  }
}

}  // namespace cpu
}  // namespace mamba

using namespace mamba::cpu;

MAMBA_API int32_t mamba_quantize_int8_cpu(int64_t rows, int64_t cols, const float* weight, int64_t weight_row_stride,
                                          int8_t* q, float* scales) {
  mamba::clear_error();
  constexpr const char* where = "quantize int8 (cpu)";
  auto bad = [&](const std::string& what) { return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, std::string(where) + ": " + what); };
  if (rows < 1) return bad(eq("rows", rows) + " must be >= 1");
  if (cols < 1) return bad(eq("cols", cols) + " must be >= 1");
  if (!weight) return bad("weight is NULL");
  if (!q) return bad("q is NULL");
  if (!scales) return bad("scales is NULL");
  if (int rc = check_rows(where, "weight", rows, cols, weight_row_stride, false)) return rc;
  const int64_t sizes[2] = {rows, cols};
  if (int rc = mamba::check_count(where, "q", 2, sizes)) return rc;
  // Every weight finite, before anything is written.
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = weight + r * weight_row_stride;
    for (int64_t i = 0; i < cols; ++i)
      if (!std::isfinite(w[i]))
        return bad("weight[" + std::to_string(r) + ", " + std::to_string(i) + "] = " + std::to_string(w[i]) +
                   " is not finite");
  }
  try {
    parallel_for(rows, [&](int64_t r) {
      const float* w = weight + r * weight_row_stride;
      int8_t* out = q + r * cols;
      float max_abs = 0.f;
      for (int64_t i = 0; i < cols; ++i) max_abs = std::max(max_abs, std::fabs(w[i]));
      const float scale = max_abs / 127.f;
      scales[r] = scale;
      if (scale == 0.f) {  // an all-zero row (or one of subnormals that round to zero here)
        std::memset(out, 0, size_t(cols));
        return;
      }
      for (int64_t i = 0; i < cols; ++i) {
        const float v = std::nearbyint(w[i] / scale);  // default rounding mode: nearest, ties to even
        out[i] = int8_t(std::min(127.f, std::max(-127.f, v)));
      }
    }, 2.0 * double(rows) * double(cols));
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, std::string(where) + ": out of memory");
  }
  return MAMBA_OK;
}

MAMBA_API int32_t mamba_gemv_cpu(const mamba_gemv_args* args) {
  mamba::clear_error();
  if (int rc = validate(args)) return rc;
  const mamba_gemv_args& a = *args;
  const GemvProblem p{a.batch, a.in, a.out, a.weight_format, a.x, a.x_row_stride, a.weight,
                      a.scales, a.bias, a.add, a.add_row_stride, a.y, a.y_row_stride};
  const bool avx2 = use_avx2();
  auto run = [&](int64_t r0, int64_t r1) { avx2 ? gemv_rows_avx2(p, r0, r1) : gemv_rows_generic(p, r0, r1); };
  if (single_thread_us(p) < kThreadedUs || num_threads() == 1) {
    run(0, p.out);
    return MAMBA_OK;
  }
  // About 8 tasks per thread, whole tiles of 4 rows, so uneven cores still finish together.
  const int64_t tasks_wanted = int64_t(num_threads()) * 8;
  const int64_t chunk = std::max<int64_t>(16, ((p.out + tasks_wanted - 1) / tasks_wanted + 3) / 4 * 4);
  const int64_t tasks = (p.out + chunk - 1) / chunk;
  try {
    parallel_for(tasks, [&](int64_t t) { run(t * chunk, std::min(p.out, (t + 1) * chunk)); });
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "gemv (cpu): out of memory");
  }
  return MAMBA_OK;
}
