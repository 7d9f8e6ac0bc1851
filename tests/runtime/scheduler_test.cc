// BatchScheduler with a recording batch function: item and token budgets, length-sorted batches,
// the max-wait flush, explicit flush, back-pressure and cancellation.
#include "runtime/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>

namespace justnews {
namespace {

using namespace std::chrono_literals;

// Records every batch (item keys and lengths) and every completion; can hold the engine inside a
// batch until released, which makes queue states deterministic.
class Recorder {
 public:
  BatchScheduler::BatchFn batch_fn() {
    return [this](const std::vector<const WorkItem*>& items) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::pair<uint64_t, int64_t>> batch;
        for (const WorkItem* item : items) batch.emplace_back(item->key, item->num_tokens());
        batches_.push_back(batch);
        batch_times_.push_back(std::chrono::steady_clock::now());
      }
      entered_.notify_all();
      if (hold_.load()) {
        std::unique_lock<std::mutex> lock(mutex_);
        release_cv_.wait(lock, [this] { return !hold_.load(); });
      }
      std::vector<Result<AgentOutput>> results;
      for (const WorkItem* item : items) {
        AgentOutput output;
        output.values = {static_cast<float>(item->key)};
        results.emplace_back(std::move(output));
      }
      return results;
    };
  }
  BatchScheduler::DoneFn done_fn() {
    return [this](uint64_t key, Result<AgentOutput> result) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_[key].push_back(result.ok() ? StatusCode::kOk : result.status().code());
      if (result.ok()) {
        EXPECT_EQ(result->values.at(0), static_cast<float>(key)) << "results belong to their item";
      }
    };
  }
  void hold() { hold_ = true; }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      hold_ = false;
    }
    release_cv_.notify_all();
  }
  void wait_for_batches(size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    ASSERT_TRUE(entered_.wait_for(lock, 5s, [&] { return batches_.size() >= count; }));
  }
  std::vector<std::vector<std::pair<uint64_t, int64_t>>> batches() {
    std::lock_guard<std::mutex> lock(mutex_);
    return batches_;
  }
  std::map<uint64_t, std::vector<StatusCode>> done() {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }
  std::chrono::steady_clock::time_point batch_time(size_t batch_idx) {
    std::lock_guard<std::mutex> lock(mutex_);
    return batch_times_.at(batch_idx);
  }

 private:
  std::mutex mutex_;
  std::condition_variable entered_;
  std::condition_variable release_cv_;
  std::atomic<bool> hold_{false};
  std::vector<std::vector<std::pair<uint64_t, int64_t>>> batches_;
  std::vector<std::chrono::steady_clock::time_point> batch_times_;
  std::map<uint64_t, std::vector<StatusCode>> done_;
};

WorkItem item(uint64_t key, int64_t num_tokens) {
  WorkItem work;
  work.key = key;
  work.token_ids.assign(static_cast<size_t>(num_tokens), 1);
  work.type_ids.assign(static_cast<size_t>(num_tokens), 0);
  return work;
}

SchedulerOptions options(int max_items, int64_t max_tokens, int max_wait_ms, size_t capacity = 1024) {
  SchedulerOptions opts;
  opts.name = "sentiment";
  opts.max_batch_items = max_items;
  opts.max_batch_tokens = max_tokens;
  opts.max_wait_ms = max_wait_ms;
  opts.queue_capacity = capacity;
  return opts;
}

TEST(BatchScheduler, BatchesRespectItemAndTokenBudgetsAndAreLengthSorted) {
  Recorder recorder;
  BatchScheduler scheduler(options(4, 100, 60000), recorder.batch_fn(), recorder.done_fn());
  recorder.hold();
  ASSERT_TRUE(scheduler.submit(item(0, 10)).ok());
  ASSERT_TRUE(scheduler.submit(item(1, 10)).ok());
  ASSERT_TRUE(scheduler.submit(item(2, 10)).ok());
  ASSERT_TRUE(scheduler.submit(item(3, 10)).ok());
  recorder.wait_for_batches(1);  // the engine is now held inside batch 0
  const std::vector<int64_t> lengths = {60, 5, 45, 30, 7, 90, 20, 3, 50, 8, 15, 70};
  for (size_t key = 0; key < lengths.size(); ++key) ASSERT_TRUE(scheduler.submit(item(100 + key, lengths[key])).ok());
  recorder.release();
  scheduler.flush();
  scheduler.wait_idle();

  const auto batches = recorder.batches();
  ASSERT_EQ(batches[0].size(), 4u);
  size_t items = 0;
  for (size_t batch_idx = 1; batch_idx < batches.size(); ++batch_idx) {
    const auto& batch = batches[batch_idx];
    int64_t tokens = 0;
    for (size_t pos = 0; pos < batch.size(); ++pos) {
      tokens += batch[pos].second;
      if (pos > 0) {
        EXPECT_LE(batch[pos - 1].second, batch[pos].second) << "batch " << batch_idx << " sorted";
      }
    }
    EXPECT_LE(batch.size(), 4u);
    EXPECT_LE(tokens, 100) << "batch " << batch_idx;
    items += batch.size();
  }
  EXPECT_EQ(items, lengths.size());
  // The first batch after the hold takes the shortest four of the sorted window.
  EXPECT_EQ(batches[1], (std::vector<std::pair<uint64_t, int64_t>>{{107, 3}, {101, 5}, {104, 7}, {109, 8}}));
  EXPECT_EQ(recorder.done().size(), 4 + lengths.size());
  for (const auto& [key, codes] : recorder.done()) EXPECT_EQ(codes, std::vector<StatusCode>{StatusCode::kOk}) << key;
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.items, 16);
  EXPECT_EQ(stats.batches, static_cast<int64_t>(batches.size()));
}

