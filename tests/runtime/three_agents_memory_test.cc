// Issue 6's three CUDA agents on one device (RoBERTa-base-shaped 3-label classifier, BERT-base-shaped
// 6-label multi-label classifier, MiniLM-L6-shaped embedder; random fp16 weights written as model
// directories and loaded through Agent::load): their weights and workspaces are leases from the
// MemoryManager, a 32 x 512 batch each fits in 1.5 GB of device memory, the manager's accounting
// equals what the encoders hold, and a load over budget is refused with the agent, the request and
// the limit, leaking nothing. The plans go through an engine cache in the test's temp directory.
// Label gpu: skipped without a CUDA device.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/cuda_encoder.h"
#include "memory/cuda_allocator.h"
#include "random_model.h"
#include "runtime/agent.h"
#include "runtime/backend.h"
#include "runtime/embedding_analysis.h"
#include "tensor/dtype.h"
#include "test_models.h"

namespace justnews {
namespace {

using testing::RandomModel;
using testing::RandomModelShape;

constexpr int kMaxBatchItems = 32;
constexpr int kSequenceTokens = 512;
constexpr int64_t kMiB = int64_t{1} << 20;
constexpr double kDeviceLimitBytes = 1.5e9;  // issue 6: three agents in 1.5 GB

struct AgentShape {
  std::string name;
  std::string task;        // classify | multilabel | embed
  std::string model_type;  // bert | roberta
  RandomModelShape shape;
};

RandomModelShape base_shape(int64_t vocab_size, int64_t hidden, int64_t layers, int64_t intermediate) {
  RandomModelShape shape;
  shape.vocab_size = vocab_size;
  shape.hidden_size = hidden;
  shape.num_layers = layers;
  shape.num_heads = 12;
  shape.intermediate_size = intermediate;
  return shape;
}

std::vector<AgentShape> issue6_agents() {
  AgentShape sentiment{"sentiment", "classify", "roberta", base_shape(50265, 768, 12, 3072)};
  sentiment.shape.max_position_embeddings = 514;  // RoBERTa: positions start after the padding id
  sentiment.shape.type_vocab_size = 1;
  sentiment.shape.head = HeadKind::kSequenceClassification;
  sentiment.shape.num_labels = 3;
  AgentShape toxicity{"toxicity", "multilabel", "bert", base_shape(30522, 768, 12, 3072)};
  toxicity.shape.head = HeadKind::kSequenceClassification;
  toxicity.shape.num_labels = 6;
  AgentShape embeddings{"embeddings", "embed", "bert", base_shape(30522, 384, 6, 1536)};
  return {sentiment, toxicity, embeddings};
}

// HF checkpoint names for the weights of `model` (BertModel / *ForSequenceClassification).
std::vector<std::pair<std::string, Tensor>> checkpoint_tensors(const std::string& model_type,
                                                               const RandomModel& model) {
  const EncoderWeights& weights = model.weights;
  const std::string prefix = model_type + ".";
  std::vector<std::pair<std::string, Tensor>> named = {
      {prefix + "embeddings.word_embeddings.weight", weights.word_embeddings},
      {prefix + "embeddings.position_embeddings.weight", weights.position_embeddings},
      {prefix + "embeddings.token_type_embeddings.weight", weights.token_type_embeddings},
      {prefix + "embeddings.LayerNorm.weight", weights.embedding_norm_gamma},
      {prefix + "embeddings.LayerNorm.bias", weights.embedding_norm_beta}};
  for (size_t layer_idx = 0; layer_idx < weights.layers.size(); ++layer_idx) {
    const LayerWeights& layer = weights.layers[layer_idx];
    const std::string base = prefix + "encoder.layer." + std::to_string(layer_idx) + ".";
    const std::vector<std::pair<std::string, const Tensor*>> parts = {
        {"attention.self.query.weight", &layer.query_weight},
        {"attention.self.query.bias", &layer.query_bias},
        {"attention.self.key.weight", &layer.key_weight},
        {"attention.self.key.bias", &layer.key_bias},
        {"attention.self.value.weight", &layer.value_weight},
        {"attention.self.value.bias", &layer.value_bias},
        {"attention.output.dense.weight", &layer.attention_output_weight},
        {"attention.output.dense.bias", &layer.attention_output_bias},
        {"attention.output.LayerNorm.weight", &layer.attention_norm_gamma},
        {"attention.output.LayerNorm.bias", &layer.attention_norm_beta},
        {"intermediate.dense.weight", &layer.ffn_in_weight},
        {"intermediate.dense.bias", &layer.ffn_in_bias},
        {"output.dense.weight", &layer.ffn_out_weight},
        {"output.dense.bias", &layer.ffn_out_bias},
        {"output.LayerNorm.weight", &layer.ffn_norm_gamma},
        {"output.LayerNorm.bias", &layer.ffn_norm_beta}};
    for (const auto& [name, tensor] : parts) named.emplace_back(base + name, *tensor);
  }
  if (model.config.head == HeadKind::kSequenceClassification) {
    const bool roberta = model_type == "roberta";
    named.emplace_back(roberta ? "classifier.dense.weight" : "bert.pooler.dense.weight", weights.head.pre_weight);
    named.emplace_back(roberta ? "classifier.dense.bias" : "bert.pooler.dense.bias", weights.head.pre_bias);
    named.emplace_back(roberta ? "classifier.out_proj.weight" : "classifier.weight", weights.head.out_weight);
    named.emplace_back(roberta ? "classifier.out_proj.bias" : "classifier.bias", weights.head.out_bias);
  }
  return named;
}

// Writes `model` as an F16 safetensors file, streamed (hundreds of MB for the base shapes).
void write_f16_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const size_t bytes = static_cast<size_t>(tensor.numel()) * 2;
    header[name] = {{"dtype", "F16"}, {"shape", tensor.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  const std::string text = header.dump();
  std::ofstream out(path, std::ios::binary);
  const uint64_t header_bytes = text.size();
  out.write(reinterpret_cast<const char*>(&header_bytes), 8);  // little-endian on x86
  out << text;
  std::vector<uint16_t> halves;
  for (const auto& [name, tensor] : tensors) {
    const float* values = tensor.data_as<float>();
    halves.resize(static_cast<size_t>(tensor.numel()));
    for (size_t idx = 0; idx < halves.size(); ++idx) halves[idx] = f32_to_f16(values[idx]);
    out.write(reinterpret_cast<const char*>(halves.data()), static_cast<std::streamsize>(halves.size() * 2));
  }
  ASSERT_TRUE(out.good()) << "writing " << path;
}

// A model directory: the test tokenizer (ids < 99, valid for every vocabulary here), an HF
// config.json of the agent's shape and random F16 weights.
std::string write_model_dir(const AgentShape& agent, const std::string& parent, uint32_t seed) {
  const std::string dir = testing::make_fixture_model_dir("bert_base", parent + "/" + agent.name);
  const RandomModel model = testing::make_random_model(agent.shape, seed);
  const RandomModelShape& shape = agent.shape;
  nlohmann::json config = {{"model_type", agent.model_type},
                           {"vocab_size", shape.vocab_size},
                           {"hidden_size", shape.hidden_size},
                           {"num_hidden_layers", shape.num_layers},
                           {"num_attention_heads", shape.num_heads},
                           {"intermediate_size", shape.intermediate_size},
                           {"max_position_embeddings", shape.max_position_embeddings},
                           {"type_vocab_size", shape.type_vocab_size},
                           {"hidden_act", "gelu"},
                           {"layer_norm_eps", agent.model_type == "roberta" ? 1e-5 : 1e-12},
                           {"pad_token_id", agent.model_type == "roberta" ? 1 : 0}};
  const std::string arch = agent.model_type == "roberta" ? "Roberta" : "Bert";
  if (shape.head == HeadKind::kSequenceClassification) {
    config["architectures"] = {arch + "ForSequenceClassification"};
    nlohmann::json id2label = nlohmann::json::object();
    for (int64_t label = 0; label < shape.num_labels; ++label) {
      id2label[std::to_string(label)] = "label_" + std::to_string(label);
    }
    config["id2label"] = id2label;
    if (agent.task == "multilabel") config["problem_type"] = "multi_label_classification";
  } else {
    config["architectures"] = {arch + "Model"};
  }
  testing::write_text_file(dir + "/config.json", config.dump(1));
  write_f16_safetensors(dir + "/model.safetensors", checkpoint_tensors(agent.model_type, model));
  return dir;
}

AgentConfig cuda_agent_config(const AgentShape& agent, const std::string& model_dir) {
  AgentConfig config;
  config.name = agent.name;
  config.model_dir = model_dir;
  config.task = agent.task;
  config.precision = "fp16";
  config.device = "cuda";
  config.max_batch_items = kMaxBatchItems;
  config.max_batch_tokens = kMaxBatchItems * kSequenceTokens;
  return config;
}

// `count` items of `tokens` random ids in [5, 99) (the tokenizer's non-special ids), type 0.
std::vector<WorkItem> random_items(size_t count, int64_t tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(5, 98);
  std::vector<WorkItem> items(count);
  for (size_t item_idx = 0; item_idx < count; ++item_idx) {
    items[item_idx].key = item_idx;
    for (int64_t token_idx = 0; token_idx < tokens; ++token_idx) items[item_idx].token_ids.push_back(id(rng));
    items[item_idx].type_ids.assign(static_cast<size_t>(tokens), 0);
  }
  return items;
}

std::vector<const WorkItem*> pointers(const std::vector<WorkItem>& items) {
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  return batch;
}

int64_t device_free_bytes() {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  return static_cast<int64_t>(free_bytes);
}

std::unique_ptr<MemoryManager> cuda_memory_manager() {
  auto allocator = make_cuda_device_allocator(0);
  EXPECT_TRUE(allocator.ok()) << allocator.status().to_string();
  if (!allocator.ok()) return nullptr;
  return std::make_unique<MemoryManager>(std::move(allocator).value(), MemoryConfig{});
}

class ThreeAgentsMemoryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!cuda_backend_available()) return;
    dir_ = new testing::TempDir("three_agents");
    uint32_t seed = 61;
    for (const AgentShape& agent : issue6_agents()) model_dirs_.push_back(write_model_dir(agent, dir_->path(), seed++));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    model_dirs_.clear();
  }
  void SetUp() override {
    if (!cuda_backend_available()) GTEST_SKIP() << "no CUDA device";
    ASSERT_EQ(cudaFree(nullptr), cudaSuccess);  // the context exists before any measurement
  }

