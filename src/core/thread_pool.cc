// ThreadPool implementation.
#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>

namespace justnews {

ThreadPool::ThreadPool(size_t num_threads) {
  if (num_threads == 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& worker : workers_) worker.join();
}

std::future<void> ThreadPool::submit(std::function<void()> task) {
  std::packaged_task<void()> packaged(std::move(task));
  auto future = packaged.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push(std::move(packaged));
  }
  cv_.notify_one();
  return future;
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_ && tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop();
    }
    task();
  }
}

void ThreadPool::parallel_for(size_t count, size_t min_chunk,
                              const std::function<void(size_t, size_t)>& fn) {
  if (count == 0) return;
  min_chunk = std::max<size_t>(1, min_chunk);
  const size_t max_chunks = (count + min_chunk - 1) / min_chunk;
  const size_t num_chunks = std::min(max_chunks, num_threads());
  if (num_chunks <= 1) {
    fn(0, count);
    return;
  }
  const size_t chunk = (count + num_chunks - 1) / num_chunks;
  std::vector<std::future<void>> pending;
  pending.reserve(num_chunks - 1);
  for (size_t chunk_idx = 1; chunk_idx < num_chunks; ++chunk_idx) {
    const size_t begin = chunk_idx * chunk;
    const size_t end = std::min(count, begin + chunk);
    if (begin >= end) break;
    pending.push_back(submit([&fn, begin, end] { fn(begin, end); }));
  }
  fn(0, std::min(count, chunk));
  for (auto& future : pending) future.get();
}

}  // namespace justnews
