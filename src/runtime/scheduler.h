// BatchScheduler: the dynamic batcher in front of one agent's engine. Callers submit tokenised
// items into a bounded queue (a full queue refuses with kOverloaded: back-pressure, never unbounded
// growth); one engine thread forms batches by item count and token budget, from a window of the
// oldest queued items sorted by length, and runs a batch as soon as it is full, the oldest item
// has waited max_wait_ms, or flush() asks for it. Queued items can be cancelled; each item is
// completed exactly once through the done callback (result, error or kCancelled).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "runtime/agent_output.h"

namespace justnews {

struct SchedulerOptions {
  std::string name = "agent";  // in error messages
  int max_batch_items = 32;
  int64_t max_batch_tokens = 16384;
  int max_wait_ms = 5;
  size_t queue_capacity = 1024;
  // Batches are cut from the oldest `sort_window_batches * max_batch_items` items sorted by length.
  int sort_window_batches = 4;
};

struct WorkItem {
  uint64_t key = 0;  // the caller's id, handed back on completion
  std::vector<int32_t> token_ids;
  std::vector<int32_t> type_ids;
  std::vector<std::pair<int32_t, int32_t>> offsets;  // per token, for token-level outputs
  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

struct SchedulerStats {
  int64_t batches = 0;
  int64_t items = 0;
  int64_t tokens = 0;
  int64_t cancelled = 0;
  double busy_s = 0;           // time spent inside the batch function
  double latency_sum_s = 0;    // submit -> done, over completed items
  double latency_max_s = 0;
};

class BatchScheduler {
 public:
  // Runs one batch; must return one result per item, in order.
  using BatchFn = std::function<std::vector<Result<AgentOutput>>(const std::vector<const WorkItem*>&)>;
  // Called on the engine thread (or the cancelling thread) once per item.
  using DoneFn = std::function<void(uint64_t key, Result<AgentOutput> result)>;

  BatchScheduler(SchedulerOptions options, BatchFn run_batch, DoneFn on_done);
  // Cancels what is still queued and joins the engine thread.
  ~BatchScheduler();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // kOverloaded when the queue is full, kCancelled after shutdown(). `item` is moved from only
  // when it is accepted, so a refused item can be submitted again.
  Status submit(WorkItem&& item);
  // Completes a queued item with kCancelled; false when it is not queued (running or done).
  bool cancel(uint64_t key);
  // Completes every queued item with kCancelled; returns how many.
  size_t cancel_all();
  // Runs everything queued now, without waiting for full batches or max_wait_ms.
  void flush();
  // Blocks until nothing is queued or running.
  void wait_idle();
  // Stops accepting work, cancels what is queued, and stops the engine thread.
  void shutdown();

  size_t queued() const;
  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Queued {
    WorkItem item;
    Clock::time_point submitted;
  };

  void engine_loop();
  bool batch_ready(Clock::time_point now) const;
  std::vector<Queued> take_batch();

  SchedulerOptions options_;
  BatchFn run_batch_;
  DoneFn on_done_;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<Queued> queue_;
  int64_t queued_tokens_ = 0;
  bool flushing_ = false;
  bool running_batch_ = false;
  bool stopping_ = false;
  SchedulerStats stats_;
  std::thread engine_thread_;
};

}  // namespace justnews