  // Plans are cached beside the models, not in the user's cache directory.
  static EngineConfig engine() {
    EngineConfig engine;
    engine.engine_cache_dir = dir_->file("engines");
    return engine;
  }

  static testing::TempDir* dir_;
  static std::vector<std::string> model_dirs_;
};

testing::TempDir* ThreeAgentsMemoryTest::dir_ = nullptr;
std::vector<std::string> ThreeAgentsMemoryTest::model_dirs_;

TEST_F(ThreeAgentsMemoryTest, ThreeFp16AgentsRunFullBatchesWithinBudgetAndAccounting) {
  const std::vector<AgentShape> shapes = issue6_agents();
  ThreadPool pool(4);
  const int64_t free_before = device_free_bytes();
  auto memory = cuda_memory_manager();
  ASSERT_TRUE(memory);
  std::vector<std::unique_ptr<Agent>> agents;
  for (size_t agent_idx = 0; agent_idx < shapes.size(); ++agent_idx) {
    auto agent = Agent::load(cuda_agent_config(shapes[agent_idx], model_dirs_[agent_idx]), engine(),
                             MemoryConfig{}, memory.get(), &pool);
    ASSERT_TRUE(agent.ok()) << agent.status().to_string();
    ASSERT_EQ((*agent)->backend_name(), "cuda-fp16");
    agents.push_back(std::move(agent).value());
  }

  // A CPU fp32 agent on the same weights checks the first sequence of each full batch: the
  // encoder computes correctly out of leased pool memory.
  auto host_memory = make_host_memory_manager(MemoryConfig{});
  for (size_t agent_idx = 0; agent_idx < agents.size(); ++agent_idx) {
    Agent& agent = *agents[agent_idx];
    const std::vector<WorkItem> items = random_items(kMaxBatchItems, kSequenceTokens, 71 + agent_idx);
    const auto results = agent.run_batch(pointers(items));
    for (const auto& result : results) ASSERT_TRUE(result.ok()) << result.status().to_string();

    AgentConfig cpu_config = agent.config();
    cpu_config.device = "cpu";
    cpu_config.precision = "fp32";
    auto cpu_agent = Agent::load(cpu_config, EngineConfig{}, MemoryConfig{}, host_memory.get(), &pool);
    ASSERT_TRUE(cpu_agent.ok()) << cpu_agent.status().to_string();
    const auto expected = (*cpu_agent)->run_batch({&items.front()});
    ASSERT_TRUE(expected.front().ok()) << expected.front().status().to_string();
    const std::vector<float>& want = expected.front()->values;
    const std::vector<float>& got = results.front()->values;
    ASSERT_EQ(got.size(), want.size());
    if (agent.task() == AgentTask::kEmbed) {
      EXPECT_GE(cosine_similarity(got, want), 0.999) << agent.name();
    } else {
      for (size_t idx = 0; idx < want.size(); ++idx) EXPECT_NEAR(got[idx], want[idx], 0.05) << agent.name();
    }
  }

  // More than the largest batch is split, not refused.
  const std::vector<WorkItem> many = random_items(2 * kMaxBatchItems + 5, 40, 81);
  for (const auto& result : agents.back()->run_batch(pointers(many))) {
    ASSERT_TRUE(result.ok()) << result.status().to_string();
  }

  const int64_t device_used = free_before - device_free_bytes();
  int64_t held_total = 0;
  int64_t accounted_total = 0;
  std::printf("three fp16 agents, workspace for %d x %d tokens each:\n", kMaxBatchItems, kSequenceTokens);
  for (const auto& agent : agents) {
    const int64_t held = static_cast<int64_t>(cuda_encoder_device_bytes(agent->encoder()));
    const AgentMemoryUsage usage = agent->memory_usage();
    EXPECT_EQ(usage.in_use_bytes, held) << agent->name() << ": the manager counts what the encoder holds";
    EXPECT_EQ(usage.peak_bytes, held) << agent->name() << ": batches take no memory beyond the workspace";
    std::printf("  %-10s encoder holds %7.1f MiB (manager: in use %7.1f MiB, peak %7.1f MiB, budget %.1f GiB)\n",
                agent->name().c_str(), held / double(kMiB), usage.in_use_bytes / double(kMiB),
                usage.peak_bytes / double(kMiB), usage.budget_bytes / double(kMiB << 10));
    held_total += held;
    accounted_total += usage.in_use_bytes;
  }
  const int64_t pool_bytes = memory->pool_reserved_bytes();
  // Each agent holds two leases (weights, workspace); the pool rounds each chunk up to whole blocks.
  const int64_t max_rounding = static_cast<int64_t>(2 * agents.size()) * MemoryConfig{}.pool_block_bytes;
  std::printf("  total: encoders %.1f MiB, manager %.1f MiB, pool reserved %.1f MiB, device used %.1f MiB "
              "(cudaMemGetInfo delta after the context existed)\n",
              held_total / double(kMiB), accounted_total / double(kMiB), pool_bytes / double(kMiB),
              device_used / double(kMiB));
  EXPECT_EQ(accounted_total, held_total);
  EXPECT_GE(pool_bytes, held_total);
  EXPECT_LE(pool_bytes - held_total, max_rounding);
  EXPECT_GE(device_used, pool_bytes);
  EXPECT_LE(static_cast<double>(device_used), kDeviceLimitBytes);
  RecordProperty("device_used_bytes", std::to_string(device_used));
  RecordProperty("pool_reserved_bytes", std::to_string(pool_bytes));
}

