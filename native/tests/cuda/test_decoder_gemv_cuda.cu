// Device tests of the decoder's tensor-core GEMV (src/cuda/decoder_gemv_mma.cuh) against fp64 host references:
// rows not a multiple of the 16-row m-tile nor of a block's rows, cols 16, 40, 48, 768, 1536, 2568 (a partial
// last k-chunk, one warp's share, several per warp, K in registers of 4 and 8 chunks, K in two rounds), batch 8, 9, 16, 17, 33, 64
// (padded n-tiles, one pass and several), both prologues (CopyInput, NormInput's RMSNorm) into an epilogue that
// stores with a leading dimension, and lm_head's epilogue: bf16 logits and the greedy argmax (ties: the lowest id;
// ids from sample_vocab on are never chosen) over tall matrices, where a block takes several m-tiles. Also which
// products launch_gemv gives to the tensor cores (bitwise equal to the direct launch) and which stay on gemv_kernel
// (fp32 weights, batch < 8, misaligned weights, cols % 8 != 0), those checked against the reference as well.
// And the Mamba-2 decoder's gated-norm prologue (decoder_gated_norm.cuh), fp32 and bf16, bit for bit against its
// first, straightforward formulation: one group or many, aligned or not, rows wider than its registers hold.
// Usage: test_decoder_gemv_cuda [--quick]   (--quick: a few cases, for compute-sanitizer)
// Build (from native/): nvcc -std=c++17 -arch=sm_90 -I include -I src -DMAMBA_NATIVE_BUILD \
//   tests/cuda/test_decoder_gemv_cuda.cu src/common/errors.cpp -o test_decoder_gemv_cuda
#include <algorithm>
#include <cstdint>
#include "cuda/decoder_common.cuh"
#include "cuda/decoder_gated_norm.cuh"
#include "test_util.cuh"

// The Mamba-2 decoder's gated-norm prologue as it was first written (before decoder_gated_norm.cuh loaded y, z and the
// weight in one round): y staged, then the gate from z, the sums, then the weight read by scale_columns. The
// decoder's prologue must give the same bits; only its loads were reordered.
namespace mamba::cuda::decoder {
template <typename T>
struct GatedNormStraight {
  const float* y;
  const float* z;
  const float* weight;
  float eps;
  int group;
  __device__ void stage(float* xs, int64_t b0, int tile, int cols) const {
    constexpr int kWarps = kThreads / 32;
    __shared__ float partial[kWarps];
    __shared__ float scale[kWarps];
    stage_copy(xs, y + b0 * cols, tile * cols);
    __syncthreads();
    // The gate: eight independent loads of z per thread in flight, then the products.
    const float* zt = z + b0 * cols;
    const int n = tile * cols;
    for (int i0 = threadIdx.x; i0 < n; i0 += 8 * kThreads) {
      float zv[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) zv[u] = i0 + u * kThreads < n ? zt[i0 + u * kThreads] : 0.f;
#pragma unroll
      for (int u = 0; u < 8; ++u)
        if (i0 + u * kThreads < n) xs[i0 + u * kThreads] *= torch_silu(zv[u]);
    }
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int groups_per_row = cols / group, parts = tile * groups_per_row;  // part = t * groups_per_row + g
    if (parts <= kWarps) {
      const int slices = kWarps / parts;  // warps per part
      if (warp < parts * slices) {
        const int part = warp / slices, slice = warp % slices;
        const float* v = xs + (int64_t)part * group;
        float sum = 0.f;
        for (int k = slice * 32 + lane; k < group; k += slices * 32) sum += __fmul_rn(v[k], v[k]);
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        if (lane == 0) partial[warp] = sum;
      }
      __syncthreads();
      if (threadIdx.x < parts) {
        float sum = 0.f;
        for (int j = 0; j < slices; ++j) sum += partial[threadIdx.x * slices + j];
        scale[threadIdx.x] = rsqrtf(sum * (1.f / (float)group) + eps);
      }
      __syncthreads();
      scale_columns(xs, weight, tile, cols, [&](float x, int t, int k, float w) {
        return round_to<T>(round_to<T>(x * scale[(t * cols + k) / group]) * w);
      });
    } else {
      // Many groups: a warp per group, which it sums and then scales in place.
      for (int part = warp; part < parts; part += kWarps) {
        float* v = xs + (int64_t)part * group;
        const float* w = weight + (int64_t)(part % groups_per_row) * group;
        float sum = 0.f;
        for (int k = lane; k < group; k += 32) sum += __fmul_rn(v[k], v[k]);
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const float sc = rsqrtf(sum * (1.f / (float)group) + eps);
        for (int k = lane; k < group; k += 32) v[k] = round_to<T>(round_to<T>(v[k] * sc) * w[k]);
      }
    }
    __syncthreads();
  }
};
}  // namespace mamba::cuda::decoder

