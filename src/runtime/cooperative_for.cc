// cooperative_for: tasks claimed from a shared counter by the caller and by pool helpers.
#include "runtime/cooperative_for.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "core/thread_pool.h"

namespace justnews {
namespace {

// Shared with the helpers, which may start after the caller has returned: then they find no task
// left and touch nothing but this.
struct LoopState {
  explicit LoopState(size_t tasks, const std::function<void(size_t)>* fn)
      : num_tasks(tasks), task(fn) {}

  // Claims and runs tasks until none is left.
  void work() {
    for (;;) {
      const size_t task_idx = next.fetch_add(1, std::memory_order_relaxed);
      if (task_idx >= num_tasks) return;
      (*task)(task_idx);
      std::lock_guard<std::mutex> lock(mutex);
      if (++done == num_tasks) all_done.notify_all();
    }
  }

  const size_t num_tasks;
  const std::function<void(size_t)>* task;  // valid while tasks remain (the caller waits for them)
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::condition_variable all_done;
  size_t done = 0;
};

}  // namespace

void cooperative_for(ThreadPool* pool, size_t num_tasks,
                     const std::function<void(size_t task_idx)>& task) {
  if (num_tasks == 0) return;
  if (!pool || num_tasks == 1 || pool->num_threads() <= 1) {
    for (size_t task_idx = 0; task_idx < num_tasks; ++task_idx) task(task_idx);
    return;
  }
  auto state = std::make_shared<LoopState>(num_tasks, &task);
  const size_t helpers = std::min(num_tasks, pool->num_threads()) - 1;
  for (size_t helper = 0; helper < helpers; ++helper) {
    // The future is dropped: completion is counted in `state`, not by waiting for the helper.
    pool->submit([state] { state->work(); });
  }
  state->work();
  std::unique_lock<std::mutex> lock(state->mutex);
  state->all_done.wait(lock, [&] { return state->done == num_tasks; });
}

}  // namespace justnews