TEST(BatchScheduler, AnItemOverTheTokenBudgetRunsAlone) {
  Recorder recorder;
  BatchScheduler scheduler(options(8, 50, 60000), recorder.batch_fn(), recorder.done_fn());
  recorder.hold();
  ASSERT_TRUE(scheduler.submit(item(0, 200)).ok());  // alone over budget: triggers immediately
  recorder.wait_for_batches(1);
  ASSERT_TRUE(scheduler.submit(item(1, 20)).ok());
  recorder.release();
  scheduler.flush();
  scheduler.wait_idle();
  const auto batches = recorder.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size(), 1u);
  EXPECT_EQ(batches[1].size(), 1u);
}

TEST(BatchScheduler, PartialBatchRunsAfterMaxWait) {
  Recorder recorder;
  BatchScheduler scheduler(options(32, 16384, 80), recorder.batch_fn(), recorder.done_fn());
  const auto submitted = std::chrono::steady_clock::now();
  for (uint64_t key = 0; key < 3; ++key) ASSERT_TRUE(scheduler.submit(item(key, 12)).ok());
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(recorder.batches().empty()) << "a partial batch must wait for more work";
  recorder.wait_for_batches(1);
  const auto waited = recorder.batch_time(0) - submitted;
  EXPECT_GE(waited, 75ms);
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(recorder.batches()[0].size(), 3u);
}

TEST(BatchScheduler, FlushRunsAPartialBatchAtOnce) {
  Recorder recorder;
  BatchScheduler scheduler(options(32, 16384, 60000), recorder.batch_fn(), recorder.done_fn());
  for (uint64_t key = 0; key < 5; ++key) ASSERT_TRUE(scheduler.submit(item(key, 12)).ok());
  const auto flushed = std::chrono::steady_clock::now();
  scheduler.flush();
  scheduler.wait_idle();
  EXPECT_LT(std::chrono::steady_clock::now() - flushed, 2s);
  EXPECT_EQ(recorder.done().size(), 5u);
}

TEST(BatchScheduler, FullQueueRefusesWithOverloaded) {
  Recorder recorder;
  BatchScheduler scheduler(options(1, 16384, 0, 3), recorder.batch_fn(), recorder.done_fn());
  recorder.hold();
  ASSERT_TRUE(scheduler.submit(item(0, 4)).ok());
  recorder.wait_for_batches(1);
  for (uint64_t key = 1; key <= 3; ++key) ASSERT_TRUE(scheduler.submit(item(key, 4)).ok());
  WorkItem refused_item = item(4, 4);
  Status refused = scheduler.submit(std::move(refused_item));
  EXPECT_EQ(refused.code(), StatusCode::kOverloaded);
  EXPECT_NE(refused.message().find("sentiment"), std::string::npos);
  EXPECT_NE(refused.message().find("3 of 3"), std::string::npos);
  EXPECT_EQ(refused_item.num_tokens(), 4) << "a refused item is left intact for the retry";
  recorder.release();
  scheduler.wait_idle();
  EXPECT_TRUE(scheduler.submit(std::move(refused_item)).ok()) << "accepted again once the queue drains";
  scheduler.wait_idle();
  EXPECT_EQ(recorder.done().size(), 5u);
}

TEST(BatchScheduler, CancelledItemsCompleteOnceAndNeverRun) {
  Recorder recorder;
  BatchScheduler scheduler(options(2, 16384, 60000), recorder.batch_fn(), recorder.done_fn());
  recorder.hold();
  ASSERT_TRUE(scheduler.submit(item(0, 4)).ok());
  ASSERT_TRUE(scheduler.submit(item(1, 4)).ok());
  recorder.wait_for_batches(1);
  for (uint64_t key = 2; key < 8; ++key) ASSERT_TRUE(scheduler.submit(item(key, 4)).ok());
  EXPECT_TRUE(scheduler.cancel(5));
  EXPECT_FALSE(scheduler.cancel(5)) << "already cancelled";
  EXPECT_FALSE(scheduler.cancel(0)) << "running items cannot be cancelled";
  recorder.release();
  scheduler.flush();
  scheduler.wait_idle();
  auto done = recorder.done();
  EXPECT_EQ(done[5], std::vector<StatusCode>{StatusCode::kCancelled});
  for (const auto& batch : recorder.batches()) {
    for (const auto& [key, tokens] : batch) EXPECT_NE(key, 5u) << "a cancelled item ran";
  }

  recorder.hold();
  // Counted before submitting: the engine thread may record the new batch before we look.
  const size_t batches_before = recorder.batches().size();
  ASSERT_TRUE(scheduler.submit(item(20, 4)).ok());
  ASSERT_TRUE(scheduler.submit(item(21, 4)).ok());
  recorder.wait_for_batches(batches_before + 1);
  for (uint64_t key = 22; key < 27; ++key) ASSERT_TRUE(scheduler.submit(item(key, 4)).ok());
  EXPECT_EQ(scheduler.cancel_all(), 5u);
  recorder.release();
  scheduler.shutdown();
  done = recorder.done();
  for (uint64_t key = 22; key < 27; ++key) EXPECT_EQ(done[key], std::vector<StatusCode>{StatusCode::kCancelled});
  EXPECT_EQ(done[20], std::vector<StatusCode>{StatusCode::kOk});
  EXPECT_EQ(scheduler.submit(item(30, 4)).code(), StatusCode::kCancelled) << "no work after shutdown";
  EXPECT_EQ(scheduler.stats().cancelled, 6);
}

}  // namespace
}  // namespace justnews
