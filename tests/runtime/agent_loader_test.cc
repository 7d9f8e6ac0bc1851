// Parallel agent loading on the CPU (random-weight fixtures with generated tokenizers): agents
// loaded together compute exactly what the same agents loaded one by one compute and are charged
// the same memory; a failing agent is named (every failing agent is), and nothing of the agents
// that did load stays registered or leased; the analyze summary reports each agent's load time.
#include "runtime/agent_loader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "runtime/analyze_pipeline.h"
#include "test_models.h"

namespace justnews {
namespace {

using testing::TempDir;
using testing::cpu_agent_config;


const std::vector<std::string> kTexts = {
    "Oil prices rose 3 pct on the year, traders said.",
    "A short one.",
    "The company said it would buy back 10 mln dlrs of its shares by March, with more to come.",
};

std::vector<std::vector<float>> outputs_of(Agent& agent) {
  std::vector<WorkItem> items;
  for (size_t text_idx = 0; text_idx < kTexts.size(); ++text_idx) {
    auto item = agent.tokenize(text_idx, kTexts[text_idx]);
    EXPECT_TRUE(item.ok()) << item.status().to_string();
    if (item.ok()) items.push_back(std::move(item).value());
  }
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  std::vector<std::vector<float>> outputs;
  for (auto& result : agent.run_batch(batch)) {
    EXPECT_TRUE(result.ok()) << agent.name() << ": " << result.status().to_string();
    outputs.push_back(result.ok() ? result->values : std::vector<float>{});
  }
  return outputs;
}

class AgentLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("agent_loader");
    seqcls_dir_ = testing::make_fixture_model_dir("bert_seqcls", dir_->path());
    multilabel_dir_ = testing::make_fixture_model_dir("bert_multilabel", dir_->path());
    embed_dir_ = testing::make_fixture_model_dir("bert_base", dir_->path());
    memory_ = make_host_memory_manager(MemoryConfig{}, int64_t{1} << 30);
    pool_ = std::make_unique<ThreadPool>(2);
  }

  std::vector<AgentLoadRequest> requests(const std::vector<AgentConfig>& configs) {
    std::vector<AgentLoadRequest> loaded;
    for (const AgentConfig& config : configs) loaded.push_back({config, memory_.get()});
    return loaded;
  }

  std::unique_ptr<TempDir> dir_;
  std::string seqcls_dir_;
  std::string multilabel_dir_;
  std::string embed_dir_;
  std::unique_ptr<MemoryManager> memory_;
  std::unique_ptr<ThreadPool> pool_;
};

