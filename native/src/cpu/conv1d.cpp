// Causal depthwise conv1d (+ optional SiLU), forward and backward, for width <= 8.
// One row (b, d) at a time through a dense zero-padded tile; fp64 storage computes in double.
// Backward runs one task per channel and adds batches in order, so dweight/dbias are reproducible.
#include <algorithm>
#include <new>
#include <string>
#include <vector>
#include "common/abi_validate.h"
#include "common/errors.h"
#include "cpu/dtype_convert.h"
#include "cpu/scalar_math.h"
#include "cpu/scan_validate.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

namespace {

constexpr int kMaxWidth = 8;

// xp[0..W-2] = 0 (the causal left padding), xp[W-1+t] = x[b,d,t].
template <class T>
void load_row(const mamba_conv_args& a, int64_t b, int64_t d, std::vector<T>& xp) {
  const int W = (int)a.width;
  std::fill(xp.begin(), xp.begin() + (W - 1), T(0));
  gather2d<T>(a.x, a.dtype, b * a.x_stride[0] + d * a.x_stride[1], a.x_stride[2], 1, (int)a.length, 1, 1,
              xp.data() + (W - 1));
}

// pre[t] = bias + sum_k w[k] x[t - W + 1 + k]
template <class T>
void conv_row(const mamba_conv_args& a, int64_t d, const std::vector<T>& xp, std::vector<T>& pre) {
  const int W = (int)a.width;
  T w[kMaxWidth];
  for (int k = 0; k < W; ++k) w[k] = T(a.weight[d * W + k]);
  const T bias = a.bias ? T(a.bias[d]) : T(0);
  for (int64_t t = 0; t < a.length; ++t) {
    T s = bias;
    for (int k = 0; k < W; ++k) s += w[k] * xp[t + k];
    pre[t] = s;
  }
}

template <class T>
void forward(const mamba_conv_args& a, void* out, const int64_t* os) {
  parallel_for(a.batch * a.dim, [&](int64_t row) {
    const int64_t b = row / a.dim, d = row % a.dim;
    std::vector<T> xp(a.length + a.width - 1), y(a.length);
    load_row(a, b, d, xp);
    conv_row(a, d, xp, y);
    if (a.silu)
      for (auto& v : y) v = mamba::silu(v);
    scatter2d<T>(out, a.dtype, b * os[0] + d * os[1], os[2], 1, (int)a.length, 1, 1, y.data());
  }, double(a.batch) * a.dim * a.length * a.width);
}

template <class T>
void backward(const mamba_conv_args& a, const void* dout, const int64_t* dos, void* dx, const int64_t* dxs,
              float* dweight, float* dbias) {
  const int W = (int)a.width;
  parallel_for(a.dim, [&](int64_t d) {
    std::vector<T> xp(a.length + W - 1), g(a.length + W - 1), pre(a.length), dxr(a.length);
    T w[kMaxWidth], dw[kMaxWidth] = {};
    T db = T(0);
    for (int k = 0; k < W; ++k) w[k] = T(a.weight[d * W + k]);
    for (int64_t b = 0; b < a.batch; ++b) {
      load_row(a, b, d, xp);
      // g[t] = d loss / d pre[t]; g past the end stays 0 so dx needs no bounds checks.
      gather2d<T>(dout, a.dtype, b * dos[0] + d * dos[1], dos[2], 1, (int)a.length, 1, 1, g.data());
      std::fill(g.begin() + a.length, g.end(), T(0));
      if (a.silu) {
        conv_row(a, d, xp, pre);
        for (int64_t t = 0; t < a.length; ++t) g[t] *= mamba::silu_grad(pre[t]);
      }
      for (int64_t t = 0; t < a.length; ++t) {
        T s = T(0);  // x[t] feeds pre[t + W - 1 - k] through w[k]
        for (int k = 0; k < W; ++k) s += w[k] * g[t + W - 1 - k];
        dxr[t] = s;
        db += g[t];
      }
      for (int k = 0; k < W; ++k) {
        T s = T(0);
        for (int64_t t = 0; t < a.length; ++t) s += g[t] * xp[t + k];
        dw[k] += s;
      }
      scatter2d<T>(dx, a.dtype, b * dxs[0] + d * dxs[1], dxs[2], 1, (int)a.length, 1, 1, dxr.data());
    }
    for (int k = 0; k < W; ++k) dweight[d * W + k] = float(dw[k]);
    if (dbias) dbias[d] = float(db);
  }, 3.0 * a.batch * a.dim * a.length * a.width);
}

int check_buffer(const void* p, const char* name) {
  return p ? MAMBA_OK : mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, std::string(name) + " is NULL");
}

}  // namespace

MAMBA_API int32_t mamba_conv1d_fwd_cpu(const mamba_conv_args* args, void* out, const int64_t out_stride[3]) {
  mamba::clear_error();
  if (int rc = validate_conv(args)) return rc;
  if (int rc = check_buffer(out, "out")) return rc;
  if (int rc = check_buffer(out_stride, "out_stride")) return rc;
  if (int rc = mamba::check_conv_layout("conv1d (cpu)", args)) return rc;
  if (int rc = mamba::check_conv_tensor("conv1d (cpu)", "out", args, out_stride, true)) return rc;
  try {
    if (args->dtype == MAMBA_F64)
      forward<double>(*args, out, out_stride);
    else
      forward<float>(*args, out, out_stride);
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_conv1d_fwd_cpu: out of memory");
  }
  return MAMBA_OK;
}

MAMBA_API int32_t mamba_conv1d_bwd_cpu(const mamba_conv_args* args, const void* dout, const int64_t dout_stride[3],
                                       void* dx, const int64_t dx_stride[3], float* dweight, float* dbias) {
  mamba::clear_error();
  if (int rc = validate_conv(args)) return rc;
  if (int rc = check_buffer(dout, "dout")) return rc;
  if (int rc = check_buffer(dout_stride, "dout_stride")) return rc;
  if (int rc = check_buffer(dx, "dx")) return rc;
  if (int rc = check_buffer(dx_stride, "dx_stride")) return rc;
  if (int rc = check_buffer(dweight, "dweight")) return rc;
  if (int rc = mamba::check_conv_layout("conv1d backward (cpu)", args)) return rc;
  if (int rc = mamba::check_conv_tensor("conv1d backward (cpu)", "dout", args, dout_stride, false)) return rc;
  if (int rc = mamba::check_conv_tensor("conv1d backward (cpu)", "dx", args, dx_stride, true)) return rc;
  try {
    if (args->dtype == MAMBA_F64)
      backward<double>(*args, dout, dout_stride, dx, dx_stride, dweight, dbias);
    else
      backward<float>(*args, dout, dout_stride, dx, dx_stride, dweight, dbias);
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_conv1d_bwd_cpu: out of memory");
  }
  return MAMBA_OK;
}
