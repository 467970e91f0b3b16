// Gated RMSNorm on the CPU, forward and backward (math in mamba_native.h): one pass over each row instead of the
// dozen fp32 tensor ops of the TorchSharp form, each of which reads and writes a copy of the activations.
// Rows are handed out in fixed blocks; the backward's dweight is summed per block and the blocks' sums are added in
// block order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <new>
#include <vector>
#include "common/abi_validate.h"
#include "common/errors.h"
#include "cpu/dtype_convert.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

namespace {

// Rows per task: at least 16, and at most ~256 tasks (the backward keeps one dweight row per task).
int64_t rows_per_task(int64_t rows) { return std::max<int64_t>(16, (rows + 255) / 256); }

struct Gate {
  float silu, sigmoid;
};
inline Gate gate(float z) {
  const float s = 1.f / (1.f + std::exp(-z));
  return {z * s, s};
}

template <class Codec>
void forward(int64_t rows, int64_t size, int64_t groups, const void* yp, const void* zp, const float* w, float eps,
             void* outp, float* rstd) {
  using S = typename Codec::S;
  const S* y = static_cast<const S*>(yp);
  const S* z = static_cast<const S*>(zp);
  S* out = static_cast<S*>(outp);
  const int64_t per = rows_per_task(rows), tasks = (rows + per - 1) / per, gs = size / groups;
  parallel_for(tasks, [&](int64_t task) {
    std::vector<float> h(size);
    for (int64_t r = task * per; r < std::min(rows, (task + 1) * per); ++r) {
      const S* yr = y + r * size;
      const S* zr = z + r * size;
      for (int64_t i = 0; i < size; ++i) h[i] = float(Codec::get(yr[i])) * gate(float(Codec::get(zr[i]))).silu;
      for (int64_t g = 0; g < groups; ++g) {
        float* hg = h.data() + g * gs;
        float sum = 0.f;
        for (int64_t i = 0; i < gs; ++i) sum += hg[i] * hg[i];
        const float rs = 1.f / std::sqrt(sum / float(gs) + eps);
        if (rstd) rstd[r * groups + g] = rs;
        S* o = out + r * size + g * gs;
        const float* wg = w + g * gs;
        for (int64_t i = 0; i < gs; ++i) o[i] = Codec::put(wg[i] * float(Codec::get(Codec::put(hg[i] * rs))));
      }
    }
  }, double(rows) * double(size) * 8);
}

template <class Codec>
void backward(int64_t rows, int64_t size, int64_t groups, const void* yp, const void* zp, const float* w,
              const float* rstd, const void* doutp, void* dyp, void* dzp, float* dweight) {
  using S = typename Codec::S;
  const S* y = static_cast<const S*>(yp);
  const S* z = static_cast<const S*>(zp);
  const S* dout = static_cast<const S*>(doutp);
  S* dy = static_cast<S*>(dyp);
  S* dz = static_cast<S*>(dzp);
  const int64_t per = rows_per_task(rows), tasks = (rows + per - 1) / per, gs = size / groups;
  std::vector<float> partial(size_t(tasks * size), 0.f);
  parallel_for(tasks, [&](int64_t task) {
    std::vector<float> yv(size), sv(size), sl(size), n(size), g(size);
    float* acc = partial.data() + task * size;
    for (int64_t r = task * per; r < std::min(rows, (task + 1) * per); ++r) {
      const S* yr = y + r * size;
      const S* zr = z + r * size;
      const S* dr = dout + r * size;
      for (int64_t i = 0; i < size; ++i) {
        const Gate q = gate(float(Codec::get(zr[i])));
        yv[i] = float(Codec::get(yr[i]));
        sv[i] = q.sigmoid;
        sl[i] = q.silu;
        const float d = float(Codec::get(dr[i]));
        n[i] = yv[i] * q.silu * rstd[r * groups + i / gs];
        g[i] = d * w[i];
        acc[i] += d * n[i];
      }
      for (int64_t k = 0; k < groups; ++k) {
        const int64_t at = k * gs;
        const float rs = rstd[r * groups + k];
        float dot = 0.f;
        for (int64_t i = at; i < at + gs; ++i) dot += g[i] * n[i];
        const float mean = dot / float(gs);
        for (int64_t i = at; i < at + gs; ++i) {
          const float dh = rs * (g[i] - n[i] * mean);
          const float zf = float(Codec::get(zr[i]));
          dy[r * size + i] = Codec::put(dh * sl[i]);
          dz[r * size + i] = Codec::put(dh * yv[i] * sv[i] * (1.f + zf * (1.f - sv[i])));
        }
      }
    }
  }, double(rows) * double(size) * 16);
  // dweight: the tasks' sums in task order, split over columns.
  const int64_t col_block = 256, col_tasks = (size + col_block - 1) / col_block;
  parallel_for(col_tasks, [&](int64_t c) {
    for (int64_t i = c * col_block; i < std::min(size, (c + 1) * col_block); ++i) {
      float s = 0.f;
      for (int64_t t = 0; t < tasks; ++t) s += partial[size_t(t * size + i)];
      dweight[i] = s;
    }
  }, double(tasks) * double(size));
}

}  // namespace

MAMBA_API int32_t mamba_gated_rms_norm_fwd_cpu(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                               const void* z, const float* weight, float eps, void* out, float* rstd) {
  mamba::clear_error();
  if (int rc = mamba::check_gated_rms_norm("gated rms norm forward (cpu)", rows, size, groups, dtype, y, z, weight, out,
                                           rstd, nullptr, nullptr, nullptr, nullptr, false))
    return rc;
  try {
    with_codec(dtype, [&](auto codec) { forward<decltype(codec)>(rows, size, groups, y, z, weight, eps, out, rstd); });
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "gated rms norm forward (cpu): out of memory");
  }
  return MAMBA_OK;
}

MAMBA_API int32_t mamba_gated_rms_norm_bwd_cpu(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                               const void* z, const float* weight, const float* rstd, const void* dout,
                                               void* dy, void* dz, float* dweight) {
  mamba::clear_error();
  if (int rc = mamba::check_gated_rms_norm("gated rms norm backward (cpu)", rows, size, groups, dtype, y, z, weight,
                                           nullptr, rstd, dout, dy, dz, dweight, true))
    return rc;
  try {
    with_codec(dtype, [&](auto codec) {
      backward<decltype(codec)>(rows, size, groups, y, z, weight, rstd, dout, dy, dz, dweight);
    });
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "gated rms norm backward (cpu): out of memory");
  }
  return MAMBA_OK;
}
