// CUDA agents through the engine cache (issue 6's load time): the first load builds the plan into a
// temporary cache directory, the second reads it from there; both compute bit-identical outputs
// (GEMM autotuning off, so both runs pick the same algorithms), and the MemoryManager is charged
// exactly what the encoder holds, the same bytes either way. With engine.plan_cache off nothing
// is cached. Agents loaded in parallel find the plans too. A CUDA agent's pinned staging is charged
// to a pinned-memory manager. Label gpu: skipped without a device.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/cuda/cuda_encoder.h"
#include "memory/cuda_allocator.h"
#include "runtime/agent.h"
#include "runtime/agent_loader.h"
#include "runtime/backend.h"
#include "test_models.h"

namespace justnews {
namespace {

using testing::TempDir;

struct LoadedRun {
  std::optional<PlanOrigin> origin;
  std::vector<std::vector<float>> outputs;
  int64_t accounted_bytes = 0;
  int64_t held_bytes = 0;
};

AgentConfig cuda_agent(const std::string& name, const std::string& model_dir,
                       const std::string& task, const std::string& precision) {
  AgentConfig config;
  config.name = name;
  config.model_dir = model_dir;
  config.task = task;
  config.precision = precision;
  config.device = "cuda";
  config.max_batch_items = 8;
  config.max_batch_tokens = 8 * 64;
  return config;
}

std::vector<WorkItem> random_items(size_t count, int64_t tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(5, 98);  // the test tokenizer's non-special ids
  std::vector<WorkItem> items(count);
  for (size_t item_idx = 0; item_idx < count; ++item_idx) {
    items[item_idx].key = item_idx;
    for (int64_t token_idx = 0; token_idx < tokens - static_cast<int64_t>(item_idx); ++token_idx)
      items[item_idx].token_ids.push_back(id(rng));
    items[item_idx].type_ids.assign(items[item_idx].token_ids.size(), 0);
  }
  return items;
}

std::unique_ptr<MemoryManager> cuda_memory_manager() {
  auto allocator = make_cuda_device_allocator(0);
  EXPECT_TRUE(allocator.ok()) << allocator.status().to_string();
  if (!allocator.ok()) return nullptr;
  return std::make_unique<MemoryManager>(std::move(allocator).value(), MemoryConfig{});
}

// Loads the agent, runs a batch twice (the second time through a CUDA graph) and unloads it.
LoadedRun load_and_run(const AgentConfig& config, const EngineConfig& engine, MemoryManager* memory,
                       ThreadPool* pool) {
  LoadedRun run;
  auto agent = Agent::load(config, engine, MemoryConfig{}, memory, pool);
  EXPECT_TRUE(agent.ok()) << agent.status().to_string();
  if (!agent.ok()) return run;
  run.origin = (*agent)->load_report().encoder.plan_origin;
  const std::vector<WorkItem> items = random_items(5, 40, 17);
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  for (int repeat = 0; repeat < 2; ++repeat) {
    run.outputs.clear();
    for (auto& result : (*agent)->run_batch(batch)) {
      EXPECT_TRUE(result.ok()) << result.status().to_string();
      if (result.ok()) run.outputs.push_back(result->values);
    }
  }
  run.accounted_bytes = (*agent)->memory_usage().in_use_bytes;
  run.held_bytes = static_cast<int64_t>(cuda_encoder_device_bytes((*agent)->encoder()));
  return run;
}

class PlanCacheAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_backend_available()) GTEST_SKIP() << "no CUDA device";
    dir_ = std::make_unique<TempDir>("plan_cache_agent");
    cache_dir_ = dir_->file("engines");
    engine_.plan_cache = true;
    engine_.engine_cache_dir = cache_dir_;
    engine_.cuda_autotune_gemms = false;
    memory_ = cuda_memory_manager();
    ASSERT_TRUE(memory_);
    pool_ = std::make_unique<ThreadPool>(2);
  }

  size_t cached_plans() const {
    std::error_code error;
    if (!std::filesystem::is_directory(cache_dir_, error)) return 0;
    size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(cache_dir_))
      count += entry.path().extension() == ".jnplan" ? 1 : 0;
    return count;
  }

  std::unique_ptr<TempDir> dir_;
  std::string cache_dir_;
  EngineConfig engine_;
  std::unique_ptr<MemoryManager> memory_;
  std::unique_ptr<ThreadPool> pool_;
};

TEST_F(PlanCacheAgentTest, SecondLoadComesFromTheCacheBitIdenticalWithTheSameMemory) {
  const std::string model_dir = testing::make_fixture_model_dir("bert_seqcls", dir_->path());
  for (const char* precision : {"fp16", "int8"}) {
    SCOPED_TRACE(precision);
    const AgentConfig config =
        cuda_agent(std::string("sentiment-") + precision, model_dir, "classify", precision);
    const LoadedRun first = load_and_run(config, engine_, memory_.get(), pool_.get());
    ASSERT_TRUE(first.origin.has_value());
    EXPECT_EQ(*first.origin, PlanOrigin::kBuilt);
    const LoadedRun second = load_and_run(config, engine_, memory_.get(), pool_.get());
    ASSERT_TRUE(second.origin.has_value());
    EXPECT_EQ(*second.origin, PlanOrigin::kLoaded);
    ASSERT_EQ(second.outputs.size(), 5u);
    EXPECT_EQ(second.outputs, first.outputs) << "bit for bit";
    EXPECT_GT(first.accounted_bytes, 0);
    EXPECT_EQ(first.accounted_bytes, first.held_bytes)
        << "the manager counts what the encoder holds";
    EXPECT_EQ(second.accounted_bytes, second.held_bytes);
    EXPECT_EQ(second.accounted_bytes, first.accounted_bytes);

    // Without the cache: no plan origin, the same numbers and bytes.
    EngineConfig uncached = engine_;
    uncached.plan_cache = false;
    const LoadedRun direct = load_and_run(config, uncached, memory_.get(), pool_.get());
    EXPECT_FALSE(direct.origin.has_value());
    EXPECT_EQ(direct.outputs, first.outputs);
    EXPECT_EQ(direct.accounted_bytes, first.accounted_bytes);
  }
  EXPECT_EQ(cached_plans(), 2u) << "one plan per precision; the uncached loads wrote none";
  EXPECT_TRUE(memory_->usage_all().empty()) << "every agent was unloaded";
}

