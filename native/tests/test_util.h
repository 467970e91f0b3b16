// Test helpers: strided host tensors of any mamba_dtype, random data, tolerance checks.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>
#include "cpu/dtype_convert.h"
#include "mamba_native.h"

namespace mt {

// A tensor stored with arbitrary element strides in some dtype; `at` maps a logical row-major
// index to the storage offset, so reference code can use flat logical vectors.
struct Tensor {
  int dtype = MAMBA_F32;
  std::vector<int64_t> shape, stride;
  std::vector<unsigned char> bytes;

  static size_t elem_size(int dtype) { return dtype == MAMBA_F64 ? 8 : dtype == MAMBA_F32 ? 4 : 2; }
  // order: physical axis order, outermost first (a permutation of the logical axes); pad adds
  // unused elements after each innermost run so strides are not a dense packing.
  Tensor(int dt, std::vector<int64_t> shp, std::vector<int> order = {}, int64_t pad = 0) : dtype(dt), shape(shp) {
    const int r = (int)shape.size();
    if (order.empty())
      for (int i = 0; i < r; ++i) order.push_back(i);
    stride.assign(r, 0);
    int64_t s = 1;
    for (int i = r - 1; i >= 0; --i) {
      stride[order[i]] = s;
      s *= shape[order[i]] + (i == r - 1 ? pad : 0);
    }
    bytes.assign(size_t(std::max<int64_t>(s, 1)) * elem_size(dt), 0xff);  // garbage in the gaps
  }
  int64_t numel() const {
    int64_t n = 1;
    for (auto v : shape) n *= v;
    return n;
  }
  int64_t offset(int64_t flat) const {
    int64_t off = 0;
    for (int i = (int)shape.size() - 1; i >= 0; --i) {
      off += (flat % shape[i]) * stride[i];
      flat /= shape[i];
    }
    return off;
  }
  void* data() { return bytes.data(); }
  const int64_t* st() const { return stride.data(); }
  double get(int64_t flat) const { return mamba::cpu::load_elem<double>(bytes.data(), dtype, offset(flat)); }
  void set(int64_t flat, double v) { mamba::cpu::store_elem<double>(bytes.data(), dtype, offset(flat), v); }
  // Stores v and replaces v by what the storage actually holds (so references see rounded inputs).
  void fill(std::vector<double>& v) {
    for (int64_t i = 0; i < numel(); ++i) {
      set(i, v[i]);
      v[i] = get(i);
    }
  }
  std::vector<double> values() const {
    std::vector<double> v(numel());
    for (int64_t i = 0; i < numel(); ++i) v[i] = get(i);
    return v;
  }
};

inline std::vector<double> randn(std::mt19937_64& g, int64_t n, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * d(g);
  return v;
}
inline std::vector<double> rand01(std::mt19937_64& g, int64_t n, double scale = 1.0, double shift = 0.0) {
  std::uniform_real_distribution<double> d(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = shift + scale * d(g);
  return v;
}
// Rounds to fp32 in place and returns the float copy (for the always-fp32 parameters).
inline std::vector<float> as_f32(std::vector<double>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = f[i] = float(v[i]);
  return f;
}
inline std::vector<double> to_f64(const std::vector<float>& f) { return std::vector<double>(f.begin(), f.end()); }

// |got - ref| <= atol + rtol |ref| elementwise, reporting the worst offender.
inline void expect_close(const std::string& name, const std::vector<double>& got, const std::vector<double>& ref,
                         double rtol, double atol) {
  ASSERT_EQ(got.size(), ref.size()) << name;
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(got[i] - ref[i]), lim = atol + rtol * std::fabs(ref[i]);
    if (!(err <= lim)) ++bad;
    if (!(err - lim <= worst_excess)) {
      worst_excess = err - lim;
      worst = i;
    }
  }
  EXPECT_EQ(bad, 0u) << name << ": " << bad << " of " << ref.size() << " elements off; worst at " << worst
                     << ": got " << got[worst] << " want " << ref[worst];
}

}  // namespace mt