TEST_F(AgentLoaderTest, AgentsLoadedTogetherMatchAgentsLoadedOneByOne) {
  // "again" shares its model directory with "sentiment" (spelt differently): loaded on one thread.
  const std::vector<AgentConfig> configs = {cpu_agent_config("sentiment", seqcls_dir_, "classify"),
                                            cpu_agent_config("toxicity", multilabel_dir_, "multilabel"),
                                            cpu_agent_config("embeddings", embed_dir_, "embed"),
                                            cpu_agent_config("again", seqcls_dir_ + "/./", "classify")};
  auto agents = load_agents(requests(configs), EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_TRUE(agents.ok()) << agents.status().to_string();
  ASSERT_EQ(agents->size(), configs.size());

  auto one_by_one_memory = make_host_memory_manager(MemoryConfig{}, int64_t{1} << 30);
  for (size_t agent_idx = 0; agent_idx < configs.size(); ++agent_idx) {
    Agent& agent = *(*agents)[agent_idx];
    EXPECT_EQ(agent.name(), configs[agent_idx].name) << "agents come back in request order";
    const AgentLoadReport& report = agent.load_report();
    EXPECT_GT(report.load_s, 0.0) << agent.name();
    EXPECT_GT(report.model_s, 0.0) << agent.name();
    EXPECT_GT(report.tokenizer_s, 0.0) << agent.name();
    EXPECT_GT(report.encoder_s, 0.0) << agent.name();
    EXPECT_LE(report.model_s + report.encoder_s, report.load_s) << agent.name();
    EXPECT_FALSE(report.encoder.plan_origin.has_value())
        << agent.name() << ": the CPU backend has no engine plan";

    auto alone = Agent::load(configs[agent_idx], EngineConfig{}, MemoryConfig{},
                             one_by_one_memory.get(), pool_.get());
    ASSERT_TRUE(alone.ok()) << alone.status().to_string();
    EXPECT_EQ(outputs_of(agent), outputs_of(**alone)) << agent.name() << ": bit for bit";
    EXPECT_EQ(agent.max_tokens(), (*alone)->max_tokens()) << agent.name();
    EXPECT_EQ(agent.memory_usage().in_use_bytes, (*alone)->memory_usage().in_use_bytes)
        << agent.name();
    EXPECT_GT(agent.memory_usage().in_use_bytes, 0) << agent.name();
  }
  EXPECT_EQ(memory_->usage_all().size(), configs.size());
  agents->clear();
  EXPECT_TRUE(memory_->usage_all().empty()) << "released agents unregister";
}

TEST_F(AgentLoaderTest, SentenceTransformersLengthStillLimitsTruncation) {
  // The length comes from load_model_dir now (sentence_bert_config.json is read once).
  testing::write_text_file(embed_dir_ + "/sentence_bert_config.json", "{\"max_seq_length\": 7}");
  auto agents = load_agents(requests({cpu_agent_config("embeddings", embed_dir_, "embed")}),
                            EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_TRUE(agents.ok()) << agents.status().to_string();
  Agent& agent = *agents->front();
  EXPECT_EQ(agent.max_tokens(), 7);
  auto item = agent.tokenize(0, kTexts[2]);
  ASSERT_TRUE(item.ok()) << item.status().to_string();
  EXPECT_EQ(item->num_tokens(), 7);
}

TEST_F(AgentLoaderTest, FailingAgentIsNamedAndTheOthersAreReleased) {
  const std::vector<AgentConfig> configs = {cpu_agent_config("sentiment", seqcls_dir_, "classify"),
                                            cpu_agent_config("broken", dir_->file("nowhere"), "classify"),
                                            cpu_agent_config("embeddings", embed_dir_, "embed")};
  auto agents = load_agents(requests(configs), EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_FALSE(agents.ok());
  const std::string message = agents.status().message();
  EXPECT_EQ(agents.status().code(), StatusCode::kNotFound) << message;
  EXPECT_NE(message.find("agent 'broken'"), std::string::npos) << message;
  EXPECT_NE(message.find("nowhere"), std::string::npos) << message;
  EXPECT_EQ(message.find("agent 'sentiment'"), std::string::npos) << message;
  EXPECT_TRUE(memory_->usage_all().empty()) << "the agents that loaded were released";

  // The names are free again: the good agents load on the same manager.
  agents =
      load_agents(requests({configs[0], configs[2]}), EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_TRUE(agents.ok()) << agents.status().to_string();
  EXPECT_EQ(memory_->usage_all().size(), 2u);
}

TEST_F(AgentLoaderTest, EveryFailingAgentIsNamed) {
  const std::vector<AgentConfig> configs = {
      cpu_agent_config("wrong-head", embed_dir_, "classify"),
      cpu_agent_config("sentiment", seqcls_dir_, "classify"),
      cpu_agent_config("over-budget", multilabel_dir_, "multilabel")};
  std::vector<AgentLoadRequest> loading = requests(configs);
  loading[2].config.memory_budget_bytes = 1024;
  auto agents = load_agents(loading, EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_FALSE(agents.ok());
  const std::string message = agents.status().message();
  EXPECT_EQ(agents.status().code(), StatusCode::kInvalidArgument)
      << "the first failing agent's code: " << message;
  EXPECT_NE(
      message.find("agent 'wrong-head': task classify needs a sequence-classification checkpoint"),
      std::string::npos)
      << message;
  EXPECT_NE(message.find("agent 'over-budget'"), std::string::npos) << message;
  EXPECT_TRUE(memory_->usage_all().empty());
}

TEST_F(AgentLoaderTest, DuplicateNameAndMissingManagerAreRefusedNamingTheAgent) {
  auto agents = load_agents(requests({cpu_agent_config("twin", seqcls_dir_, "classify"),
                                      cpu_agent_config("twin", multilabel_dir_, "multilabel")}),
                            EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_FALSE(agents.ok());
  EXPECT_NE(agents.status().message().find("twin"), std::string::npos) << agents.status().message();
  EXPECT_TRUE(memory_->usage_all().empty());

  std::vector<AgentLoadRequest> unmanaged =
      requests({cpu_agent_config("orphan", seqcls_dir_, "classify")});
  unmanaged[0].memory = nullptr;
  agents = load_agents(unmanaged, EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_FALSE(agents.ok());
  EXPECT_EQ(agents.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(agents.status().message().find("agent 'orphan'"), std::string::npos)
      << agents.status().message();
}

TEST_F(AgentLoaderTest, NoAgentsIsAnEmptyList) {
  auto agents = load_agents({}, EngineConfig{}, MemoryConfig{}, pool_.get());
  ASSERT_TRUE(agents.ok()) << agents.status().to_string();
  EXPECT_TRUE(agents->empty());
}

TEST_F(AgentLoaderTest, AnalyzeSummaryReportsEachAgentsLoad) {
  Config config;
  config.engine.backend = "cpu";
  config.engine.num_threads = 2;
  config.agents = {cpu_agent_config("sentiment", seqcls_dir_, "classify"),
                   cpu_agent_config("embeddings", embed_dir_, "embed")};
  std::ofstream input(dir_->file("articles.jsonl"));
  for (size_t text_idx = 0; text_idx < kTexts.size(); ++text_idx)
    input << "{\"id\": \"a" << text_idx << "\", \"title\": \"" << kTexts[text_idx] << "\"}\n";
  input.close();
  AnalyzeOptions options;
  options.input_path = dir_->file("articles.jsonl");
  options.store_path = dir_->file("store.db");
  auto summary = run_analyze(config, options);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->analyzed, static_cast<int64_t>(kTexts.size()));
  ASSERT_EQ(summary->agents.size(), 2u);
  for (const AgentRunSummary& agent : summary->agents) {
    EXPECT_GT(agent.load_s, 0.0) << agent.name;
    EXPECT_GT(agent.encoder_s, 0.0) << agent.name;
    EXPECT_LE(agent.load_s, summary->load_s) << agent.name << ": within the load stage";
    EXPECT_EQ(agent.plan_origin, "") << agent.name;
  }

  // A failing agent fails the run, named, before any article is read.
  config.agents.push_back(cpu_agent_config("broken", dir_->file("nowhere"), "classify"));
  options.store_path = dir_->file("store2.db");
  auto failed = run_analyze(config, options);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("agent 'broken'"), std::string::npos)
      << failed.status().message();
}

}  // namespace
}  // namespace justnews