namespace {

namespace dec = mamba::cuda::decoder;
using bf16 = __nv_bfloat16;

int g_pass = 0, g_fail = 0;
int g_sms = 1;
cudaStream_t g_stream = nullptr;

void result(bool ok, const std::string& name, const std::string& detail) {
  std::printf("%s %s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  (ok ? g_pass : g_fail)++;
}

double bf(double v) { return round_to(MAMBA_BF16, v); }

template <typename T>
T* upload(const std::vector<double>& v) {
  std::vector<T> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = static_cast<T>((float)v[i]);
  T* d = nullptr;
  CHECK_CUDA(cudaMalloc(&d, std::max<size_t>(h.size(), 1) * sizeof(T) + 16));
  CHECK_CUDA(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <typename T>
std::vector<T> download(const T* d, size_t n) {
  std::vector<T> h(n);
  CHECK_CUDA(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

enum class Pro { Copy, Norm };
const char* name_of(Pro p) { return p == Pro::Copy ? "copy" : "norm"; }
enum class Path { Mma, Dispatch };  // launch_gemv_mma directly, or launch_gemv (whatever it picks)

// The inputs of a product and what the kernels see of them: xhat[b][k] (bf16 values), and per element the width
// of its bf16 rounding's uncertainty (0, or one bf16 step where the fp32 kernel may round the other way: the
// norm's pre-rounding value within 1e-5 of a rounding midpoint).
struct Inputs {
  int batch, cols;
  std::vector<double> raw;     // (batch, cols): CopyInput's x, or NormInput's residual (fp32 values)
  std::vector<double> weight;  // (cols): NormInput's weight
  double eps = 1e-5;
  std::vector<double> xhat, slack;
};

Inputs make_inputs(Pro pro, int batch, int cols, Rng& rng, int design = 0) {
  Inputs in{batch, cols};
  in.raw = rng.normal((size_t)batch * cols);
  if (design == 1)  // lm_head test: even rows large on the first half of k, odd rows on the second half
    for (int b = 0; b < batch; ++b)
      for (int k = 0; k < cols; ++k) {
        const bool big = (k < cols / 2) == (b % 2 == 0);
        double& v = in.raw[(size_t)b * cols + k];
        v = big ? 0.5 + 0.5 * std::fabs(v) : 0.05 * v;
      }
  for (int b = 0; b < batch; ++b)  // rows of different scales
    for (int k = 0; k < cols; ++k) {
      double& v = in.raw[(size_t)b * cols + k];
      v = (double)(float)(v * (1.0 + 0.25 * b));
    }
  in.weight = rng.uniform(cols, 0.5, 1.5);
  for (auto& w : in.weight) w = (double)(float)w;
  in.xhat.assign(in.raw.size(), 0.0);
  in.slack.assign(in.raw.size(), 0.0);
  for (int b = 0; b < batch; ++b) {
    const double* r = &in.raw[(size_t)b * cols];
    double scale = 1.0;
    if (pro == Pro::Norm) {
      double ss = 0.0;
      for (int k = 0; k < cols; ++k) ss += bf(r[k]) * bf(r[k]);
      scale = 1.0 / std::sqrt(ss / cols + in.eps);
    }
    for (int k = 0; k < cols; ++k) {
      const size_t i = (size_t)b * cols + k;
      if (pro == Pro::Copy) {
        in.xhat[i] = bf(r[k]);  // the kernel rounds the fp32 value to nearest-even, as this does
      } else {
        const double v = bf(r[k]) * scale * in.weight[k];
        in.xhat[i] = bf(v);
        const double down = bf(v * (1 - 1e-5)), up = bf(v * (1 + 1e-5));
        if (down != up) in.slack[i] = std::fabs(up - down);
      }
    }
  }
  return in;
}

// Reference Y[b][r] = sum_k W[r][k] xhat[b][k] and its tolerance: 3e-5 of sum |W x| (fp32 accumulation in a
// different order) plus the inputs' rounding slack.
void reference(const std::vector<double>& W, int rows, const Inputs& in, std::vector<double>& y, std::vector<double>& tol) {
  const int cols = in.cols;
  y.assign((size_t)in.batch * rows, 0.0);
  tol.assign(y.size(), 0.0);
  for (int b = 0; b < in.batch; ++b) {
    const double* x = &in.xhat[(size_t)b * cols];
    const double* s = &in.slack[(size_t)b * cols];
    for (int r = 0; r < rows; ++r) {
      const double* w = &W[(size_t)r * cols];
      double acc = 0.0, mag = 0.0, sl = 0.0;
      for (int k = 0; k < cols; ++k) {
        acc += w[k] * x[k];
        mag += std::fabs(w[k] * x[k]);
        sl += std::fabs(w[k]) * s[k];
      }
      y[(size_t)b * rows + r] = acc;
      tol[(size_t)b * rows + r] = 3e-5 * mag + sl + 1e-30;
    }
  }
}

// Device copies of a prologue's inputs.
struct DevInputs {
  float* raw = nullptr;
  float* weight = nullptr;
  explicit DevInputs(const Inputs& in) : raw(upload<float>(in.raw)), weight(upload<float>(in.weight)) {}
  ~DevInputs() {
    cudaFree(raw);
    cudaFree(weight);
  }
};

// Opts in (launch false), then launches. Returns the launcher's status; *handled: whether the tensor-core kernel ran.
template <typename T, class P, class E>
int run(Path path, const T* W, int rows, int cols, int batch, const P& pro, const E& epi, bool* handled) {
  *handled = false;
  for (bool launch : {false, true}) {
    const dec::Target at{g_stream, g_sms, launch};
    int rc = 0;
    if (path == Path::Dispatch) {
      rc = dec::launch_gemv(W, rows, cols, batch, pro, epi, at);
    } else {
      if constexpr (std::is_same_v<T, bf16>) rc = dec::launch_gemv_mma(W, rows, cols, batch, pro, epi, at, handled);
    }
    if (rc != MAMBA_OK) return rc;
  }
  CHECK_CUDA(cudaStreamSynchronize(g_stream));
  return MAMBA_OK;
}

template <class E>
int run_pro(Path path, Pro pro, const bf16* W, int rows, int cols, int batch, const DevInputs& d, double eps,
            const E& epi, bool* handled) {
  if (pro == Pro::Copy) return run(path, W, rows, cols, batch, dec::CopyInput{d.raw}, epi, handled);
  return run(path, W, rows, cols, batch, dec::NormInput<bf16>{d.raw, d.weight, (float)eps}, epi, handled);
}

// Y through StoreEpilogue into a (batch, rows + 3) buffer: every (b, r < rows) within tolerance, the padding
// columns untouched (NaN).
std::vector<float> store_product(Path path, Pro pro, const bf16* W, int rows, const Inputs& in, bool* handled, int* rc) {
  const int ld = rows + 3;
  DevInputs d(in);
  float* out = nullptr;
  CHECK_CUDA(cudaMalloc(&out, (size_t)in.batch * ld * sizeof(float)));
  CHECK_CUDA(cudaMemset(out, 0xFF, (size_t)in.batch * ld * sizeof(float)));
  dec::StoreEpilogue epi;
  epi.out = out;
  epi.ld = ld;
  *rc = run_pro(path, pro, W, rows, in.cols, in.batch, d, in.eps, epi, handled);
  std::vector<float> h = download(out, (size_t)in.batch * ld);
  cudaFree(out);
  return h;
}

std::string check_store(const std::vector<float>& got, int rows, const Inputs& in, const std::vector<double>& ref,
                         const std::vector<double>& tol, bool* ok) {
  const int ld = rows + 3;
  double worst = 0.0;
  int bad = 0, touched = 0;
  char where[160] = "";
  for (int b = 0; b < in.batch; ++b) {
    for (int r = 0; r < rows; ++r) {
      const double g = got[(size_t)b * ld + r], e = ref[(size_t)b * rows + r], t = tol[(size_t)b * rows + r];
      const double ratio = std::fabs(g - e) / t;
      if (!(ratio <= 1.0)) {
        if (bad++ == 0)
          std::snprintf(where, sizeof where, " first bad (b %d, r %d): got %.7g ref %.7g tol %.2g", b, r, g, e, t);
      }
      if (ratio > worst || std::isnan(ratio)) worst = std::isnan(ratio) ? INFINITY : ratio;
    }
    for (int r = rows; r < ld; ++r)
      if (!std::isnan(got[(size_t)b * ld + r])) ++touched;
  }
  *ok = bad == 0 && touched == 0;
  char buf[320];
  std::snprintf(buf, sizeof buf, ": worst err/tol %.3f, %d bad, %d padding written%s", worst, bad, touched, where);
  return buf;
}

void test_store(int rows, int cols, int batch, Pro pro, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> W = rng.normal((size_t)rows * cols, 1.0 / std::sqrt((double)cols));
  for (auto& w : W) w = bf(w);
  const Inputs in = make_inputs(pro, batch, cols, rng);
  std::vector<double> ref, tol;
  reference(W, rows, in, ref, tol);
  bf16* dW = upload<bf16>(W);
  bool handled = false, ok = false;
  int rc = 0;
  const std::vector<float> got = store_product(Path::Mma, pro, dW, rows, in, &handled, &rc);
  char name[128];
  std::snprintf(name, sizeof name, "mma store rows %d cols %d batch %d %s", rows, cols, batch, name_of(pro));
  if (rc != MAMBA_OK || !handled) {
    result(false, name, std::string(": not run on tensor cores, rc ") + std::to_string(rc) + " " + mamba_last_error());
  } else {
    const std::string detail = check_store(got, rows, in, ref, tol, &ok);
    result(ok, name, detail);
  }
  cudaFree(dW);
}

// lm_head: rows = vocab, NormInput (the final norm), LmHeadEpilogue. Planted rows: A (ids a[]) weights 0.25 on the
// first half of k, B (ids b[]) on the second half; even batch rows are large on the first half, odd ones on the
// second, so A's lowest id wins the even rows and B's lowest the odd ones, each tied with its copies exactly (same
// weights, same summation). A row past sample_vocab with larger weights everywhere must not be chosen.
void test_argmax(int vocab, int cols, int batch, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> W = rng.normal((size_t)vocab * cols, 0.02);
  const int sample_vocab = vocab - 2;
  const int a[3] = {vocab / 3 + 5, 7, vocab - 40};        // lowest: 7
  const int bb[3] = {vocab - 41, vocab / 2 + 3, vocab / 2};  // lowest: vocab / 2
  const int hidden_row = vocab - 1;                       // >= sample_vocab
  for (int k = 0; k < cols; ++k) {
    for (int r : a) W[(size_t)r * cols + k] = k < cols / 2 ? 0.25 : 0.0;
    for (int r : bb) W[(size_t)r * cols + k] = k < cols / 2 ? 0.0 : 0.25;
    W[(size_t)hidden_row * cols + k] = 0.5;
  }
  for (auto& w : W) w = bf(w);
  const Inputs in = make_inputs(Pro::Norm, batch, cols, rng, /*design=*/1);
  std::vector<double> ref, tol;
  reference(W, vocab, in, ref, tol);
  bf16* dW = upload<bf16>(W);
  DevInputs d(in);
  float* logits = nullptr;
  unsigned long long* best = nullptr;
  CHECK_CUDA(cudaMalloc(&logits, (size_t)batch * vocab * sizeof(float)));
  CHECK_CUDA(cudaMemset(logits, 0xFF, (size_t)batch * vocab * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&best, batch * sizeof(unsigned long long)));
  CHECK_CUDA(cudaMemset(best, 0, batch * sizeof(unsigned long long)));  // embed_kernel's reset
  dec::LmHeadEpilogue<bf16> epi{logits, vocab, sample_vocab, best};
  bool handled = false;
  const int rc = run_pro(Path::Mma, Pro::Norm, dW, vocab, cols, batch, d, in.eps, epi, &handled);
  char name[128];
  std::snprintf(name, sizeof name, "mma lm_head argmax vocab %d cols %d batch %d", vocab, cols, batch);
  if (rc != MAMBA_OK || !handled) {
    result(false, name, std::string(": not run on tensor cores, rc ") + std::to_string(rc) + " " + mamba_last_error());
  } else {
    const std::vector<float> lg = download(logits, (size_t)batch * vocab);
    const std::vector<unsigned long long> keys = download(best, batch);
    int bad_logits = 0, bad_ids = 0;
    std::string first;
    for (int b = 0; b < batch; ++b) {
      for (int r = 0; r < vocab; ++r) {
        const double e = ref[(size_t)b * vocab + r];
        // bf16 logits: the reference's tolerance plus one bf16 step of the value
        const double t = tol[(size_t)b * vocab + r] + std::fabs(e) * (1.0 / 128);
        if (!(std::fabs(lg[(size_t)b * vocab + r] - e) <= t)) ++bad_logits;
      }
      const int64_t want = b % 2 == 0 ? 7 : vocab / 2;
      const int64_t id = 0xffffffffu - (uint32_t)(keys[b] & 0xffffffffu);
      if (id != want || keys[b] == 0) {
        if (bad_ids++ == 0)
          first = " first bad row " + std::to_string(b) + ": id " + std::to_string(id) + ", want " + std::to_string(want);
      }
    }
    result(bad_logits == 0 && bad_ids == 0, name,
           ": " + std::to_string(bad_logits) + " bad logits, " + std::to_string(bad_ids) + " bad ids" + first);
  }
  cudaFree(dW);
  cudaFree(logits);
  cudaFree(best);
}

// launch_gemv's choice: eligible bf16 products run on tensor cores, bitwise as launched directly; the rest stay on
// gemv_kernel and are still right.
void test_dispatch(uint64_t seed) {
  const int rows = 300, cols = 768;
  Rng rng(seed);
  std::vector<double> W = rng.normal((size_t)rows * cols + 8, 1.0 / std::sqrt((double)cols));
  for (auto& w : W) w = bf(w);
  bf16* dW = upload<bf16>(W);
  // Eligible: batch 16 through launch_gemv equals the direct tensor-core launch bit for bit.
  for (Pro pro : {Pro::Copy, Pro::Norm}) {
    const Inputs in = make_inputs(pro, 16, cols, rng);
    bool h1 = false, h2 = false;
    int rc1 = 0, rc2 = 0;
    const std::vector<float> direct = store_product(Path::Mma, pro, dW, rows, in, &h1, &rc1);
    const std::vector<float> viaDispatch = store_product(Path::Dispatch, pro, dW, rows, in, &h2, &rc2);
    const bool same = rc1 == 0 && rc2 == 0 && h1 &&
                      std::memcmp(direct.data(), viaDispatch.data(), direct.size() * sizeof(float)) == 0;
    result(same, std::string("dispatch bf16 batch 16 ") + name_of(pro) + " runs on tensor cores", "");
  }
  // Not eligible: launch_gemv_mma declines, launch_gemv's product (gemv_kernel) matches the reference.
  struct Case {
    const char* what;
    int batch, cols, offset;  // offset: elements added to W's address (1: 2-byte aligned rows)
  } cases[] = {{"batch 4", 4, 768, 0}, {"batch 7", 7, 768, 0}, {"misaligned weights", 16, 768, 1}, {"cols 36", 16, 36, 0}};
  for (const Case& c : cases) {
    const int r = c.cols == 768 ? rows : 50;
    std::vector<double> Wc(W.begin() + c.offset, W.begin() + c.offset + (size_t)r * c.cols);
    const Inputs in = make_inputs(Pro::Norm, c.batch, c.cols, rng);
    std::vector<double> ref, tol;
    reference(Wc, r, in, ref, tol);
    bool handled = true, ok = false;
    int rc = 0;
    store_product(Path::Mma, Pro::Norm, dW + c.offset, r, in, &handled, &rc);
    const bool declined = rc == 0 && !handled;
    bool h2 = false;
    const std::vector<float> got = store_product(Path::Dispatch, Pro::Norm, dW + c.offset, r, in, &h2, &rc);
    const std::string detail = rc == 0 ? check_store(got, r, in, ref, tol, &ok) : " rc " + std::to_string(rc);
    result(declined && ok, std::string("dispatch bf16 ") + c.what + " stays on gemv_kernel",
           (declined ? "" : ": the tensor-core launcher took it") + detail);
  }
  // Fewer than kMmaMinRows rows (x_proj's 80 at the 130M shape): launch_gemv keeps them on gemv_kernel, still right.
  {
    const int r = 80;
    std::vector<double> Wc(W.begin(), W.begin() + (size_t)r * cols);
    const Inputs in = make_inputs(Pro::Norm, 16, cols, rng);
    std::vector<double> ref, tol;
    reference(Wc, r, in, ref, tol);
    bool h = false, ok = false;
    int rc = 0;
    const std::vector<float> got = store_product(Path::Dispatch, Pro::Norm, dW, r, in, &h, &rc);
    const std::string detail = rc == 0 ? check_store(got, r, in, ref, tol, &ok) : " rc " + std::to_string(rc);
    result(ok, "dispatch bf16 batch 16, 80 rows, on gemv_kernel", detail);
  }
  cudaFree(dW);
  // fp32 weights never take the tensor cores (launch_gemv_mma only has a bf16 overload); gemv_kernel is right.
  {
    std::vector<double> Wf = rng.normal((size_t)rows * cols, 1.0 / std::sqrt((double)cols));
    for (auto& w : Wf) w = (double)(float)w;
    const Inputs in = make_inputs(Pro::Copy, 16, cols, rng);
    Inputs exact = in;  // fp32 products see the fp32 inputs
    exact.xhat = in.raw;
    std::fill(exact.slack.begin(), exact.slack.end(), 0.0);
    std::vector<double> ref, tol;
    reference(Wf, rows, exact, ref, tol);
    float* dWf = upload<float>(Wf);
    DevInputs d(in);
    const int ld = rows + 3;
    float* out = nullptr;
    CHECK_CUDA(cudaMalloc(&out, (size_t)16 * ld * sizeof(float)));
    CHECK_CUDA(cudaMemset(out, 0xFF, (size_t)16 * ld * sizeof(float)));
    dec::StoreEpilogue epi;
    epi.out = out;
    epi.ld = ld;
    bool handled = false, ok = false;
    const int rc = run(Path::Dispatch, dWf, rows, cols, 16, dec::CopyInput{d.raw}, epi, &handled);
    const std::vector<float> got = download(out, (size_t)16 * ld);
    const std::string detail = rc == 0 ? check_store(got, rows, exact, ref, tol, &ok) : " rc " + std::to_string(rc);
    result(ok, "dispatch fp32 batch 16 on gemv_kernel", detail);
    cudaFree(out);
    cudaFree(dWf);
  }
}

// ---- the Mamba-2 gated-norm prologue ---------------------------------------------------------------------------

template <class P>
__global__ void stage_kernel(P pro, int64_t b0, int tile, int cols, float* out) {
  extern __shared__ float4 stage_smem[];
  float* xs = reinterpret_cast<float*>(stage_smem);
  pro.stage(xs, b0, tile, cols);
  for (int i = threadIdx.x; i < tile * cols; i += blockDim.x) out[i] = xs[i];
}

template <class P>
std::vector<float> run_stage(const P& pro, int64_t b0, int tile, int cols) {
  const size_t n = (size_t)tile * cols, smem = n * sizeof(float);
  CHECK_CUDA(cudaFuncSetAttribute(stage_kernel<P>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  float* out = nullptr;
  CHECK_CUDA(cudaMalloc(&out, n * sizeof(float)));
  CHECK_CUDA(cudaMemset(out, 0xff, n * sizeof(float)));  // NaN: an element never written fails
  stage_kernel<<<1, dec::kThreads, smem, g_stream>>>(pro, b0, tile, cols, out);
  CHECK_CUDA(cudaStreamSynchronize(g_stream));
  std::vector<float> h = download(out, n);
  cudaFree(out);
  return h;
}

// dec::GatedNormInput (one round of loads, the weight held in registers) against GatedNormStraight: bit for bit,
// rows b0..b0+tile-1 of a batch, `cols` channels normalised in groups of `group` (one group: several warps per sum;
// many: a warp per group), y and z 16-byte aligned or not (the vector or the scalar gate loop), rows wider than the
// weights held in registers.
template <typename T>
void test_gated_norm(int cols, int group, int tile, int b0, bool misaligned, uint64_t seed) {
  Rng rng(seed);
  const size_t n = (size_t)(b0 + tile) * cols;
  std::vector<double> y = rng.normal(n), z = rng.normal(n, 2.0), w = rng.uniform(cols, 0.5, 1.5);
  for (size_t i = 0; i < n; ++i) {  // as the decoder stores them: rounded to T; rows of different scales
    const double row_scale = 1.0 + 0.5 * (double)(i / cols);
    y[i] = std::is_same_v<T, bf16> ? bf(y[i] * row_scale) : (double)(float)(y[i] * row_scale);
    z[i] = std::is_same_v<T, bf16> ? bf(z[i]) : (double)(float)z[i];
  }
  const int off = misaligned ? 1 : 0;
  std::vector<double> ypad(off, 0.0), zpad(off, 0.0);
  ypad.insert(ypad.end(), y.begin(), y.end());
  zpad.insert(zpad.end(), z.begin(), z.end());
  float* dy = upload<float>(ypad);
  float* dz = upload<float>(zpad);
  float* dw = upload<float>(w);
  const dec::GatedNormInput<T> fast{dy + off, dz + off, dw, 1e-5f, group};
  const dec::GatedNormStraight<T> straight{dy + off, dz + off, dw, 1e-5f, group};
  const std::vector<float> got = run_stage(fast, b0, tile, cols), want = run_stage(straight, b0, tile, cols);
  size_t diff = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 || std::isnan(want[i])) {
      if (diff++ == 0) first = i;
    }
  char detail[200];
  std::snprintf(detail, sizeof detail, " (%s, cols %d, group %d, tile %d, b0 %d%s): %zu of %zu differ%s",
                std::is_same_v<T, bf16> ? "bf16" : "fp32", cols, group, tile, b0, misaligned ? ", misaligned" : "", diff,
                got.size(), diff ? (", first at " + std::to_string(first) + ": " + std::to_string(got[first]) + " vs " +
                                    std::to_string(want[first])).c_str() : "");
  result(diff == 0, "gated norm prologue bitwise", detail);
  cudaFree(dy);
  cudaFree(dz);
  cudaFree(dw);
}

template <typename T>
void test_gated_norms(uint64_t& seed, bool quick) {
  test_gated_norm<T>(1536, 1536, 1, 0, false, seed++);  // 130M at batch 1: one group, 8 warps per sum
  test_gated_norm<T>(1536, 1536, 1, 0, true, seed++);   // the scalar gate loop
  if (quick) return;
  test_gated_norm<T>(1536, 1536, 8, 8, false, seed++);  // a batch tile: 8 groups, a warp each
  test_gated_norm<T>(1536, 768, 3, 1, false, seed++);   // 6 groups of 768: one warp per group, 2 idle
  test_gated_norm<T>(1536, 64, 2, 0, false, seed++);    // 48 groups: the many-groups path
  test_gated_norm<T>(3072, 3072, 1, 0, false, seed++);  // wider than the weights held in registers
  test_gated_norm<T>(3072, 1024, 8, 0, true, seed++);   // 24 groups, misaligned, 96 KB of shared memory
  test_gated_norm<T>(998, 499, 2, 1, false, seed++);    // row 1 starts 8 bytes off a 16-byte boundary: the scalar loop
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  g_sms = prop.multiProcessorCount;
  CHECK_CUDA(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  std::printf("GPU: %s (sm_%d%d, %d SMs, %zu bytes opt-in shared memory per block)%s\n", prop.name, prop.major,
              prop.minor, g_sms, (size_t)prop.sharedMemPerBlockOptin, quick ? " [quick]" : "");
  uint64_t seed = 1;
  if (quick) {
    for (int rows : {37, 1003})
      for (int cols : {40, 1536})
        for (int batch : {9, 64})
          for (Pro pro : {Pro::Copy, Pro::Norm}) test_store(rows, cols, batch, pro, seed++);
    test_store(37, 2568, 33, Pro::Norm, seed++);  // K in two rounds of registers
    test_argmax(5003, 1536, 64, seed++);
    test_dispatch(seed++);
    test_gated_norms<float>(seed, true);
    test_gated_norms<bf16>(seed, true);
  } else {
    for (int rows : {37, 1003})
      for (int cols : {16, 40, 48, 768, 1536})
        for (int batch : {8, 9, 16, 17, 33, 64})
          for (Pro pro : {Pro::Copy, Pro::Norm}) test_store(rows, cols, batch, pro, seed++);
    // 2568 columns: 81 chunks, 11 per warp, so the weights come in two rounds of 8 chunks' registers
    for (int batch : {9, 33}) test_store(1003, 2568, batch, Pro::Norm, seed++);
    test_store(37, 2568, 64, Pro::Copy, seed++);
    test_store(20003, 768, 16, Pro::Norm, seed++);
    test_store(20003, 768, 64, Pro::Copy, seed++);
    test_argmax(20003, 768, 16, seed++);
    test_argmax(20003, 768, 64, seed++);
    test_argmax(5003, 1536, 64, seed++);  // two passes (192 KB of bf16 inputs do not fit): tile_begin/end per pass
    test_dispatch(seed++);
    test_gated_norms<float>(seed, false);
    test_gated_norms<bf16>(seed, false);
  }
  std::printf("SUMMARY %d passed, %d failed\n", g_pass, g_fail);
  cudaStreamDestroy(g_stream);
  return g_fail == 0 ? 0 : 1;
}
