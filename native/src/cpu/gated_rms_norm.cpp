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
#include "cpu/fast_math.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

namespace {

// Rows per task: at least 16, and at most ~256 tasks (the backward keeps one dweight row per task).
int64_t rows_per_task(int64_t rows) { return std::max<int64_t>(16, (rows + 255) / 256); }

// sigmoid(z) through exp2_approx (branch-free, so the loops over it vectorise).
inline float sigmoid(float z) { return 1.f / (1.f + exp2_approx(-z * 1.44269504f)); }

// sum of a[i] * b[i] in eight interleaved partial sums (added in a fixed order), so the loop vectorises.
inline float dot8(const float* a, const float* b, int64_t n) {
  float part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) part[k] += a[i + k] * b[i + k];
  for (; i < n; ++i) part[i & 7] += a[i] * b[i];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
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
      for (int64_t i = 0; i < size; ++i) {
        const float zv = float(Codec::get(zr[i]));
        h[i] = float(Codec::get(yr[i])) * zv * sigmoid(zv);
      }
      for (int64_t g = 0; g < groups; ++g) {
        float* hg = h.data() + g * gs;
        const float rs = 1.f / std::sqrt(dot8(hg, hg, gs) / float(gs) + eps);
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
    std::vector<float> buffers(size_t(5 * size));
    // Distinct rows of one buffer; __restrict lets the element loops vectorise.
    float* __restrict yv = buffers.data();
    float* __restrict zv = yv + size;
    float* __restrict sv = zv + size;
    float* __restrict n = sv + size;
    float* __restrict g = n + size;
    float* __restrict acc = partial.data() + task * size;
    for (int64_t r = task * per; r < std::min(rows, (task + 1) * per); ++r) {
      const S* __restrict yr = y + r * size;
      const S* __restrict zr = z + r * size;
      const S* __restrict dr = dout + r * size;
      S* __restrict dyr = dy + r * size;
      S* __restrict dzr = dz + r * size;
      for (int64_t k = 0; k < groups; ++k) {
        const int64_t at = k * gs;
        const float rs = rstd[r * groups + k];
        for (int64_t i = at; i < at + gs; ++i) {
          yv[i] = float(Codec::get(yr[i]));
          zv[i] = float(Codec::get(zr[i]));
          g[i] = float(Codec::get(dr[i]));  // dout for now
        }
        for (int64_t i = at; i < at + gs; ++i) sv[i] = sigmoid(zv[i]);
        for (int64_t i = at; i < at + gs; ++i) {
          const float d = g[i];
          n[i] = yv[i] * zv[i] * sv[i] * rs;
          g[i] = d * w[i];
          acc[i] += d * n[i];
        }
        const float mean = dot8(g + at, n + at, gs) / float(gs);
        for (int64_t i = at; i < at + gs; ++i) {
          const float dh = rs * (g[i] - n[i] * mean);
          dyr[i] = Codec::put(dh * zv[i] * sv[i]);
          dzr[i] = Codec::put(dh * yv[i] * sv[i] * (1.f + zv[i] * (1.f - sv[i])));
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
