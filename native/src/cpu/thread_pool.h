// Minimal fork-join parallel loop for the CPU kernels. Tasks are claimed dynamically, so every
// task must write only its own outputs; results then do not depend on which thread ran what.
#pragma once
#include <cstdint>
#include <functional>

namespace mamba {
namespace cpu {
// Threads set by mamba_set_num_threads (0 = hardware concurrency), at least 1.
int num_threads();
// Runs fn(0..count-1) on up to num_threads() threads, the caller included. An exception thrown by
// a task is rethrown here after all threads have joined.
// `work` (any unit, e.g. state updates) estimates the total cost: small calls, like one decoding
// step, use fewer threads because starting a thread costs more than they would save.
void parallel_for(int64_t count, const std::function<void(int64_t)>& fn, double work = 1e30);
}  // namespace cpu
}  // namespace mamba
