// Fork-join parallel loop for the CPU kernels over a persistent pool of worker threads. Tasks are claimed
// dynamically, so every task must write only its own outputs; results then do not depend on which thread ran what.
#pragma once
#include <cstdint>
#include <functional>

namespace mamba {
namespace cpu {
// Threads set by mamba_set_num_threads (0 = hardware concurrency), at least 1.
int num_threads();
// Runs fn(0..count-1) on up to num_threads() threads, the caller included, and returns when every task has finished.
// An exception thrown by a task stops the handing out of further tasks and is rethrown here once the running ones
// have finished (the first one, if several throw).
// `work` (any unit, e.g. state updates; ~0.5 ns each on one core) estimates the total cost: small calls, like one
// decoding step, use fewer threads, because handing a task to another thread costs more than they would save.
// Runs inline on the calling thread (same results: tasks are independent) when called from inside a task (nested),
// while another thread's call holds the pool, or for 50 ms after a call waited on a worker that lost its core.
void parallel_for(int64_t count, const std::function<void(int64_t)>& fn, double work = 1e30);

// Work units (see parallel_for) per thread below which a call does not use another thread.
constexpr double kWorkPerThread = 2e4;

// For tests and benchmarks: worker threads currently alive (the caller is not one), how many parallel_for calls
// ran inline because another call held the pool, and whether calls run inline after a worker stalled a call (a
// worker that lost its core mid-task; see thread_pool.cpp), which clear_backoff ends.
int pool_workers_alive();
int64_t pool_inline_calls();
bool pool_backing_off();
void pool_clear_backoff();
}  // namespace cpu
}  // namespace mamba
