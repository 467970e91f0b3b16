// Test helpers: strided device tensors of any storage dtype, filled from and read back into fp64.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>
#include "mamba_native.h"

#define CHECK_CUDA(x)                                                                      \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(2);                                                                        \
    }                                                                                      \
  } while (0)

inline size_t dtype_size(int dt) { return dt == MAMBA_F32 ? 4 : 2; }

// Rounds v to what the dtype stores.
inline double round_to(int dt, double v) {
  if (dt == MAMBA_F32) return (double)(float)v;
  if (dt == MAMBA_F16) return (double)__half2float(__float2half_rn((float)v));
  return (double)__bfloat162float(__float2bfloat16_rn((float)v));
}

struct DevTensor {
  std::vector<int64_t> shape, stride;
  int dtype = MAMBA_F32;
  void* ptr = nullptr;
  size_t span = 0;  // elements covered by the allocation

  // order: axes from outermost to innermost in memory; pad: extra elements on the innermost axis.
  DevTensor(std::vector<int64_t> shape_, int dtype_, std::vector<int> order = {}, int64_t pad = 0)
      : shape(shape_), stride(shape_.size()), dtype(dtype_) {
    if (order.empty())
      for (size_t i = 0; i < shape.size(); ++i) order.push_back((int)i);
    int64_t s = 1;
    for (int k = (int)order.size() - 1; k >= 0; --k) {
      stride[order[k]] = s;
      s *= shape[order[k]] + (k == (int)order.size() - 1 ? pad : 0);
    }
    span = (size_t)s;
    CHECK_CUDA(cudaMalloc(&ptr, span * dtype_size(dtype)));
    poison();
  }
  ~DevTensor() { cudaFree(ptr); }
  DevTensor(const DevTensor&) = delete;

  size_t count() const {
    size_t n = 1;
    for (auto e : shape) n *= (size_t)e;
    return n;
  }
  // Offset in elements of the logical (row-major) index i.
  size_t offset(size_t i) const {
    size_t off = 0;
    for (int k = (int)shape.size() - 1; k >= 0; --k) {
      off += (i % shape[k]) * stride[k];
      i /= shape[k];
    }
    return off;
  }
  void poison() { CHECK_CUDA(cudaMemset(ptr, 0xFF, span * dtype_size(dtype))); }  // NaN in every dtype

  // Uploads v (logical order); v is rounded in place to the stored precision.
  void upload(std::vector<double>& v) {
    std::vector<unsigned char> host(span * dtype_size(dtype), 0xFF);
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = round_to(dtype, v[i]);
      const size_t o = offset(i);
      if (dtype == MAMBA_F32) { float f = (float)v[i]; std::memcpy(&host[o * 4], &f, 4); }
      else if (dtype == MAMBA_F16) { __half h = __float2half_rn((float)v[i]); std::memcpy(&host[o * 2], &h, 2); }
      else { __nv_bfloat16 h = __float2bfloat16_rn((float)v[i]); std::memcpy(&host[o * 2], &h, 2); }
    }
    CHECK_CUDA(cudaMemcpy(ptr, host.data(), host.size(), cudaMemcpyHostToDevice));
  }
  std::vector<double> download() const {
    std::vector<unsigned char> host(span * dtype_size(dtype));
    CHECK_CUDA(cudaMemcpy(host.data(), ptr, host.size(), cudaMemcpyDeviceToHost));
    std::vector<double> v(count());
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t o = offset(i);
      if (dtype == MAMBA_F32) { float f; std::memcpy(&f, &host[o * 4], 4); v[i] = f; }
      else if (dtype == MAMBA_F16) { __half h; std::memcpy(&h, &host[o * 2], 2); v[i] = __half2float(h); }
      else { __nv_bfloat16 h; std::memcpy(&h, &host[o * 2], 2); v[i] = __bfloat162float(h); }
    }
    return v;
  }
  std::vector<unsigned char> raw() const {
    std::vector<unsigned char> host(span * dtype_size(dtype));
    CHECK_CUDA(cudaMemcpy(host.data(), ptr, host.size(), cudaMemcpyDeviceToHost));
    return host;
  }
  template <typename T> T* as() const { return static_cast<T*>(ptr); }
};

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  std::vector<double> normal(size_t n, double scale = 1.0, double mean = 0.0) {
    std::normal_distribution<double> d(mean, scale);
    std::vector<double> v(n);
    for (auto& x : v) x = d(gen);
    return v;
  }
  std::vector<double> uniform(size_t n, double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> v(n);
    for (auto& x : v) x = d(gen);
    return v;
  }
};

// |got - ref| <= atol * max(1, max|ref|) + rtol * |ref| everywhere; NaN (unwritten) always fails.
struct Compare {
  double rtol, atol;
  bool ok = true;
  std::string report;
  void check(const char* name, const std::vector<double>& got, const std::vector<double>& ref) {
    double scale = 1.0, worst = 0.0;
    size_t worst_i = 0;
    bool bad = false;
    for (double r : ref) scale = std::max(scale, std::fabs(r));
    for (size_t i = 0; i < ref.size(); ++i) {
      const double err = std::fabs(got[i] - ref[i]);
      const double tol = atol * scale + rtol * std::fabs(ref[i]);
      if (!(err <= tol)) bad = true;
      if (!(err <= worst) ) { worst = std::isnan(err) ? INFINITY : err; worst_i = i; }
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, " %s:%.2e", name, worst);
    report += buf;
    if (bad) {
      ok = false;
      std::snprintf(buf, sizeof buf, "[BAD at %zu: got %.6g ref %.6g]", worst_i, got[worst_i], ref[worst_i]);
      report += buf;
    }
  }
};
