// Device tests of the CUDA selective scan and causal conv1d against fp64 CPU references.
// Usage: test_scan_cuda [--quick]   (--quick: a few small cases, for compute-sanitizer)
#include <algorithm>
#include <cstring>
#include <memory>
#include "../reference/conv_reference.h"
#include "../reference/scan_reference.h"
#include "test_util.cuh"

namespace {

int g_pass = 0, g_fail = 0;

void result(bool ok, const std::string& name, const std::string& detail) {
  std::printf("%s %s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  (ok ? g_pass : g_fail)++;
}

struct ScanCase {
  const char* name;
  int B, D, L, N, G;
  int dtype, bc_dtype;
  bool z, Dp, bias, init, dfinal, softplus;
  bool strided;      // (batch, length, dim) views with padding, B/C as (batch, length, groups, state), A transposed
  bool determinism;  // run backward twice and compare bits
  int pad = -1;      // extra elements on the innermost axis of the (batch, dim, length) tensors; -1: 3 if strided, else 0
  bool misalign = false;  // u read from one element past a 16-byte boundary (rules out the forward's 16-byte vectors)
};

using Tensor = std::unique_ptr<DevTensor>;

// A (batch, dim, length) tensor, contiguous or as a padded (batch, length, dim) view.
int bdl_pad(const ScanCase& c) { return c.pad >= 0 ? c.pad : c.strided ? 3 : 0; }
Tensor bdl(const ScanCase& c, int dtype) {
  std::vector<int64_t> shape{c.B, c.D, c.L};
  if (c.strided) return std::make_unique<DevTensor>(shape, dtype, std::vector<int>{0, 2, 1}, bdl_pad(c));
  if (bdl_pad(c) > 0) return std::make_unique<DevTensor>(shape, dtype, std::vector<int>{0, 1, 2}, bdl_pad(c));
  return std::make_unique<DevTensor>(shape, dtype);
}
Tensor bgnl(const ScanCase& c) {
  std::vector<int64_t> shape{c.B, c.G, c.N, c.L};
  return c.strided ? std::make_unique<DevTensor>(shape, c.bc_dtype, std::vector<int>{0, 3, 1, 2}, 2)
                   : std::make_unique<DevTensor>(shape, c.bc_dtype);
}
Tensor f32(std::vector<int64_t> shape) { return std::make_unique<DevTensor>(shape, MAMBA_F32); }

void copy_stride(int64_t* dst, const DevTensor& t) {
  for (size_t i = 0; i < t.stride.size(); ++i) dst[i] = t.stride[i];
}

// Whether every element of t's allocation outside its logical elements (the padding) still holds the poison:
// a kernel storing whole 16-byte vectors past the end of a row would overwrite it.
bool padding_untouched(const DevTensor& t) {
  const size_t es = dtype_size(t.dtype);
  std::vector<char> logical(t.span, 0);
  for (size_t i = 0; i < t.count(); ++i) logical[t.offset(i)] = 1;
  const std::vector<unsigned char> raw = t.raw();
  for (size_t o = 0; o < t.span; ++o)
    if (!logical[o])
      for (size_t k = 0; k < es; ++k)
        if (raw[o * es + k] != 0xFF) return false;
  return true;
}

void run_scan_case(const ScanCase& c, uint64_t seed) {
  Rng rng(seed);
  RefScan r{};
  r.B = c.B; r.D = c.D; r.L = c.L; r.N = c.N; r.G = c.G; r.softplus = c.softplus;
  r.has_z = c.z; r.has_D = c.Dp; r.has_bias = c.bias; r.has_init = c.init; r.has_dfinal = c.dfinal;
  const size_t bdl_n = (size_t)c.B * c.D * c.L, bc_n = (size_t)c.B * c.G * c.N * c.L, bdn = (size_t)c.B * c.D * c.N;
  r.u = rng.normal(bdl_n);
  r.delta = c.softplus ? rng.normal(bdl_n, 0.5, -1.0) : rng.uniform(bdl_n, 0.01, 0.5);
  r.z = rng.normal(bdl_n);
  r.A = rng.uniform((size_t)c.D * c.N, -2.0, -0.1);
  r.Bm = rng.normal(bc_n);
  r.Cm = rng.normal(bc_n);
  r.Dv = rng.normal(c.D);
  r.bias = rng.normal(c.D, 0.3);
  r.init = rng.normal(bdn);
  r.dout = rng.normal(bdl_n);
  r.dfinal = rng.normal(bdn);

  Tensor u = bdl(c, c.dtype), delta = bdl(c, c.dtype), z = bdl(c, c.dtype), out = bdl(c, c.dtype);
  Tensor dout = bdl(c, c.dtype), du = bdl(c, c.dtype), ddelta = bdl(c, c.dtype), dz = bdl(c, c.dtype);
  Tensor Bt = bgnl(c), Ct = bgnl(c), dB = bgnl(c), dC = bgnl(c);
  Tensor A = c.strided ? std::make_unique<DevTensor>(std::vector<int64_t>{c.D, c.N}, MAMBA_F32, std::vector<int>{1, 0})
                       : f32({c.D, c.N});
  Tensor Dt = f32({c.D}), bias = f32({c.D}), init = f32({c.B, c.D, c.N}), fin = f32({c.B, c.D, c.N});
  Tensor dfin = f32({c.B, c.D, c.N}), dinit = f32({c.B, c.D, c.N}), dA = f32({c.D, c.N}), dD = f32({c.D});
  Tensor dbias = f32({c.D});
  u->upload(r.u); delta->upload(r.delta); z->upload(r.z); A->upload(r.A); Bt->upload(r.Bm); Ct->upload(r.Cm);
  Dt->upload(r.Dv); bias->upload(r.bias); init->upload(r.init); dout->upload(r.dout); dfin->upload(r.dfinal);
  r.run();

  // misalign: a copy of u one element into its buffer.
  const size_t es = dtype_size(c.dtype);
  void* shifted_raw = nullptr;
  if (c.misalign) {
    CHECK_CUDA(cudaMalloc(&shifted_raw, (u->span + 1) * es));
    CHECK_CUDA(cudaMemcpy(static_cast<char*>(shifted_raw) + es, u->ptr, u->span * es, cudaMemcpyDeviceToDevice));
  }
  const std::unique_ptr<void, cudaError_t (*)(void*)> shifted(shifted_raw, cudaFree);

  mamba_scan_args a{};
  a.batch = c.B; a.dim = c.D; a.length = c.L; a.state = c.N; a.groups = c.G;
  a.dtype = c.dtype; a.bc_dtype = c.bc_dtype; a.delta_softplus = c.softplus; a.deterministic = 1;
  a.u = c.misalign ? static_cast<char*>(shifted_raw) + es : u->ptr; copy_stride(a.u_stride, *u);
  a.delta = delta->ptr; copy_stride(a.delta_stride, *delta);
  a.A = A->as<float>(); copy_stride(a.A_stride, *A);
  a.B = Bt->ptr; copy_stride(a.B_stride, *Bt);
  a.C = Ct->ptr; copy_stride(a.C_stride, *Ct);
  a.D = c.Dp ? Dt->as<float>() : nullptr;
  a.z = c.z ? z->ptr : nullptr; copy_stride(a.z_stride, *z);
  a.delta_bias = c.bias ? bias->as<float>() : nullptr;
  a.initial_state = c.init ? init->as<float>() : nullptr;

  mamba_scan_outputs o{};
  o.out = out->ptr; copy_stride(o.out_stride, *out);
  o.final_state = fin->as<float>();
  int rc = mamba_scan_fwd_cuda(&a, &o, nullptr);
  CHECK_CUDA(cudaDeviceSynchronize());
  const double rtol = c.dtype == MAMBA_F32 && c.bc_dtype == MAMBA_F32 ? 6e-4 : 3e-2;
  const double atol = c.dtype == MAMBA_F32 && c.bc_dtype == MAMBA_F32 ? 2e-3 : 5e-2;
  if (rc != MAMBA_OK) {
    result(false, std::string(c.name) + " fwd", std::string(" rc=") + std::to_string(rc) + " " + mamba_last_error());
    return;
  }
  Compare fw{rtol, atol};
  fw.check("out", out->download(), r.out);
  fw.check("final", fin->download(), r.final_state);
  if (bdl_pad(c) > 0) {
    const bool kept = padding_untouched(*out);
    fw.ok = fw.ok && kept;
    fw.report += kept ? " out padding kept" : " [BAD: out padding overwritten]";
  }
  result(fw.ok, std::string(c.name) + " fwd", fw.report);

  mamba_scan_grads gr{};
  gr.dout = dout->ptr; copy_stride(gr.dout_stride, *dout);
  gr.dfinal_state = c.dfinal ? dfin->as<float>() : nullptr;
  gr.du = du->ptr; copy_stride(gr.du_stride, *du);
  gr.ddelta = ddelta->ptr; copy_stride(gr.ddelta_stride, *ddelta);
  gr.dA = dA->as<float>();
  gr.dB = dB->ptr; copy_stride(gr.dB_stride, *dB);
  gr.dC = dC->ptr; copy_stride(gr.dC_stride, *dC);
  gr.dD = c.Dp ? dD->as<float>() : nullptr;
  gr.dz = c.z ? dz->ptr : nullptr; copy_stride(gr.dz_stride, *dz);
  gr.ddelta_bias = c.bias ? dbias->as<float>() : nullptr;
  gr.dinitial_state = c.init ? dinit->as<float>() : nullptr;
  rc = mamba_scan_bwd_cuda(&a, &gr, nullptr);
  CHECK_CUDA(cudaDeviceSynchronize());
  if (rc != MAMBA_OK) {
    result(false, std::string(c.name) + " bwd", std::string(" rc=") + std::to_string(rc) + " " + mamba_last_error());
    return;
  }
  Compare bw{rtol, atol};
  bw.check("du", du->download(), r.du);
  bw.check("ddelta", ddelta->download(), r.ddelta);
  bw.check("dA", dA->download(), r.dA);
  bw.check("dB", dB->download(), r.dB);
  bw.check("dC", dC->download(), r.dC);
  if (c.Dp) bw.check("dD", dD->download(), r.dD);
  if (c.z) bw.check("dz", dz->download(), r.dz);
  if (c.bias) bw.check("dbias", dbias->download(), r.dbias);
  if (c.init) bw.check("dinit", dinit->download(), r.dinit);
  result(bw.ok, std::string(c.name) + " bwd", bw.report);

  // Again with the checkpoints written by the forward (outputs->checkpoints), which skip the backward's pass.
  if (const int64_t nck = mamba_scan_checkpoint_floats_cuda(&a); nck > 0) {
    Tensor ck = f32({nck});
    for (DevTensor* t : {out.get(), du.get(), ddelta.get(), dA.get(), dB.get(), dC.get(), dD.get(), dz.get(), dbias.get(), dinit.get()})
      t->poison();
    o.checkpoints = ck->as<float>();
    gr.checkpoints = ck->as<float>();
    rc = mamba_scan_fwd_cuda(&a, &o, nullptr);
    if (rc == MAMBA_OK) rc = mamba_scan_bwd_cuda(&a, &gr, nullptr);
    CHECK_CUDA(cudaDeviceSynchronize());
    o.checkpoints = nullptr;
    gr.checkpoints = nullptr;
    Compare ckc{rtol, atol};
    if (rc == MAMBA_OK) {
      ckc.check("out", out->download(), r.out);
      ckc.check("du", du->download(), r.du);
      ckc.check("ddelta", ddelta->download(), r.ddelta);
      ckc.check("dA", dA->download(), r.dA);
      ckc.check("dB", dB->download(), r.dB);
      ckc.check("dC", dC->download(), r.dC);
      if (c.z) ckc.check("dz", dz->download(), r.dz);
      if (c.init) ckc.check("dinit", dinit->download(), r.dinit);
    }
    result(rc == MAMBA_OK && ckc.ok, std::string(c.name) + " bwd from forward checkpoints",
           rc == MAMBA_OK ? ckc.report : std::string(" rc=") + std::to_string(rc) + " " + mamba_last_error());
  }

  if (c.determinism) {
    const DevTensor* outs[] = {du.get(), ddelta.get(), dA.get(), dB.get(), dC.get(), dD.get(), dz.get(), dbias.get(), dinit.get()};
    std::vector<std::vector<unsigned char>> first;
    for (auto* t : outs) first.push_back(t->raw());
    for (auto* t : outs) const_cast<DevTensor*>(t)->poison();
    rc = mamba_scan_bwd_cuda(&a, &gr, nullptr);
    CHECK_CUDA(cudaDeviceSynchronize());
    bool same = rc == MAMBA_OK;
    for (size_t i = 0; i < first.size() && same; ++i) same = first[i] == outs[i]->raw();
    result(same, std::string(c.name) + " deterministic", same ? " bitwise equal" : " differs");
  }
}

struct ConvCase {
  const char* name;
  int B, D, L, W, dtype;
  bool silu, bias, strided;  // strided: x and dout as padded (batch, length, dim) views
  bool mixed;                // out and dx in the other layout than x and dout
};

void run_conv_case(const ConvCase& c, uint64_t seed) {
  Rng rng(seed);
  RefConv r{};
  r.B = c.B; r.D = c.D; r.L = c.L; r.W = c.W; r.silu = c.silu; r.has_bias = c.bias;
  const size_t n = (size_t)c.B * c.D * c.L;
  r.x = rng.normal(n); r.w = rng.normal((size_t)c.D * c.W, 0.5); r.bias = rng.normal(c.D, 0.3); r.dout = rng.normal(n);
  ScanCase shape{c.name, c.B, c.D, c.L, 1, 1, c.dtype, c.dtype};
  shape.strided = c.strided;
  ScanCase other = shape;
  other.strided = c.mixed ? !c.strided : c.strided;
  Tensor x = bdl(shape, c.dtype), out = bdl(other, c.dtype), dout = bdl(shape, c.dtype), dx = bdl(other, c.dtype);
  Tensor w = f32({c.D, c.W}), b = f32({c.D}), dw = f32({c.D, c.W}), db = f32({c.D});
  x->upload(r.x); w->upload(r.w); b->upload(r.bias); dout->upload(r.dout);
  r.run();
  mamba_conv_args a{};
  a.batch = c.B; a.dim = c.D; a.length = c.L; a.width = c.W; a.dtype = c.dtype; a.silu = c.silu;
  a.x = x->ptr; copy_stride(a.x_stride, *x);
  a.weight = w->as<float>(); a.bias = c.bias ? b->as<float>() : nullptr;
  int rc = mamba_conv1d_fwd_cuda(&a, out->ptr, out->stride.data(), nullptr);
  if (rc == MAMBA_OK)
    rc = mamba_conv1d_bwd_cuda(&a, dout->ptr, dout->stride.data(), dx->ptr, dx->stride.data(), dw->as<float>(),
                               c.bias ? db->as<float>() : nullptr, nullptr);
  CHECK_CUDA(cudaDeviceSynchronize());
  if (rc != MAMBA_OK) {
    result(false, c.name, std::string(" rc=") + std::to_string(rc) + " " + mamba_last_error());
    return;
  }
  const bool f32 = c.dtype == MAMBA_F32;
  Compare cm{f32 ? 6e-4 : 3e-2, f32 ? 2e-3 : 5e-2};
  cm.check("out", out->download(), r.out);
  cm.check("dx", dx->download(), r.dx);
  cm.check("dw", dw->download(), r.dw);
  if (c.bias) cm.check("db", db->download(), r.db);
  result(cm.ok, c.name, cm.report);
}

void run_error_cases() {
  mamba_scan_args a{};
  a.batch = 1; a.dim = 4; a.length = 8; a.state = 300; a.groups = 1;
  mamba_scan_outputs o{};
  int rc = mamba_scan_fwd_cuda(&a, &o, nullptr);
  result(rc == MAMBA_ERR_INVALID_ARGUMENT && std::strlen(mamba_last_error()) > 0, "error: state 300 rejected",
         std::string(" -> ") + mamba_last_error());
  a.state = 16; a.groups = 3;
  rc = mamba_scan_fwd_cuda(&a, &o, nullptr);
  result(rc == MAMBA_ERR_INVALID_ARGUMENT, "error: dim % groups rejected", std::string(" -> ") + mamba_last_error());
  // A time stride of 2^23 elements: the tiles' 32-bit offsets could overflow, so the call is refused (before any
  // pointer is read) and names the tensor; the managed side falls back to the reference for such views.
  float dummy = 0.f;
  a.groups = 1; a.dtype = MAMBA_F32; a.bc_dtype = MAMBA_F32;
  a.u = &dummy; a.delta = &dummy; a.A = &dummy; a.B = &dummy; a.C = &dummy;
  const int64_t ok[3] = {32, 8, 1}, huge[3] = {32, 1, int64_t(1) << 23};
  std::copy(ok, ok + 3, a.u_stride);
  std::copy(huge, huge + 3, a.delta_stride);
  o.out = &dummy;
  std::copy(ok, ok + 3, o.out_stride);
  rc = mamba_scan_fwd_cuda(&a, &o, nullptr);
  result(rc == MAMBA_ERR_UNSUPPORTED && std::strstr(mamba_last_error(), "delta") != nullptr,
         "error: stride 2^23 refused, naming the tensor", std::string(" -> ") + mamba_last_error());
  mamba_conv_args c{};
  c.batch = 1; c.dim = 1; c.length = 4; c.width = 9;
  rc = mamba_conv1d_fwd_cuda(&c, nullptr, nullptr, nullptr);
  result(rc == MAMBA_ERR_INVALID_ARGUMENT, "error: conv width 9 rejected", std::string(" -> ") + mamba_last_error());
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("GPU: %s (sm_%d%d)%s\n", prop.name, prop.major, prop.minor, quick ? " [quick]" : "");
  constexpr int F = MAMBA_F32, H = MAMBA_F16, BF = MAMBA_BF16;
  //                 name                          B   D    L    N   G  dtype bc  z     D     bias  init  dfin  sp    strided det
  const ScanCase all[] = {
      {"f32 L=1 N=4",                               2,  5,   1,   4, 1, F,  F,  true, true, true, true, true, true, false, false},
      {"f32 N=16 L=100 D=37 all options",           2, 37, 100,  16, 1, F,  F,  true, true, true, true, true, true, false, true},
      {"f32 N=1 bare (no z/D/bias/init, no sp)",    1,  3,  33,   1, 1, F,  F,  false,false,false,false,false,false,false,false},
      {"f32 N=64 G=2 L=70",                         2, 24,  70,  64, 2, F,  F,  true, true, true, false,false,true, false,false},
      {"f32 N=256 G=2 init",                        1,  6,  40, 256, 2, F,  F,  true, false,true, true, true, true, false,false},
      {"f32 N=4 strided views",                     2, 40,  50,   4, 1, F,  F,  true, true, true, true, true, true, true,  false},
      {"f32 N=16 strided views G=2",                2, 66,  77,  16, 2, F,  F,  true, true, true, true, false,true, true,  true},
      {"f32 N=8 G=4 L=257",                         1, 12, 257,   8, 4, F,  F,  true, true, false,true, true, true, false,false},
      {"f32 N=128 L=20",                            1,  9,  20, 128, 1, F,  F,  false,true, true, true, true, true, false,false},
      {"f32 N=32 L=300 dfinal",                     2, 64, 300,  32, 1, F,  F,  true, true, true, true, true, true, false,true},
      {"bf16 N=16 all options bc=bf16",             2, 40, 130,  16, 1, BF, BF, true, true, true, true, true, true, false,true},
      {"bf16 N=16 strided bc=f32",                  2, 33,  65,  16, 1, BF, F,  true, true, true, false,false,true, true, false},
      {"f16 N=32 bc=f32",                           1, 20,  90,  32, 1, H,  F,  true, true, true, true, true, true, false,false},
      {"f16 N=4 bc=f16 G=2",                        2, 10,  17,   4, 2, H,  H,  true, false,true, false,false,true, false,false},
      // Few channel blocks and long L: time split into segments (plan_segments), last one partial.
      {"f32 N=16 L=700 time segments",              1, 40, 700,  16, 1, F,  F,  true, true, true, true, true, true, false,true},
      {"f32 N=16 L=3000 D=64 time segments",        1, 64,3000,  16, 1, F,  F,  true, true, true, true, true, true, false,true},
      {"bf16 N=16 L=2100 strided time segments",    1, 48,2100,  16, 2, BF, BF, true, true, true, true, true, true, true, false},
      // 8 x 50 = 400 blocks, more than 3 per SM on an H200: the backward's 4-blocks-per-SM variant.
      {"f32 N=16 B=8 D=1600 L=40 large grid",       8,1600, 40,  16, 1, F,  F,  true, true, true, false,false,true, false,false},
      // 2-byte types whose strides allow the forward's 16-byte vectors (8 elements along the stride-1 axis), at the
      // edges of the vector tiling: rows padded to a multiple of 8 with L not one (the last vector of a row cut
      // short: element loads and stores for it, and the padding must stay untouched), an odd D, a chunk holding
      // one vector per row, channel vectors in (batch, length, dim) views with a partial last channel block,
      // 4 and 32 states (other tile shapes), time segments; then a misaligned u, which must fall back.
      {"bf16 N=16 L=77 D=37 rows padded to 80",     2, 37,  77,  16, 1, BF, BF, true, true, true, true, true, true, false,true, 3},
      {"f16 N=16 L=200 D=64 bc=f16",                2, 64, 200,  16, 1, H,  H,  true, true, true, true, true, true, false,false},
      {"bf16 N=16 G=2 BLD views D=48 L=70",         2, 48,  70,  16, 2, BF, BF, true, true, true, true, false,true, true, false,0},
      {"bf16 N=4 L=48 D=130 bc=f32",                1,130,  48,   4, 1, BF, F,  true, true, true, false,true, true, false,false},
      {"bf16 N=32 BLD views D=40 L=96",             1, 40,  96,  32, 1, BF, BF, true, false,true, true, true, true, true, false,0},
      {"f16 N=16 L=2100 padded to 2104 time segments", 1, 48,2100, 16, 1, H,  H,  true, true, true, true, true, true, false,false,4},
      {"bf16 N=16 L=64 u misaligned",               2, 40,  64,  16, 1, BF, BF, true, true, true, true, true, true, false,false,0, true},
  };
  const ConvCase convs[] = {
      {"conv f32 W=4 silu bias",                   2,  7,   50, 4, F,  true,  true,  false, false},
      {"conv f32 W=1 plain",                       1,  3,    9, 1, F,  false, false, false, false},
      {"conv f32 W=8 silu strided L=5",            2, 10,    5, 8, F,  true,  true,  true,  false},
      {"conv bf16 W=4 silu bias",                  2, 16,   70, 4, BF, true,  true,  false, false},
      // Several time and channel tiles (64 x 32), a partial last tile of each, both layouts.
      {"conv f32 W=4 silu L=200 D=70 strided",     2, 70,  200, 4, F,  true,  true,  true,  false},
      {"conv f32 W=3 L=129 D=33 mixed layouts",    3, 33,  129, 3, F,  true,  false, false, true},
      {"conv bf16 W=4 strided->contiguous L=300",  2, 40,  300, 4, BF, true,  true,  true,  true},
      {"conv f16 W=2 silu L=65",                   1, 32,   65, 2, H,  true,  true,  false, false},
      // 9 x 16 (sequence, time tile) pairs > 128 partial slots: blocks add several pairs each.
      {"conv f32 W=4 B=9 L=1000 strided",          9, 36, 1000, 4, F,  true,  true,  true,  false},
  };
  const int quick_scan[] = {0, 1, 5, 10, 14, 18, 20};
  uint64_t seed = 1234;
  if (quick) {
    for (int i : quick_scan) run_scan_case(all[i], seed++);
    run_conv_case(convs[0], seed++);
    run_conv_case(convs[2], seed++);
    run_conv_case(convs[5], seed++);
  } else {
    for (const auto& c : all) run_scan_case(c, seed++);
    for (const auto& c : convs) run_conv_case(c, seed++);
    run_error_cases();
  }
  std::printf("SUMMARY: %d passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
