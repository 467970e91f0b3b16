// The persistent pool behind parallel_for (src/cpu/thread_pool.cpp, built into this program on its own so that the
// pool starts fresh and its internals are reachable): every index runs exactly once, exceptions reach the caller after
// the running tasks finish, nested and concurrent calls neither deadlock nor lose tasks, the pool follows
// mamba_set_num_threads, small calls stay on the caller, idle workers sleep instead of spinning, and after a worker
// stalled a call (lost its core mid-task) calls run inline for a while.
// Every wait is bounded: a hang fails the test (and a deadlock aborts the program) instead of blocking it.
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>
#include "cpu/thread_pool.h"
#include "mamba_native.h"

using mamba::cpu::parallel_for;
using namespace std::chrono_literals;

namespace {

// Runs f on another thread; aborts the program if it has not returned within `limit` (a deadlock).
template <class F>
void within(std::chrono::milliseconds limit, F f) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    f();
    std::lock_guard<std::mutex> lock(m);
    done = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(m);
    if (!cv.wait_for(lock, limit, [&] { return done; })) {
      std::fprintf(stderr, "parallel_for did not return within %lld ms: deadlock\n", (long long)limit.count());
      std::abort();
    }
  }
  t.join();
}

// Waits up to 5 s for cond.
template <class C>
bool eventually(C cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Threads {
  explicit Threads(int n) { mamba_set_num_threads(n); }
  ~Threads() { mamba_set_num_threads(0); }
};

std::vector<int> run_counting(int64_t count, double work = 1e30) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
  parallel_for(count, [&](int64_t i) { hits[size_t(i)].fetch_add(1); }, work);
  std::vector<int> out;
  for (auto& h : hits) out.push_back(h.load());
  return out;
}

}  // namespace

TEST(ThreadPool, EveryIndexRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    Threads t(threads);
    for (int64_t count : {1, 2, 3, 7, 64, 1000, 20000}) {
      within(20s, [&] {
        const auto hits = run_counting(count);
        for (int64_t i = 0; i < count; ++i) ASSERT_EQ(hits[size_t(i)], 1) << "index " << i << " of " << count << ", " << threads << " threads";
      });
    }
  }
}