TEST_F(ThreeAgentsMemoryTest, LoadOverBudgetIsRefusedNamingAgentRequestAndLimitAndLeaksNothing) {
  const AgentShape sentiment = issue6_agents().front();
  const std::string& model_dir = model_dirs_.front();
  auto loaded = load_model_dir(model_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const int64_t fp16_weight_bytes = loaded->parameter_count * 2;
  ThreadPool pool(2);
  auto memory = cuda_memory_manager();
  ASSERT_TRUE(memory);
  const int64_t free_before = device_free_bytes();

  // Weights do not fit: refused before the encoder touches the device memory.
  AgentConfig config = cuda_agent_config(sentiment, model_dir);
  config.memory_budget_bytes = 100 * kMiB;
  auto refused = Agent::load(config, engine(), MemoryConfig{}, memory.get(), &pool);
  ASSERT_FALSE(refused.ok());
  const std::string message = refused.status().message();
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << message;
  EXPECT_NE(message.find("agent 'sentiment'"), std::string::npos) << message;
  EXPECT_NE(message.find("encoder weights"), std::string::npos) << message;
  EXPECT_NE(message.find("budget on cuda:0 is 100.0 MiB"), std::string::npos) << message;
  EXPECT_EQ(memory->pool_reserved_bytes(), 0) << "refused before the pool grew";
  std::printf("over-budget load: %s\n", message.c_str());

  // Weights fit, the workspace for 32 x 512 tokens does not: the weights' lease is given back.
  config.memory_budget_bytes = fp16_weight_bytes + 8 * kMiB;
  refused = Agent::load(config, engine(), MemoryConfig{}, memory.get(), &pool);
  ASSERT_FALSE(refused.ok());
  const std::string workspace_message = refused.status().message();
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << workspace_message;
  EXPECT_NE(workspace_message.find("agent 'sentiment'"), std::string::npos) << workspace_message;
  EXPECT_NE(workspace_message.find("encoder workspace (max_batch_tokens 16384)"), std::string::npos)
      << workspace_message;
  EXPECT_NE(workspace_message.find("is already in use"), std::string::npos) << workspace_message;
  std::printf("over-budget workspace: %s\n", workspace_message.c_str());

  // Nothing is left behind: the name is free again, no lease remains, the device is as before.
  EXPECT_EQ(memory->usage("sentiment").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(memory->usage_all().empty());
  memory->trim();
  EXPECT_EQ(memory->pool_reserved_bytes(), 0);
  EXPECT_LE(std::llabs(device_free_bytes() - free_before), 16 * kMiB);

  // The same agent within its budget then loads and runs on the same manager.
  config.memory_budget_bytes = 0;
  auto agent = Agent::load(config, engine(), MemoryConfig{}, memory.get(), &pool);
  ASSERT_TRUE(agent.ok()) << agent.status().to_string();
  const std::vector<WorkItem> items = random_items(2, 100, 91);
  for (const auto& result : (*agent)->run_batch(pointers(items))) ASSERT_TRUE(result.ok());
  EXPECT_EQ((*agent)->memory_usage().in_use_bytes,
            static_cast<int64_t>(cuda_encoder_device_bytes((*agent)->encoder())));
}

}  // namespace
}  // namespace justnews
