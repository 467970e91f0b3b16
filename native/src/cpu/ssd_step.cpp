// mamba_ssd_step_cpu: one decoding step of the Mamba-2 mixer (see mamba_native.h). Two passes, every output
// written by one task in a fixed order (bitwise reproducible, independent of the thread count):
//   1. per batch row: shift conv_state (stored values moved as they are), depthwise conv, SiLU -> v = x | B | C
//   2. per (batch, head): Δ, decay, state update of the head's P x N state, C readout, D skip
//      (ssd_step_head_*: 8 lanes of n, AVX2+FMA or portable like the scan, ssd_impl.h)
// Exact libm exp/log1p for Δ and the decay (one each per head); the SiLU uses fast_math.h's 2^x (~1e-7 relative).
#include <algorithm>
#include <cmath>
#include <new>
#include <vector>
#include "common/errors.h"
#include "common/ssd_validate.h"
#include "cpu/cpu_features.h"
#include "cpu/dtype_convert.h"
#include "cpu/fast_math.h"
#include "cpu/ssd_problem.h"
#include "cpu/thread_pool.h"

using namespace mamba::cpu;

MAMBA_API int32_t mamba_ssd_step_cpu(const mamba_ssd_step_args* args) {
  mamba::clear_error();
  if (int rc = mamba::check_ssd_step("mamba_ssd_step_cpu", args)) return rc;
  const mamba_ssd_step_args& a = *args;
  const int64_t H = a.heads, P = a.head_dim, G = a.groups, N = a.state, W = a.width;
  const int64_t inner = H * P, K = inner + 2 * G * N, hpg = H / G;
  try {
    auto head = use_avx2() ? ssd_step_head_avx2 : ssd_step_head_generic;
    std::vector<float> v(size_t(a.batch * K + a.batch * inner));  // conv outputs, then each head's readout
    parallel_for(a.batch, [&](int64_t b) {
      float* vb = v.data() + b * K;
      with_codec(a.dtype, [&](auto codec) {  // the storage codec inlined into the loops, not switched per element
        using Codec = decltype(codec);
        using S = typename Codec::S;
        S* cs = static_cast<S*>(a.conv_state) + b * a.conv_state_stride[0];
        const S* in = static_cast<const S*>(a.xBC) + b * a.xBC_stride[0];
        const int64_t sk = a.conv_state_stride[1], sw = a.conv_state_stride[2];
        for (int64_t k = 0; k < K; ++k) {
          S* win = cs + k * sk;
          for (int64_t w = 0; w + 1 < W; ++w) win[w * sw] = win[(w + 1) * sw];
          win[(W - 1) * sw] = in[k * a.xBC_stride[1]];
          float s = a.conv_bias ? a.conv_bias[k] : 0.f;
          for (int64_t w = 0; w < W; ++w) s += a.conv_weight[k * W + w] * Codec::get(win[w * sw]);
          vb[k] = s;
        }
      });
      // SiLU with the CPU scan's branch-free 2^x (~1e-7 relative), a loop that vectorises.
      for (int64_t k = 0; k < K; ++k) vb[k] = vb[k] / (1.f + exp2_approx(-vb[k] * 1.44269504f));
    }, double(a.batch) * K * (W + 8));
    parallel_for(a.batch * H, [&](int64_t task) {
      const int64_t b = task / H, h = task % H, g = h / hpg;
      const float* vb = v.data() + b * K;
      const float* Bv = vb + inner + g * N;
      const float* Cv = vb + inner + G * N + g * N;
      const float s = load_elem<float>(a.dt, a.dtype, b * a.dt_stride[0] + h * a.dt_stride[1]) +
                      (a.dt_bias ? a.dt_bias[h] : 0.f);
      float dt = a.dt_softplus ? (s <= 20.f ? std::log1p(std::exp(s)) : s) : s;
      dt = std::min(std::max(dt, a.dt_min), a.dt_max);
      const float decay = std::exp(-dt * std::exp(a.A_log[h]));
      float* y = v.data() + a.batch * K + task * P;  // this task's own P floats after the conv outputs
      head(a.ssm_state + (b * H + h) * P * N, P, N, decay, dt, vb + h * P, Bv, Cv, a.D ? a.D[h] : 0.f, y);
      for (int64_t p = 0; p < P; ++p)
        store_elem<float>(a.out, a.dtype, b * a.out_stride[0] + (h * P + p) * a.out_stride[1], y[p]);
    }, double(a.batch) * H * P * N * 2);
  } catch (const std::bad_alloc&) {
    return mamba::fail(MAMBA_ERR_OUT_OF_MEMORY, "mamba_ssd_step_cpu: out of memory");
  }
  return MAMBA_OK;
}
