// RMSNorm of rows for decoding (forward only): out = x / sqrt(mean(x^2) + eps) * weight, fp32 mean.
// A decoding step normalises a handful of rows of a few thousand values, far below what is worth
// handing to threads, so this runs on the calling thread.
#include <cmath>
#include <string>
#include "common/abi_validate.h"
#include "common/errors.h"
#include "cpu/dtype_convert.h"

using namespace mamba::cpu;

MAMBA_API int32_t mamba_rms_norm_cpu(int64_t rows, int64_t size, int32_t dtype, const void* x, int64_t x_row_stride,
                                     const void* weight, float eps, void* out, int64_t out_row_stride) {
  mamba::clear_error();
  if (int rc = mamba::check_rms_norm("rms norm (cpu)", rows, size, dtype, x, x_row_stride, weight, out, out_row_stride))
    return rc;
  with_codec(dtype, [&](auto codec) {
    using Codec = decltype(codec);
    using S = typename Codec::S;
    const S* w = static_cast<const S*>(weight);
    for (int64_t r = 0; r < rows; ++r) {
      const S* xr = static_cast<const S*>(x) + r * x_row_stride;
      S* o = static_cast<S*>(out) + r * out_row_stride;
      float sum = 0.f;
      for (int64_t i = 0; i < size; ++i) { const float v = float(Codec::get(xr[i])); sum += v * v; }
      const float scale = 1.f / std::sqrt(sum / float(size) + eps);
      for (int64_t i = 0; i < size; ++i) o[i] = Codec::put(float(Codec::get(xr[i])) * scale * float(Codec::get(w[i])));
    }
  });
  return MAMBA_OK;
}
