// BatchScheduler: one engine thread per agent, fed by a bounded queue (TEI's shape).
#include "runtime/scheduler.h"

#include <algorithm>

namespace justnews {

BatchScheduler::BatchScheduler(SchedulerOptions options, BatchFn run_batch, DoneFn on_done)
    : options_(std::move(options)), run_batch_(std::move(run_batch)), on_done_(std::move(on_done)) {
  options_.max_batch_items = std::max(1, options_.max_batch_items);
  options_.max_batch_tokens = std::max<int64_t>(1, options_.max_batch_tokens);
  options_.queue_capacity = std::max<size_t>(1, options_.queue_capacity);
  options_.sort_window_batches = std::max(1, options_.sort_window_batches);
  engine_thread_ = std::thread([this] { engine_loop(); });
}

BatchScheduler::~BatchScheduler() { shutdown(); }

Status BatchScheduler::submit(WorkItem&& item) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      return Status(StatusCode::kCancelled, "agent '" + options_.name + "' is shut down");
    }
    if (queue_.size() >= options_.queue_capacity) {
      return overloaded("agent '" + options_.name + "' is overloaded: its queue holds " +
                        std::to_string(queue_.size()) + " of " + std::to_string(options_.queue_capacity) +
                        " items; retry later");
    }
    queued_tokens_ += item.num_tokens();
    queue_.push_back({std::move(item), Clock::now()});
  }
  work_cv_.notify_one();
  return ok_status();
}

bool BatchScheduler::cancel(uint64_t key) {
  Queued cancelled;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = std::find_if(queue_.begin(), queue_.end(), [key](const Queued& q) { return q.item.key == key; });
    if (found == queue_.end()) return false;
    cancelled = std::move(*found);
    queued_tokens_ -= cancelled.item.num_tokens();
    queue_.erase(found);
    ++stats_.cancelled;
  }
  idle_cv_.notify_all();
  on_done_(key, Status(StatusCode::kCancelled, "agent '" + options_.name + "': item " +
                                                   std::to_string(key) + " was cancelled"));
  return true;
}

size_t BatchScheduler::cancel_all() {
  std::deque<Queued> cancelled;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled.swap(queue_);
    queued_tokens_ = 0;
    stats_.cancelled += static_cast<int64_t>(cancelled.size());
  }
  idle_cv_.notify_all();
  for (const Queued& q : cancelled) {
    on_done_(q.item.key, Status(StatusCode::kCancelled, "agent '" + options_.name + "': item " +
                                                            std::to_string(q.item.key) + " was cancelled"));
  }
  return cancelled.size();
}

void BatchScheduler::flush() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    flushing_ = true;
  }
  work_cv_.notify_one();
}

void BatchScheduler::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && !running_batch_; });
}

void BatchScheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !engine_thread_.joinable()) return;
    stopping_ = true;
  }
  cancel_all();
  work_cv_.notify_all();
  if (engine_thread_.joinable()) engine_thread_.join();
}

size_t BatchScheduler::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

SchedulerStats BatchScheduler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

bool BatchScheduler::batch_ready(Clock::time_point now) const {
  if (queue_.empty()) return false;
  if (flushing_ || stopping_) return true;
  if (static_cast<int>(queue_.size()) >= options_.max_batch_items) return true;
  if (queued_tokens_ >= options_.max_batch_tokens) return true;
  return now - queue_.front().submitted >= std::chrono::milliseconds(options_.max_wait_ms);
}

// Caller holds the mutex. Sorts the oldest window by length and cuts the batch from its start;
// the rest of the window goes back to the front so that it is served next (no starvation).
std::vector<BatchScheduler::Queued> BatchScheduler::take_batch() {
  const size_t window = std::min(queue_.size(), static_cast<size_t>(options_.max_batch_items) *
                                                    static_cast<size_t>(options_.sort_window_batches));
  std::stable_sort(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(window),
                   [](const Queued& a, const Queued& b) { return a.item.num_tokens() < b.item.num_tokens(); });
  std::vector<Queued> batch;
  int64_t tokens = 0;
  while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch_items) {
    const int64_t next_tokens = queue_.front().item.num_tokens();
    // An item longer than the budget still runs, alone.
    if (!batch.empty() && tokens + next_tokens > options_.max_batch_tokens) break;
    tokens += next_tokens;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  queued_tokens_ -= tokens;
  if (queue_.empty()) flushing_ = false;
  return batch;
}

void BatchScheduler::engine_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stopping_ && queue_.empty()) return;
    const auto now = Clock::now();
    if (!batch_ready(now)) {
      if (queue_.empty()) {
        work_cv_.wait(lock);
      } else {
        work_cv_.wait_until(lock, queue_.front().submitted + std::chrono::milliseconds(options_.max_wait_ms));
      }
      continue;
    }
    std::vector<Queued> batch = take_batch();
    running_batch_ = true;
    lock.unlock();

    std::vector<const WorkItem*> items;
    items.reserve(batch.size());
    int64_t tokens = 0;
    for (const Queued& q : batch) {
      items.push_back(&q.item);
      tokens += q.item.num_tokens();
    }
    const auto started = Clock::now();
    std::vector<Result<AgentOutput>> results = run_batch_(items);
    const auto finished = Clock::now();
    double latency_sum_s = 0;
    double latency_max_s = 0;
    for (size_t item_idx = 0; item_idx < batch.size(); ++item_idx) {
      Result<AgentOutput> result =
          item_idx < results.size()
              ? std::move(results[item_idx])
              : Result<AgentOutput>(internal_error("agent '" + options_.name + "': the batch function returned " +
                                                   std::to_string(results.size()) + " results for " +
                                                   std::to_string(batch.size()) + " items"));
      const double latency_s = std::chrono::duration<double>(Clock::now() - batch[item_idx].submitted).count();
      latency_sum_s += latency_s;
      latency_max_s = std::max(latency_max_s, latency_s);
      on_done_(batch[item_idx].item.key, std::move(result));
    }

    lock.lock();
    running_batch_ = false;
    stats_.batches += 1;
    stats_.items += static_cast<int64_t>(batch.size());
    stats_.tokens += tokens;
    stats_.busy_s += std::chrono::duration<double>(finished - started).count();
    stats_.latency_sum_s += latency_sum_s;
    stats_.latency_max_s = std::max(stats_.latency_max_s, latency_max_s);
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace justnews