TEST(ThreadPool, ZeroOrNegativeCountRunsNothing) {
  Threads t(4);
  int calls = 0;
  parallel_for(0, [&](int64_t) { ++calls; });
  parallel_for(-3, [&](int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPool, UsesTheWorkersForLargeCalls) {
  Threads t(2);
  mamba::cpu::pool_clear_backoff();  // an earlier test's call may have stalled on this busy machine
  // Tasks 0 and 1 each wait (up to 5 s) for the other to start: only two threads at once can finish them quickly.
  std::atomic<int> started{0};
  std::mutex m;
  std::set<std::thread::id> ids;
  const auto begin = std::chrono::steady_clock::now();
  within(20s, [&] {
    parallel_for(2, [&](int64_t) {
      {
        std::lock_guard<std::mutex> lock(m);
        ids.insert(std::this_thread::get_id());
      }
      started.fetch_add(1);
      const auto until = std::chrono::steady_clock::now() + 5s;
      while (started.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    });
  });
  EXPECT_EQ(ids.size(), 2u) << "both tasks ran on one thread";
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
}

TEST(ThreadPool, SmallWorkStaysOnTheCaller) {
  Threads t(4);
  std::set<std::thread::id> ids;
  std::mutex m;
  const double small = mamba::cpu::kWorkPerThread * 1.5;  // one thread's share: no helper
  parallel_for(100, [&](int64_t) {
    std::lock_guard<std::mutex> lock(m);
    ids.insert(std::this_thread::get_id());
  }, small);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(*ids.begin(), std::this_thread::get_id());
}

TEST(ThreadPool, ExceptionPropagatesAfterRunningTasksFinish) {
  for (int threads : {1, 2, 4}) {
    Threads t(threads);
    std::atomic<int> running{0}, ran{0};
    bool caught = false;
    within(20s, [&] {
      try {
        parallel_for(10000, [&](int64_t i) {
          running.fetch_add(1);
          std::this_thread::sleep_for(std::chrono::microseconds(i % 3 == 0 ? 50 : 0));
          ran.fetch_add(1);
          running.fetch_sub(1);
          if (i == 37) throw std::runtime_error("task 37 failed");
        });
      } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "task 37 failed";
        EXPECT_EQ(running.load(), 0) << "a task was still running when the exception reached the caller";
      }
    });
    EXPECT_TRUE(caught) << threads << " threads";
    // The handing out stopped: far fewer than all tasks ran, and none starts after the call returned.
    const int after = ran.load();
    EXPECT_LT(after, 10000);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(ran.load(), after);
    // The pool is usable afterwards.
    const auto hits = run_counting(500);
    for (int h : hits) ASSERT_EQ(h, 1);
  }
}

TEST(ThreadPool, NestedCallsRunInline) {
  Threads t(4);
  const int64_t outer = 16, inner = 300;
  std::vector<std::atomic<int>> hits(static_cast<size_t>(outer * inner));
  within(20s, [&] {
    parallel_for(outer, [&](int64_t o) {
      const auto self = std::this_thread::get_id();
      parallel_for(inner, [&](int64_t i) {
        EXPECT_EQ(std::this_thread::get_id(), self) << "a nested call left its thread";
        hits[size_t(o * inner + i)].fetch_add(1);
      });
    });
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPool, ConcurrentCallersAllFinishEveryTask) {
  Threads t(3);
  const int callers = 4, calls = 200;
  const int64_t count = 257;
  std::atomic<int> wrong{0};
  within(60s, [&] {
    std::vector<std::thread> threads;
    for (int c = 0; c < callers; ++c)
      threads.emplace_back([&, c] {
        for (int k = 0; k < calls; ++k) {
          std::vector<int64_t> out(size_t(count), -1);
          parallel_for(count, [&](int64_t i) { out[size_t(i)] = i * 7 + c + k; });
          for (int64_t i = 0; i < count; ++i)
            if (out[size_t(i)] != i * 7 + c + k) wrong.fetch_add(1);
        }
      });
    for (auto& th : threads) th.join();
  });
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, FollowsTheThreadCount) {
  auto call = [] {
    const auto hits = run_counting(1000);
    for (int h : hits) ASSERT_EQ(h, 1);
  };
  {
    Threads t(4);
    mamba::cpu::pool_clear_backoff();
    within(20s, call);
    EXPECT_TRUE(eventually([] { return mamba::cpu::pool_workers_alive() == 3; })) << mamba::cpu::pool_workers_alive();
  }
  {
    Threads t(2);
    mamba::cpu::pool_clear_backoff();
    within(20s, call);
    EXPECT_TRUE(eventually([] { return mamba::cpu::pool_workers_alive() == 1; })) << mamba::cpu::pool_workers_alive();
  }
  {
    Threads t(1);  // no call needs the pool: setting the count retires the workers
    EXPECT_TRUE(eventually([] { return mamba::cpu::pool_workers_alive() == 0; })) << mamba::cpu::pool_workers_alive();
    within(20s, call);
  }
  {
    Threads t(3);
    mamba::cpu::pool_clear_backoff();
    within(20s, call);
    EXPECT_TRUE(eventually([] { return mamba::cpu::pool_workers_alive() == 2; })) << mamba::cpu::pool_workers_alive();
  }
}

TEST(ThreadPool, IdleWorkersSleep) {
  Threads t(4);
  mamba::cpu::pool_clear_backoff();
  within(20s, [] { run_counting(1000); });
  ASSERT_EQ(mamba::cpu::pool_workers_alive(), 3);
  std::this_thread::sleep_for(50ms);  // past the spin (MAMBA_CPU_SPIN_US, 100 us by default)
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(200ms);
  const double used = process_cpu_seconds() - before;
  // Three spinning workers would use ~0.6 s of CPU here (or all the cores there are).
  EXPECT_LT(used, 0.02) << "idle workers used " << used << " s of CPU in 0.2 s";
}

TEST(ThreadPool, AStalledWorkerMakesCallsRunInlineForAWhile) {
  Threads t(2);
  mamba::cpu::pool_clear_backoff();
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> worker_started{false};
  within(20s, [&] {
    const auto self = std::this_thread::get_id();  // within() calls from a thread of its own
    parallel_for(2, [&](int64_t) {
      if (std::this_thread::get_id() != self) {
        worker_started = true;
        std::this_thread::sleep_for(200ms);  // as if the worker lost its core mid-task
        return;
      }
      const auto until = std::chrono::steady_clock::now() + 5s;
      while (!worker_started.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    });
  });
  ASSERT_TRUE(worker_started.load()) << "no worker took a task";
  EXPECT_TRUE(mamba::cpu::pool_backing_off());
  std::set<std::thread::id> ids;
  std::mutex m;
  parallel_for(20, [&](int64_t) {
    {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(1ms);  // long enough for an awake worker to take some
  });
  EXPECT_EQ(ids, std::set<std::thread::id>{caller}) << "a call right after the stall used a worker";
  // The back-off ends by itself.
  EXPECT_TRUE(eventually([] { return !mamba::cpu::pool_backing_off(); }));
}
