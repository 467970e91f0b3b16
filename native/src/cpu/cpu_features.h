// Which fp32 kernel set to run. MAMBA_CPU_ISA=generic in the environment forces the portable one
// (used by the tests to cover the fallback on AVX2 machines).
#pragma once
#include <cstdlib>
#include <cstring>

namespace mamba {
namespace cpu {
inline bool use_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  const char* force = std::getenv("MAMBA_CPU_ISA");
  if (force && std::strcmp(force, "generic") == 0) return false;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}
}  // namespace cpu
}  // namespace mamba
