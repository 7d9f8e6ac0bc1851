// Agents on the random-weight fixtures (3-label softmax, 6-label sigmoid, token classification)
// with generated tokenizers: outputs against the independent naive double-precision encoder, the
// same result whatever the batch, and budgets that refuse loads and batches with the agent named.
#include "runtime/agent.h"

#include <gtest/gtest.h>

#include <cmath>

#include "naive_encoder.h"
#include "test_models.h"

namespace justnews {
namespace {

using testing::TempDir;
using testing::cpu_agent_config;

struct LoadedAgent {
  std::unique_ptr<MemoryManager> memory;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Agent> agent;
};


Result<LoadedAgent> load(const AgentConfig& config) {
  LoadedAgent loaded;
  loaded.memory = make_host_memory_manager(MemoryConfig{}, int64_t{1} << 30);
  loaded.pool = std::make_unique<ThreadPool>(2);
  JN_ASSIGN_OR_RETURN(loaded.agent, Agent::load(config, EngineConfig{}, MemoryConfig{}, loaded.memory.get(),
                                                loaded.pool.get()));
  return loaded;
}

const std::vector<std::string> kTexts = {
    "Oil prices rose 3 pct on the year, traders said.",
    "A short one.",
    "The company said it would buy back 10 mln dlrs of its shares by March, with more to come in the "
    "second half of the year if markets allow it.",
    "Rain, rain and more rain: farmers in the south said the harvest is at risk.",
    "Zebra!",
};

// Runs `texts` through the agent in one batch and, independently, each text through the naive
// encoder; compares the task's outputs.
void expect_matches_naive(const std::string& fixture, const std::string& task) {
  TempDir dir("agent");
  const std::string model_dir = testing::make_fixture_model_dir(fixture, dir.path());
  auto loaded = load(cpu_agent_config("agent-" + fixture, model_dir, task));
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  Agent& agent = *loaded->agent;
  auto model = load_model_dir(model_dir);
  ASSERT_TRUE(model.ok());

  std::vector<WorkItem> items;
  for (size_t text_idx = 0; text_idx < kTexts.size(); ++text_idx) {
    auto item = agent.tokenize(text_idx, kTexts[text_idx]);
    ASSERT_TRUE(item.ok()) << item.status().to_string();
    EXPECT_LE(item->num_tokens(), agent.max_tokens());
    items.push_back(std::move(item).value());
  }
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  const auto results = agent.run_batch(batch);
  ASSERT_EQ(results.size(), items.size());

  for (size_t item_idx = 0; item_idx < items.size(); ++item_idx) {
    ASSERT_TRUE(results[item_idx].ok()) << results[item_idx].status().to_string();
    PackedBatch single;
    single.append(items[item_idx].token_ids, items[item_idx].type_ids);
    const auto expected = testing::naive_forward(model->config, model->weights, single);
    const int64_t labels = model->config.num_labels();
    const AgentOutput& output = *results[item_idx];
    if (task == "classify" || task == "multilabel") {
      ASSERT_EQ(static_cast<int64_t>(output.values.size()), labels);
      double sum = 0;
      for (int64_t label = 0; label < labels; ++label) {
        const double logit = expected.logits[label];
        double want;
        if (task == "multilabel") {
          want = 1.0 / (1.0 + std::exp(-logit));
        } else {
          double denominator = 0;
          for (int64_t other = 0; other < labels; ++other) denominator += std::exp(expected.logits[other] - logit);
          want = 1.0 / denominator;
        }
        EXPECT_NEAR(output.values[label], want, 1e-4) << fixture << " text " << item_idx << " label " << label;
        sum += output.values[label];
      }
      if (task == "classify") EXPECT_NEAR(sum, 1.0, 1e-4);
    } else {
      // Token classification: every reported token's label is the naive argmax, and every
      // non-special token whose naive argmax is not the outside label (0) is reported.
      size_t expected_reported = 0;
      for (int64_t token = 1; token + 1 < items[item_idx].num_tokens(); ++token) {
        const double* row = expected.logits.data() + token * labels;
        const int64_t best = std::max_element(row, row + labels) - row;
        if (best != 0) ++expected_reported;
      }
      EXPECT_EQ(output.tokens.size(), expected_reported) << "text " << item_idx;
      for (const TokenPrediction& token : output.tokens) {
        const double* row = expected.logits.data() + token.token_idx * labels;
        EXPECT_EQ(token.label_id, std::max_element(row, row + labels) - row);
        EXPECT_LT(token.char_begin, token.char_end);
      }
    }
  }
}

TEST(Agent, ClassifyMatchesNaiveSoftmax) { expect_matches_naive("bert_seqcls", "classify"); }
TEST(Agent, MultilabelMatchesNaiveSigmoid) { expect_matches_naive("bert_multilabel", "multilabel"); }
TEST(Agent, TokenClassifyMatchesNaiveArgmax) { expect_matches_naive("bert_tokcls", "token-classify"); }

TEST(Agent, TruncatesToTheConfiguredLength) {
  TempDir dir("agent");
  AgentConfig config = cpu_agent_config("short", testing::make_fixture_model_dir("bert_seqcls", dir.path()), "classify");
  config.truncation_length = 8;
  auto loaded = load(config);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  auto item = loaded->agent->tokenize(0, kTexts[2]);
  ASSERT_TRUE(item.ok());
  EXPECT_EQ(item->num_tokens(), 8);
}

TEST(Agent, TaskMustFitTheCheckpoint) {
  TempDir dir("agent");
  auto wrong = load(cpu_agent_config("tok", testing::make_fixture_model_dir("bert_seqcls", dir.path()), "token-classify"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("agent 'tok'"), std::string::npos);
  auto missing = load(cpu_agent_config("gone", dir.file("no-such-model"), "classify"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("agent 'gone'"), std::string::npos);
}

TEST(Agent, LoadOverBudgetIsRefusedWithAgentAndLimit) {
  TempDir dir("agent");
  AgentConfig config = cpu_agent_config("sentiment", testing::make_fixture_model_dir("bert_seqcls", dir.path()), "classify");
  config.memory_budget_bytes = 4096;
  auto refused = load(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("agent 'sentiment'"), std::string::npos);
  EXPECT_NE(refused.status().message().find("loading model weights"), std::string::npos);
  EXPECT_NE(refused.status().message().find("4096 bytes"), std::string::npos);
}

TEST(Agent, BatchOverBudgetIsSplitAndAnItemOverBudgetIsRefused) {
  TempDir dir("agent");
  const std::string model_dir = testing::make_fixture_model_dir("bert_seqcls", dir.path());
  auto model = load_model_dir(model_dir);
  ASSERT_TRUE(model.ok());
  const EncoderConfig& mc = model->config;
  AgentConfig config = cpu_agent_config("sentiment", model_dir, "classify");
  // Weights plus room for one 40-token sequence, not for two.
  config.memory_budget_bytes = model->parameter_count * 4 + estimate_batch_bytes(mc, 40, 40) + 1024;
  auto loaded = load(config);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  Agent& agent = *loaded->agent;

  std::vector<WorkItem> items;
  for (uint64_t key = 0; key < 4; ++key) {
    WorkItem item;
    item.key = key;
    const int length = key == 3 ? 64 : 40;  // the last alone exceeds the budget
    item.token_ids.assign(length, 7);
    item.type_ids.assign(length, 0);
    items.push_back(item);
  }
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  const auto results = agent.run_batch(batch);
  for (size_t item_idx = 0; item_idx < 3; ++item_idx) {
    ASSERT_TRUE(results[item_idx].ok()) << results[item_idx].status().to_string();
    EXPECT_EQ(results[item_idx]->values, results[0]->values) << "identical inputs, identical outputs";
  }
  ASSERT_FALSE(results[3].ok());
  EXPECT_EQ(results[3].status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(results[3].status().message().find("agent 'sentiment'"), std::string::npos);
  EXPECT_NE(results[3].status().message().find("64 tokens"), std::string::npos);
  EXPECT_LE(agent.memory_usage().peak_bytes, config.memory_budget_bytes);
}

}  // namespace
}  // namespace justnews

namespace justnews {
namespace {

// Runs kTexts through a CPU agent of `precision` and returns each text's probabilities.
Result<std::vector<std::vector<float>>> classify_all(const std::string& model_dir, const std::string& precision) {
  AgentConfig config = cpu_agent_config("sentiment-" + precision, model_dir, "classify");
  config.precision = precision;
  JN_ASSIGN_OR_RETURN(LoadedAgent loaded, load(config));
  std::vector<WorkItem> items;
  for (size_t idx = 0; idx < kTexts.size(); ++idx) {
    JN_ASSIGN_OR_RETURN(WorkItem item, loaded.agent->tokenize(idx, kTexts[idx]));
    items.push_back(std::move(item));
  }
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  std::vector<std::vector<float>> probabilities;
  for (auto& result : loaded.agent->run_batch(batch)) {
    if (!result.ok()) return result.status();
    probabilities.push_back(result->values);
  }
  return probabilities;
}

// The agent's precision reaches the CPU encoder: bf16 and int8 agents give probabilities close to
// fp32 (and fp16, which the CPU runs as fp32, gives the same), and a 4-bit group wider than the
// model's rows is refused at load with the agent's name.
TEST(Agent, CpuPrecisionFromConfig) {
  TempDir dir("agent");
  const std::string model_dir = testing::make_fixture_model_dir("bert_seqcls", dir.path());
  auto reference = classify_all(model_dir, "fp32");
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  auto fp16 = classify_all(model_dir, "fp16");
  ASSERT_TRUE(fp16.ok()) << fp16.status().to_string();
  EXPECT_EQ(*fp16, *reference);
  for (const std::string precision : {"bf16", "int8"}) {
    auto actual = classify_all(model_dir, precision);
    ASSERT_TRUE(actual.ok()) << precision << ": " << actual.status().to_string();
    bool any_different = false;
    for (size_t text = 0; text < reference->size(); ++text)
      for (size_t label = 0; label < (*reference)[text].size(); ++label) {
        EXPECT_NEAR((*actual)[text][label], (*reference)[text][label], 0.05) << precision;
        any_different |= (*actual)[text][label] != (*reference)[text][label];
      }
    EXPECT_TRUE(any_different) << precision << " ran as fp32";
  }
  auto four_bit = classify_all(model_dir, "nf4");  // hidden 32 < the default group of 64
  ASSERT_FALSE(four_bit.ok());
  EXPECT_NE(four_bit.status().message().find("sentiment-nf4"), std::string::npos) << four_bit.status().message();
  EXPECT_NE(four_bit.status().message().find("group size"), std::string::npos) << four_bit.status().message();
}

}  // namespace
}  // namespace justnews
