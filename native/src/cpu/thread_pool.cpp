// A persistent pool behind parallel_for. Decoding one token makes ~100 calls of well under a millisecond each; starting
// and joining threads per call cost more than the calls themselves on a loaded machine (the join waited until the new
// thread was scheduled). Here workers are started once and woken per call:
//  - One call at a time holds the pool (a try-lock): a call made while another thread's call holds it, or from inside
//    a task (nested), runs inline on its own thread. Nothing waits for the pool, so nothing can deadlock, and since
//    tasks are independent the results are the same either way.
//  - A call publishes its job as a new generation in one atomic word that also counts the worker slots left and the
//    workers inside the job. A worker enters by taking a slot (compare-and-swap on that generation); the caller, once
//    no task is left to claim, closes the slots and waits only for workers already inside (at most one task each), so
//    a worker that wakes late never delays a call nor touches a finished job.
//  - Between calls a worker spins (pause, then yielding) for a short while, so a token's back-to-back calls find it
//    awake, then sleeps on a condition variable; the caller notifies only when someone sleeps. Idle workers cost
//    nothing. MAMBA_CPU_SPIN_US sets the spin (microseconds; 0 = sleep at once), read once.
//  - A caller that waited on a worker's last task longer than it worked itself (the worker lost its core: a machine
//    busier than its cores, where splitting cannot gain anyway) runs calls inline for the next 50 ms.
//  - Workers are detached and the pool is never destroyed: at process exit (.NET runs no destructors in a predictable
//    order) nothing joins threads or destroys a mutex a sleeping worker still waits on.
//  - The pool has mamba_set_num_threads - 1 workers, started on the first call that needs them and resized on the
//    first call after the thread count changes (surplus workers exit when they next wake).
#include "cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>
#include "mamba_native.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MAMBA_CPU_RELAX() _mm_pause()
#else
#define MAMBA_CPU_RELAX() std::atomic_signal_fence(std::memory_order_seq_cst)
#endif

namespace mamba {
namespace cpu {
namespace {
std::atomic<int> requested_threads{0};

// True on pool workers (always) and on a caller while it runs its call's tasks: parallel_for there runs inline.
thread_local bool in_task = false;

int spin_microseconds() {
  static const int us = [] {
    const char* v = std::getenv("MAMBA_CPU_SPIN_US");
    if (!v || !*v) return 100;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return *end == '\0' && n >= 0 ? int(std::min(n, 100000L)) : 100;
  }();
  return us;
}

using Clock = std::chrono::steady_clock;

class Pool {
 public:
  // The state word: generation (bits 32-63), worker slots left in the current job (16-31), workers inside it (0-15).
  static constexpr uint64_t kActive = 0xffff, kSlot = 1ull << 16, kSlots = 0xffffull << 16;
  static uint32_t generation(uint64_t s) { return uint32_t(s >> 32); }

