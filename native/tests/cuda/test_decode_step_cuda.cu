// Device tests of the fused CUDA decode step (mamba_decode_step_cuda) against an fp64 CPU reference:
// several steps in a row (state carried), odd shapes, strided views, every optional input, three dtypes.
// Then the time of one step at the Mamba-130M layer shape (batch 1 and 16), from CUDA events.
// Usage: test_decode_step_cuda [--quick]   (--quick: the first cases only, for compute-sanitizer)
#include <memory>
#include "../reference/decode_reference.h"
#include "test_util.cuh"

namespace {

int g_pass = 0, g_fail = 0;

void result(bool ok, const std::string& name, const std::string& detail) {
  std::printf("%s %s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  (ok ? g_pass : g_fail)++;
}

struct StepCase {
  const char* name;
  int B, E, N, R, W;
  int dtype;
  bool z, D, conv_bias, dt_bias;
  bool strided;  // x and z as halves of one padded (B, 2E) row, like in_proj's output; strided conv state and out
  int steps;
};

using Tensor = std::unique_ptr<DevTensor>;
Tensor make(std::vector<int64_t> shape, int dtype, std::vector<int> order = {}, int64_t pad = 0) {
  return std::make_unique<DevTensor>(shape, dtype, order, pad);
}

struct Problem {
  StepCase c;
  RefDecodeStep ref;
  Tensor xz, out, conv, conv_w, conv_b, x_proj, dt_proj, dt_bias, A_log, D, ssm, ws;
  mamba_step_args a{};

  Problem(const StepCase& c_, uint64_t seed) : c(c_) {
    Rng rng(seed);
    ref.B = c.B; ref.E = c.E; ref.N = c.N; ref.R = c.R; ref.W = c.W;
    ref.has_z = c.z; ref.has_D = c.D; ref.has_conv_bias = c.conv_bias; ref.has_dt_bias = c.dt_bias;
    const int J = c.R + 2 * c.N;
    // x and z live in one (B, 2E [+pad]) buffer either way; the strided case pads its rows.
    xz = make({c.B, 2 * (int64_t)c.E}, c.dtype, {}, c.strided ? 5 : 0);
    out = c.strided ? make({c.B, c.E}, c.dtype, {}, 3) : make({c.B, c.E}, c.dtype);
    // Strided case: conv state stored (B, W, E), i.e. width is not the innermost axis.
    conv = c.strided ? make({c.B, c.E, c.W}, c.dtype, {0, 2, 1}, 2) : make({c.B, c.E, c.W}, c.dtype);
    conv_w = make({c.E, c.W}, MAMBA_F32); conv_b = make({c.E}, MAMBA_F32);
    x_proj = make({J, c.E}, c.dtype); dt_proj = make({c.E, c.R}, c.dtype);
    dt_bias = make({c.E}, MAMBA_F32); A_log = make({c.E, c.N}, MAMBA_F32); D = make({c.E}, MAMBA_F32);
    ssm = make({c.B, c.E, c.N}, MAMBA_F32);
    ws = make({(int64_t)c.B * (c.E + J)}, MAMBA_F32);

    ref.conv_w = rng.normal((size_t)c.E * c.W, 0.5); ref.conv_b = rng.normal(c.E, 0.3);
    ref.x_proj = rng.normal((size_t)J * c.E, 1.0 / std::sqrt((double)c.E));
    ref.dt_proj = rng.normal((size_t)c.E * c.R, 1.0 / std::sqrt((double)c.R));
    ref.dt_bias = rng.uniform(c.E, -4.0, -1.0);
    ref.A_log = rng.uniform((size_t)c.E * c.N, 0.0, 2.5);
    ref.D = rng.normal(c.E, 1.0);
    ref.conv = rng.normal((size_t)c.B * c.E * c.W);
    ref.ssm = rng.normal((size_t)c.B * c.E * c.N, 0.5);
    conv_w->upload(ref.conv_w); conv_b->upload(ref.conv_b); x_proj->upload(ref.x_proj); dt_proj->upload(ref.dt_proj);
    dt_bias->upload(ref.dt_bias); A_log->upload(ref.A_log); D->upload(ref.D); conv->upload(ref.conv); ssm->upload(ref.ssm);

    a.batch = c.B; a.dim = c.E; a.state = c.N; a.dt_rank = c.R; a.width = c.W; a.dtype = c.dtype;
    const size_t es = dtype_size(c.dtype);
    a.x = xz->ptr; a.x_stride[0] = xz->stride[0]; a.x_stride[1] = 1;
    a.z = c.z ? static_cast<char*>(xz->ptr) + c.E * es : nullptr; a.z_stride[0] = xz->stride[0]; a.z_stride[1] = 1;
    a.conv_state = conv->ptr; for (int i = 0; i < 3; ++i) a.conv_state_stride[i] = conv->stride[i];
    a.conv_weight = conv_w->as<float>(); a.conv_bias = c.conv_bias ? conv_b->as<float>() : nullptr;
    a.x_proj_weight = x_proj->ptr; a.dt_proj_weight = dt_proj->ptr;
    a.dt_bias = c.dt_bias ? dt_bias->as<float>() : nullptr; a.A_log = A_log->as<float>();
    a.D = c.D ? D->as<float>() : nullptr; a.ssm_state = ssm->as<float>(); a.workspace = ws->as<float>();
    a.out = out->ptr; a.out_stride[0] = out->stride[0]; a.out_stride[1] = out->stride[1];
  }

  // New x and z for one step, written into the shared xz buffer and mirrored in the reference.
  void next_input(Rng& rng) {
    std::vector<double> both = rng.normal((size_t)c.B * 2 * c.E);
    xz->upload(both);
    ref.x.assign((size_t)c.B * c.E, 0); ref.z.assign((size_t)c.B * c.E, 0);
    for (int b = 0; b < c.B; ++b)
      for (int e = 0; e < c.E; ++e) {
        ref.x[(size_t)b * c.E + e] = both[(size_t)b * 2 * c.E + e];
        ref.z[(size_t)b * c.E + e] = both[(size_t)b * 2 * c.E + c.E + e];
      }
  }
};

void run_case(const StepCase& c, uint64_t seed) {
  Problem p(c, seed);
  Rng rng(seed + 1000);
  const bool f32 = c.dtype == MAMBA_F32;
  Compare cm{f32 ? 1e-4 : 3e-2, f32 ? 1e-4 : 5e-2};
  for (int s = 0; s < c.steps; ++s) {
    p.next_input(rng);
    const int rc = mamba_decode_step_cuda(&p.a, nullptr);
    CHECK_CUDA(cudaDeviceSynchronize());
    if (rc != MAMBA_OK) {
      result(false, c.name, std::string(" rc=") + std::to_string(rc) + " " + mamba_last_error());
      return;
    }
    p.ref.step();
    // The reference state continues from what the kernel stored (rounded conv state), as decoding does.
    p.ref.conv = p.conv->download();
    cm.check("out", p.out->download(), p.ref.out);
  }
  cm.check("ssm_state", p.ssm->download(), p.ref.ssm);
  result(cm.ok, c.name, cm.report);
}

void run_error_cases() {
  mamba_step_args a{};
  a.batch = 1; a.dim = 4; a.state = 300; a.dt_rank = 1; a.width = 4;
  int rc = mamba_decode_step_cuda(&a, nullptr);
  result(rc == MAMBA_ERR_INVALID_ARGUMENT && std::strstr(mamba_last_error(), "state"), "error: state 300 rejected",
         std::string(" -> ") + mamba_last_error());
  a.state = 16; a.width = 9;
  rc = mamba_decode_step_cuda(&a, nullptr);
  result(rc == MAMBA_ERR_INVALID_ARGUMENT && std::strstr(mamba_last_error(), "width"), "error: width 9 rejected",
         std::string(" -> ") + mamba_last_error());
  a.width = 4;
  rc = mamba_decode_step_cuda(&a, nullptr);
  result(rc == MAMBA_ERR_INVALID_ARGUMENT, "error: NULL tensors rejected", std::string(" -> ") + mamba_last_error());
}

// RMSNorm rows (the decode path's norm) against fp64, with padded row strides.
void run_rms_norm_case(int rows, int size, int dtype, uint64_t seed) {
  Rng rng(seed);
  auto x = make({rows, size}, dtype, {}, 3), out = make({rows, size}, dtype, {}, 5), w = make({size}, dtype);
  std::vector<double> xv = rng.normal((size_t)rows * size, 2.0), wv = rng.normal(size, 1.0, 1.0);
  x->upload(xv); w->upload(wv);
  const int rc = mamba_rms_norm_cuda(rows, size, dtype, x->ptr, x->stride[0], w->ptr, 1e-5f, out->ptr, out->stride[0], nullptr);
  CHECK_CUDA(cudaDeviceSynchronize());
  const std::string name = "rms norm rows=" + std::to_string(rows) + " size=" + std::to_string(size) + " dtype=" + std::to_string(dtype);
  if (rc != MAMBA_OK) { result(false, name, std::string(" rc=") + mamba_last_error()); return; }
  std::vector<double> ref(xv.size());
  for (int r = 0; r < rows; ++r) {
    double sum = 0;
    for (int i = 0; i < size; ++i) sum += xv[(size_t)r * size + i] * xv[(size_t)r * size + i];
    const double scale = 1 / std::sqrt(sum / size + 1e-5);
    for (int i = 0; i < size; ++i) ref[(size_t)r * size + i] = xv[(size_t)r * size + i] * scale * wv[i];
  }
  const bool f32 = dtype == MAMBA_F32;
  Compare cm{f32 ? 1e-5 : 2e-2, f32 ? 1e-5 : 2e-2};
  cm.check("out", out->download(), ref);
  result(cm.ok, name, cm.report);
}

// Microseconds per step (3 kernels) at the Mamba-130M layer shape: E 1536, N 16, dt_rank 48, width 4.
void time_step(int batch, int dtype) {
  StepCase c{"timing", batch, 1536, 16, 48, 4, dtype, true, true, true, true, false, 1};
  Problem p(c, 7);
  Rng rng(8);
  p.next_input(rng);
  for (int i = 0; i < 20; ++i) mamba_decode_step_cuda(&p.a, nullptr);
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start)); CHECK_CUDA(cudaEventCreate(&stop));
  const int iters = 2000;
  CHECK_CUDA(cudaEventRecord(start));
  for (int i = 0; i < iters; ++i) mamba_decode_step_cuda(&p.a, nullptr);
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  std::printf("TIME decode step %s batch %d (E 1536, N 16, dt_rank 48, W 4): %.2f us per step (%d back-to-back)\n",
              dtype == MAMBA_F32 ? "f32" : "bf16", batch, 1000.0 * ms / iters, iters);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  constexpr int F = MAMBA_F32, H = MAMBA_F16, BF = MAMBA_BF16;
  //                 name                                  B    E    N    R  W  dtype z     D     cbias dbias strided steps
  const StepCase all[] = {
      {"f32 B=1 E=37 N=16 R=3 W=4 all options",            1,  37,  16,  3, 4, F,  true, true, true, true, false, 5},
      {"f32 B=3 E=5 N=4 R=1 W=2 strided",                  3,   5,   4,  1, 2, F,  true, true, true, true, true,  4},
      {"f32 B=2 E=1 N=1 R=1 W=1 bare",                     2,   1,   1,  1, 1, F,  false,false,false,false,false, 3},
      {"f32 B=11 E=300 N=64 R=20 W=8 (batch tiles 8+3)",  11, 300,  64, 20, 8, F,  true, true, true, true, true,  3},
      {"f32 B=2 E=130 N=256 R=9 W=4",                      2, 130, 256,  9, 4, F,  true, false,true, true, false, 3},
      {"f32 B=1 E=1536 N=16 R=48 W=4 (130M layer)",        1,1536,  16, 48, 4, F,  true, true, true, true, false, 4},
      {"bf16 B=3 E=200 N=16 R=13 W=4 strided",             3, 200,  16, 13, 4, BF, true, true, true, true, true,  4},
      {"f16 B=2 E=64 N=32 R=4 W=3",                        2,  64,  32,  4, 3, H,  true, true, false,true, false, 4},
  };
  uint64_t seed = 99;
  const int n = quick ? 3 : (int)(sizeof all / sizeof all[0]);
  for (int i = 0; i < n; ++i) run_case(all[i], seed++);
  run_rms_norm_case(3, 770, F, seed++);
  if (!quick) {
    run_rms_norm_case(1, 1, F, seed++);
    run_rms_norm_case(16, 768, BF, seed++);
    run_error_cases();
    for (int b : {1, 16}) time_step(b, F);
    time_step(1, BF);
  }
  std::printf("SUMMARY: %d passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
