// MemoryManager: budgets carved from the device less the margin, refusals that name agent, request
// and limit, unloading, and two agents hammering one device from many threads.
#include "memory/memory_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace justnews {
namespace {

constexpr int64_t kMiB = 1 << 20;

MemoryConfig small_pool_config() {
  MemoryConfig config;
  config.pool_block_bytes = kMiB;
  config.pool_bytes = 8 * kMiB;
  return config;
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

TEST(MemoryManager, BudgetsComeOutOfDeviceLessSafetyMargin) {
  MemoryManager manager(make_host_allocator(100 * kMiB, "gpu-like"), small_pool_config());
  EXPECT_EQ(manager.usable_bytes(), 85 * kMiB);
  ASSERT_TRUE(manager.register_agent("sentiment", 60 * kMiB).ok());
  Status refused = manager.register_agent("toxicity", 30 * kMiB);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  expect_contains(refused.message(), "toxicity");
  expect_contains(refused.message(), "30.0 MiB");
  expect_contains(refused.message(), "25.0 MiB left");
  EXPECT_TRUE(manager.register_agent("toxicity", 25 * kMiB).ok());
  EXPECT_FALSE(manager.register_agent("toxicity", kMiB).ok()) << "names are unique";
  EXPECT_FALSE(manager.register_agent("zero", 0).ok());
}

TEST(MemoryManager, OverBudgetLoadAndBatchAreRefusedWithAgentRequestAndLimit) {
  MemoryManager manager(make_host_allocator(100 * kMiB), small_pool_config());
  ASSERT_TRUE(manager.register_agent("sentiment", 10 * kMiB).ok());
  auto load = manager.allocate("sentiment", 12 * kMiB, "model weights");
  ASSERT_FALSE(load.ok());
  EXPECT_EQ(load.status().code(), StatusCode::kResourceExhausted);
  expect_contains(load.status().message(), "sentiment");
  expect_contains(load.status().message(), "model weights");
  expect_contains(load.status().message(), "12.0 MiB");
  expect_contains(load.status().message(), "10.0 MiB");

  auto weights = manager.allocate("sentiment", 8 * kMiB, "model weights");
  ASSERT_TRUE(weights.ok()) << weights.status().to_string();
  auto batch = manager.reserve("sentiment", 3 * kMiB, "batch of 4096 tokens");
  ASSERT_FALSE(batch.ok());
  expect_contains(batch.status().message(), "batch of 4096 tokens");
  expect_contains(batch.status().message(), "8.0 MiB is already in use");
  auto small_batch = manager.reserve("sentiment", 2 * kMiB, "batch of 2048 tokens");
  EXPECT_TRUE(small_batch.ok());
  EXPECT_EQ(manager.usage("sentiment")->in_use_bytes, 10 * kMiB);

  auto unknown = manager.allocate("nobody", kMiB, "weights");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

TEST(MemoryManager, LeasesReturnOnDestructionAndUnloadReturnsEverything) {
  MemoryManager manager(make_host_allocator(100 * kMiB), small_pool_config());
  ASSERT_TRUE(manager.register_agent("embed", 40 * kMiB).ok());
  {
    auto lease = manager.allocate("embed", 5 * kMiB, "weights");
    ASSERT_TRUE(lease.ok());
    std::memset(lease->data(), 1, 5 * kMiB);
    EXPECT_EQ(manager.usage("embed")->in_use_bytes, 5 * kMiB);
  }
  EXPECT_EQ(manager.usage("embed")->in_use_bytes, 0);
  EXPECT_EQ(manager.usage("embed")->peak_bytes, 5 * kMiB);

  auto weights = manager.allocate("embed", 30 * kMiB, "weights");
  ASSERT_TRUE(weights.ok());
  ASSERT_TRUE(manager.unload_agent("embed").ok());
  EXPECT_FALSE(manager.usage("embed").ok());
  EXPECT_EQ(manager.unbudgeted_bytes(), manager.usable_bytes());
  weights->release();  // a lease outliving its agent's unload is harmless
  manager.trim();
  EXPECT_EQ(manager.pool_reserved_bytes(), 0) << "unloading gave the pool memory back";
  EXPECT_TRUE(manager.register_agent("embed-v2", 80 * kMiB).ok());
  EXPECT_FALSE(manager.unload_agent("embed").ok());
}

// Two agents, eight threads, random sizes: neither agent ever exceeds its budget, refusals are
// budget refusals, and no two live leases overlap (each thread verifies its fill pattern).
TEST(MemoryManager, TwoAgentsUnderThreadStressStayWithinBudgets) {
  MemoryManager manager(make_host_allocator(256 * kMiB), small_pool_config());
  const std::vector<std::pair<std::string, int64_t>> agents = {{"sentiment", 48 * kMiB},
                                                               {"toxicity", 24 * kMiB}};
  for (const auto& [name, budget] : agents) ASSERT_TRUE(manager.register_agent(name, budget).ok());

  std::atomic<bool> violated{false};
  std::atomic<int> corrupted{0};
  std::atomic<int> refusals{0};
  std::atomic<int> grants{0};
  std::vector<std::thread> threads;
  for (int thread_idx = 0; thread_idx < 8; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      std::mt19937 rng(thread_idx);
      const auto& [agent, budget] = agents[thread_idx % 2];
      std::vector<MemoryLease> held;
      for (int step = 0; step < 400; ++step) {
        const int64_t bytes = std::uniform_int_distribution<int64_t>(1, 6 * kMiB)(rng);
        auto lease = manager.allocate(agent, bytes, "stress batch");
        if (lease.ok()) {
          ++grants;
          std::memset(lease->data(), thread_idx * 16 + step % 16, static_cast<size_t>(bytes));
          held.push_back(std::move(lease).value());
        } else {
          ++refusals;
          if (lease.status().code() != StatusCode::kResourceExhausted) violated = true;
        }
        auto usage = manager.usage(agent);
        if (!usage.ok() || usage->in_use_bytes > budget || usage->peak_bytes > budget) violated = true;
        if (held.size() > 3 || (lease.ok() == false && !held.empty())) {
          MemoryLease& victim = held.front();
          const auto* bytes_view = static_cast<const unsigned char*>(victim.data());
          const unsigned char first = bytes_view[0];
          for (int64_t byte_idx = 0; byte_idx < victim.bytes(); byte_idx += 4093) {
            if (bytes_view[byte_idx] != first) ++corrupted;
          }
          held.erase(held.begin());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(violated);
  EXPECT_EQ(corrupted, 0);
  EXPECT_GT(grants, 0);
  EXPECT_GT(refusals, 0) << "the stress must actually reach the budgets";
  for (const auto& usage : manager.usage_all()) {
    EXPECT_EQ(usage.in_use_bytes, 0) << usage.agent;
    EXPECT_LE(usage.peak_bytes, usage.budget_bytes) << usage.agent;
  }
}

}  // namespace
}  // namespace justnews