  // Runs the job on the caller and up to `helpers` workers; false (nothing run) when another call holds the pool.
  bool run(int64_t count, const std::function<void(int64_t)>& fn, int helpers) {
    std::unique_lock<std::mutex> hold(call_mutex_, std::try_to_lock);
    if (!hold.owns_lock()) return false;
    resize(num_threads() - 1);
    helpers = std::min({helpers, target_.load(std::memory_order_relaxed), int(kActive)});
    fn_ = &fn;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    // Publish: active is 0 and no slot is open between calls, so the word is just the generation.
    const uint64_t gen = generation(state_.load(std::memory_order_relaxed)) + 1;
    state_.store(gen << 32 | uint64_t(helpers) * kSlot, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      wake_.notify_all();
    }
    const auto began = Clock::now();
    in_task = true;
    work();
    in_task = false;
    // No task left to claim: close the slots, then wait for the workers inside to finish their last task.
    uint64_t s = state_.load(std::memory_order_acquire);
    while (!state_.compare_exchange_weak(s, s & ~kSlots, std::memory_order_acq_rel, std::memory_order_acquire)) {
    }
    if ((s & kActive) != 0) {
      const auto worked = Clock::now();
      for (int k = 0; (state_.load(std::memory_order_acquire) & kActive) != 0; ++k) {
        if (k < 2000) MAMBA_CPU_RELAX();
        else std::this_thread::yield();
      }
      // A worker's last task should end about when the caller's does; waiting longer than the caller worked means
      // the worker lost its core mid-task (a machine busier than its cores). Then splitting costs more than it
      // saves: calls run inline for a while (kBackoff), so the caller never waits on a descheduled thread.
      const auto done = Clock::now();
      if (done - worked > std::max<Clock::duration>(worked - began, std::chrono::microseconds(kStallFloorUs)))
        backoff_until_.store((done + std::chrono::milliseconds(kBackoffMs)).time_since_epoch().count(),
                             std::memory_order_relaxed);
    }
    fn_ = nullptr;
    std::exception_ptr error = error_;
    error_ = nullptr;
    hold.unlock();
    if (error) std::rethrow_exception(error);
    return true;
  }

  // Whether calls run inline now, after a stall (see run).
  bool backing_off() const {
    const auto until = backoff_until_.load(std::memory_order_relaxed);
    return until != 0 && Clock::now().time_since_epoch().count() < until;
  }
  void clear_backoff() { backoff_until_.store(0, std::memory_order_relaxed); }

  // mamba_set_num_threads lowered the count: retire the surplus now rather than at the next call, which may never
  // come (a count of 1 never uses the pool). Skipped while a call holds the pool; its next call resizes.
  void shrink(int want) {
    std::unique_lock<std::mutex> hold(call_mutex_, std::try_to_lock);
    if (hold.owns_lock() && want < configured_) resize(want);
  }

  int alive() {
    std::lock_guard<std::mutex> lock(workers_mutex_);
    return alive_count_;
  }

 private:
  // Claims and runs tasks until none is left; the first exception stops the handing out.
  void work() {
    const int64_t count = count_;
    for (int64_t i = next_.fetch_add(1, std::memory_order_relaxed); i < count;
         i = next_.fetch_add(1, std::memory_order_relaxed)) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        next_.store(count, std::memory_order_relaxed);
      }
    }
  }

  // Called by the caller holding call_mutex_: `want` workers alive (fewer if the system cannot start more).
  void resize(int want) {
    want = std::max(0, std::min(want, int(kActive)));
    if (want == configured_) return;
    configured_ = want;
    bool retiring;
    {
      std::lock_guard<std::mutex> lock(workers_mutex_);
      target_.store(want, std::memory_order_relaxed);
      if (int(alive_.size()) < want) alive_.resize(size_t(want), false);
      const uint32_t gen = generation(state_.load(std::memory_order_relaxed));
      for (int i = 0; i < want; ++i) {
        if (alive_[size_t(i)]) continue;
        try {
          std::thread(&Pool::worker_main, this, i, gen).detach();
        } catch (const std::system_error&) {
          break;  // no more threads: the caller (and the workers running) still finish every task
        }
        alive_[size_t(i)] = true;
        ++alive_count_;
      }
      retiring = alive_count_ > want;
    }
    if (retiring) {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      wake_.notify_all();
    }
  }

  // A worker past the target leaves; under workers_mutex_, so a concurrent resize sees it alive or restarts it.
  bool retire(int index) {
    if (index < target_.load(std::memory_order_relaxed)) return false;
    std::lock_guard<std::mutex> lock(workers_mutex_);
    if (index < target_.load(std::memory_order_relaxed)) return false;
    alive_[size_t(index)] = false;
    --alive_count_;
    return true;
  }

