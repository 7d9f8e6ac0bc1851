// ThreadPool: a fixed set of workers for CPU kernels and tokenisation. parallel_for splits an
// index range into chunks and blocks until all are done; the caller's thread works too.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <future>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace justnews {

class ThreadPool {
 public:
  // num_threads == 0 means one per hardware thread. The calling thread counts as one of them
  // in parallel_for, so `num_threads - 1` workers are started.
  explicit ThreadPool(size_t num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t num_threads() const { return workers_.size() + 1; }

  // Runs fn(begin, end) over [0, count) in chunks of at least min_chunk items.
  void parallel_for(size_t count, size_t min_chunk,
                    const std::function<void(size_t begin, size_t end)>& fn);

  // Queues one task; the future carries its completion (and any exception).
  std::future<void> submit(std::function<void()> task);

 private:
  void worker_loop();

  std::vector<std::thread> workers_;
  std::queue<std::packaged_task<void()>> tasks_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace justnews
