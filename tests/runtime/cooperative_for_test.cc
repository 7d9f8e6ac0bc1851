// cooperative_for: every task runs exactly once, with or without a pool, and the caller finishes
// the loop alone when every pool worker is busy with something else.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <vector>

#include "core/thread_pool.h"
#include "runtime/cooperative_for.h"

namespace justnews {
namespace {

TEST(CooperativeFor, RunsEveryTaskOnce) {
  ThreadPool pool(4);
  for (ThreadPool* use_pool : {static_cast<ThreadPool*>(nullptr), &pool}) {
    for (size_t num_tasks : {0u, 1u, 3u, 257u}) {
      std::vector<std::atomic<int>> runs(num_tasks);
      cooperative_for(use_pool, num_tasks, [&](size_t task_idx) { runs[task_idx].fetch_add(1); });
      for (size_t task_idx = 0; task_idx < num_tasks; ++task_idx)
        EXPECT_EQ(runs[task_idx].load(), 1) << task_idx;
    }
  }
}

TEST(CooperativeFor, DoesNotWaitForBusyWorkers) {
  ThreadPool pool(3);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  // Both workers are blocked until the loop is over: only the caller can run its tasks.
  std::vector<std::future<void>> blockers;
  for (size_t worker = 0; worker + 1 < pool.num_threads(); ++worker) {
    blockers.push_back(pool.submit([released] { released.wait(); }));
  }
  std::atomic<size_t> ran{0};
  cooperative_for(&pool, 50, [&](size_t) { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 50u);
  release.set_value();
  for (auto& blocker : blockers) blocker.get();
}

}  // namespace
}  // namespace justnews
