// Per-call scratch for the SSD tasks: one uninitialised buffer per thread that can run at once, handed out and
// taken back around each task. A fresh zero-filled buffer per task cost a page fault per 4 KiB and a memset of the
// backward's chunk-state checkpoints (a MiB per head at state 128) for every task. Nothing outlives the call.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include "cpu/thread_pool.h"

namespace mamba {
namespace cpu {

class SsdScratch {
 public:
  // Buffers of `floats` each, as many as threads may run `tasks` tasks at once.
  SsdScratch(int64_t floats, int64_t tasks) : floats_(floats) {
    const int64_t n = std::max<int64_t>(1, std::min<int64_t>(num_threads(), tasks));
    for (int64_t i = 0; i < n; ++i) free_.push_back(owned_.emplace_back(new float[size_t(floats)]).get());
  }
  float* acquire() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) return owned_.emplace_back(new float[size_t(floats_)]).get();  // more threads than expected
    float* p = free_.back();
    free_.pop_back();
    return p;
  }
  void release(float* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(p);
  }

 private:
  int64_t floats_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<float[]>> owned_;
  std::vector<float*> free_;
};

}  // namespace cpu
}  // namespace mamba