  void worker_main(int index, uint32_t seen) {
    in_task = true;  // a task that calls parallel_for runs it inline
    for (;;) {
      uint64_t s;
      if (!wait_for_job(index, seen, s)) return;
      seen = generation(s);
      while (generation(s) == seen && (s & kSlots) != 0) {
        if (state_.compare_exchange_weak(s, s - kSlot + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
          work();
          state_.fetch_sub(1, std::memory_order_release);
          break;
        }
      }
    }
  }

  // Until the generation moves past `seen` (true, s = the state seen) or this worker retires (false).
  bool wait_for_job(int index, uint32_t seen, uint64_t& s) {
    const auto spin_until = Clock::now() + std::chrono::microseconds(spin_microseconds());
    for (int k = 0;; ++k) {
      s = state_.load(std::memory_order_acquire);
      if (generation(s) != seen) return true;
      if ((k & 63) == 63) {
        if (retire(index)) return false;
        if (Clock::now() >= spin_until) break;
        // Past the first stretch let another runnable thread (libtorch's) have this core.
        if (k > 1024) std::this_thread::yield();
      }
      MAMBA_CPU_RELAX();
    }
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    // Dekker with run(): it stores the generation then reads sleepers_, here the reverse, both seq_cst, so either it
    // sees this sleeper and notifies (under sleep_mutex_, so not before the wait) or this sees its generation.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      s = state_.load(std::memory_order_seq_cst);
      if (generation(s) != seen) break;
      if (index >= target_.load(std::memory_order_relaxed)) break;
      wake_.wait(lock);
    }
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    lock.unlock();
    if (generation(s) != seen) return true;
    return !retire(index) && wait_for_job(index, seen, s);
  }

  static constexpr int kStallFloorUs = 100, kBackoffMs = 50;
  std::atomic<Clock::rep> backoff_until_{0};  // steady_clock ticks; 0 = none
  std::mutex call_mutex_;  // held by the call that owns the pool
  int configured_ = -1;    // the worker count last asked of resize (under call_mutex_)
  alignas(64) std::atomic<uint64_t> state_{0};
  // The job: written by the caller before it publishes a generation, read by the workers that entered it.
  alignas(64) std::atomic<int64_t> next_{0};
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t count_ = 0;
  std::mutex error_mutex_;
  std::exception_ptr error_;
  // Sleeping workers.
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  // Workers: index i runs while i < target_.
  std::mutex workers_mutex_;
  std::vector<bool> alive_;
  int alive_count_ = 0;
  std::atomic<int> target_{0};
};

std::atomic<Pool*> created{nullptr};

Pool& pool() {
  static Pool* const p = [] {
    Pool* made = new Pool();  // never destroyed: see the top of this file
    created.store(made);
    return made;
  }();
  return *p;
}

std::atomic<int64_t> inline_calls{0};

void run_inline(int64_t count, const std::function<void(int64_t)>& fn) {
  for (int64_t i = 0; i < count; ++i) fn(i);
}
}  // namespace

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
  const double by_work = std::max(1.0, std::floor(work / kWorkPerThread));
  const int64_t nthreads = std::min<int64_t>({num_threads(), count, int64_t(std::min(by_work, 1e6))});
  if (nthreads <= 1 || in_task || pool().backing_off()) return run_inline(count, fn);
  if (!pool().run(count, fn, int(nthreads - 1))) {
    inline_calls.fetch_add(1, std::memory_order_relaxed);
    run_inline(count, fn);
  }
}

int pool_workers_alive() { return pool().alive(); }
bool pool_backing_off() { return pool().backing_off(); }
void pool_clear_backoff() { pool().clear_backoff(); }
int64_t pool_inline_calls() { return inline_calls.load(std::memory_order_relaxed); }

}  // namespace cpu
}  // namespace mamba

MAMBA_API void mamba_set_num_threads(int32_t threads) {
  using namespace mamba::cpu;
  requested_threads = threads > 0 ? threads : 0;
  if (Pool* p = created.load()) p->shrink(num_threads() - 1);
}
