#include "common/errors.h"

namespace mamba {
namespace {
thread_local std::string last_error;
}
int fail(int code, const std::string& message) {
  last_error = message;
  return code;
}
void clear_error() { last_error.clear(); }
}  // namespace mamba

MAMBA_API int32_t mamba_abi_version(void) { return MAMBA_ABI_VERSION; }

MAMBA_API int32_t mamba_has_cuda(void) {
#ifdef MAMBA_WITH_CUDA
  return 1;
#else
  return 0;
#endif
}

MAMBA_API const char* mamba_last_error(void) { return mamba::last_error.c_str(); }
