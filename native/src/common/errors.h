// Thread-local error message shared by every entry point.
#pragma once
#include <string>
#include "mamba_native.h"

namespace mamba {
// Records a message for mamba_last_error() and returns the code, so callers can `return fail(...)`.
int fail(int code, const std::string& message);
void clear_error();
}  // namespace mamba