TEST_F(PlanCacheAgentTest, ParallelLoadFindsThePlansAndAFailingAgentLeaksNothing) {
  const std::string seqcls_dir = testing::make_fixture_model_dir("bert_seqcls", dir_->path());
  const std::string embed_dir = testing::make_fixture_model_dir("bert_base", dir_->path());
  // "sentiment-again" shares sentiment's directory and key: it loads after it, from the cache.
  const std::vector<AgentConfig> configs = {
      cuda_agent("sentiment", seqcls_dir, "classify", "fp16"),
      cuda_agent("embeddings", embed_dir, "embed", "fp16"),
      cuda_agent("sentiment-again", seqcls_dir, "classify", "fp16")};
  std::vector<AgentLoadRequest> requests;
  for (const AgentConfig& config : configs) requests.push_back({config, memory_.get()});
  auto agents = load_agents(requests, engine_, MemoryConfig{}, pool_.get());
  ASSERT_TRUE(agents.ok()) << agents.status().to_string();
  EXPECT_EQ((*agents)[0]->load_report().encoder.plan_origin, PlanOrigin::kBuilt);
  EXPECT_EQ((*agents)[1]->load_report().encoder.plan_origin, PlanOrigin::kBuilt);
  EXPECT_EQ((*agents)[2]->load_report().encoder.plan_origin, PlanOrigin::kLoaded);
  for (const auto& agent : *agents) {
    EXPECT_EQ(agent->memory_usage().in_use_bytes,
              static_cast<int64_t>(cuda_encoder_device_bytes(agent->encoder())))
        << agent->name();
  }
  agents->clear();

  // Again, all from the cache; then with an agent over its budget: named, and nothing is left.
  agents = load_agents(requests, engine_, MemoryConfig{}, pool_.get());
  ASSERT_TRUE(agents.ok()) << agents.status().to_string();
  for (const auto& agent : *agents)
    EXPECT_EQ(agent->load_report().encoder.plan_origin, PlanOrigin::kLoaded);
  agents->clear();
  requests[1].config.memory_budget_bytes = 1 << 20;
  requests[1].config.max_batch_tokens = 8 * 512;
  agents = load_agents(requests, engine_, MemoryConfig{}, pool_.get());
  ASSERT_FALSE(agents.ok());
  EXPECT_NE(agents.status().message().find("agent 'embeddings'"), std::string::npos)
      << agents.status().message();
  EXPECT_TRUE(memory_->usage_all().empty());
}

TEST_F(PlanCacheAgentTest, PinnedStagingIsChargedToItsAgentAndRefusedOverBudget) {
  const std::string model_dir = testing::make_fixture_model_dir("bert_seqcls", dir_->path());
  auto pinned_allocator = make_cuda_pinned_allocator();
  ASSERT_TRUE(pinned_allocator.ok()) << pinned_allocator.status().to_string();
  MemoryManager pinned(std::move(pinned_allocator).value(), MemoryConfig{});
  const AgentConfig config = cuda_agent("sentiment", model_dir, "classify", "fp16");
  {
    auto agent = Agent::load(config, engine_, MemoryConfig{}, memory_.get(), pool_.get(), &pinned);
    ASSERT_TRUE(agent.ok()) << agent.status().to_string();
    const int64_t staging = static_cast<int64_t>(cuda_encoder_pinned_bytes((*agent)->encoder()));
    EXPECT_GT(staging, 0);
    const AgentMemoryUsage usage = (*agent)->pinned_memory_usage();
    EXPECT_EQ(usage.in_use_bytes, staging) << "the pinned manager counts the encoder's staging";
    EXPECT_EQ(usage.budget_bytes, MemoryConfig{}.agent_pinned_budget_bytes);
  }
  EXPECT_TRUE(pinned.usage_all().empty()) << "unloading returns the pinned budget";

  // A pinned budget under the staging: the load is refused naming the agent; nothing is left.
  MemoryConfig tight;
  tight.agent_pinned_budget_bytes = 4096;
  std::vector<AgentLoadRequest> requests{{config, memory_.get(), &pinned}};
  auto refused = load_agents(requests, engine_, tight, pool_.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("agent 'sentiment'"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("pinned staging"), std::string::npos) << refused.status().message();
  EXPECT_TRUE(pinned.usage_all().empty());
  EXPECT_TRUE(memory_->usage_all().empty());
}

}  // namespace
}  // namespace justnews
