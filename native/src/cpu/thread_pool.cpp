// Threads are started per call: a kernel call does milliseconds of work, a thread start
// microseconds, and nothing stays alive between calls from C#.
#include "cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>
#include "mamba_native.h"

namespace mamba {
namespace cpu {
namespace {
std::atomic<int> requested_threads{0};
}

int num_threads() {
  const int n = requested_threads.load();
  if (n > 0) return n;
  // Read once: glibc answers hardware_concurrency() by reading /sys (~7 us), too slow for per-token calls.
  static const int hardware = [] {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? int(hw) : 1;
  }();
  return hardware;
}

void parallel_for(int64_t count, const std::function<void(int64_t)>& fn, double work) {
  if (count <= 0) return;
  // ~1e5 state updates (tens of microseconds) per thread at least: about what a thread start costs.
  const double by_work = std::max(1.0, std::floor(work / 1e5));
  const int64_t nthreads = std::min<int64_t>({num_threads(), count, int64_t(std::min(by_work, 1e6))});
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (int64_t i = next++; i < count; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = count;  // stop handing out work
      }
    }
  };
  std::vector<std::thread> threads;
  try {
    for (int64_t i = 1; i < nthreads; ++i) threads.emplace_back(worker);
  } catch (const std::system_error&) {
    // could not start more threads: the ones running (and this one) still finish every task
  }
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace cpu
}  // namespace mamba

MAMBA_API void mamba_set_num_threads(int32_t threads) { mamba::cpu::requested_threads = threads > 0 ? threads : 0; }
