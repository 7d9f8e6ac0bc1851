// The built-in offline agent on the real all-MiniLM-L6-v2 (skipped when tools/setup.sh has not
// installed it): embeddings equal sentence-transformers' for Reuters titles (reference dumped by
// tools/make_fixtures.py), and zero-shot topics agree with AG News labels far above chance.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "model/weight_file.h"
#include "runtime/agent.h"
#include "runtime/analyze_pipeline.h"
#include "store/sqlite/sqlite_store.h"
#include "test_models.h"

namespace justnews {
namespace {

const std::string kModelDir = std::string(JUSTNEWS_SOURCE_DIR) + "/models/all-MiniLM-L6-v2";

class MiniLmAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModelDir + "/model.safetensors")) GTEST_SKIP() << "MiniLM is not installed";
    if (testing::corpus_path("reuters21578.jsonl").empty()) GTEST_SKIP() << "../shared/data/news is not present";
  }
};

TEST_F(MiniLmAgentTest, EmbeddingsMatchSentenceTransformers) {
  std::ifstream titles_file(std::string(JUSTNEWS_SOURCE_DIR) + "/tests/fixtures/minilm/titles.json");
  const nlohmann::json titles = nlohmann::json::parse(titles_file);
  // The titles tools/make_fixtures.py picked: per corpus, rows with a non-blank title, every
  // len/count-th one (ids alone are ambiguous: the SemEval file repeats some).
  std::vector<std::string> picked;
  for (const auto& [corpus_name, count] : {std::pair{"reuters21578.jsonl", 32}, std::pair{"agnews_test.jsonl", 16},
                                           std::pair{"semeval2017_headlines.jsonl", 16}}) {
    std::vector<nlohmann::json> rows;
    std::ifstream corpus(testing::corpus_path(corpus_name));
    std::string line;
    while (std::getline(corpus, line)) {
      auto article = nlohmann::json::parse(line);
      const std::string title = article.value("title", "");
      if (title.find_first_not_of(" \t\n\r") != std::string::npos) rows.push_back(std::move(article));
    }
    const size_t step = rows.size() / count;
    for (size_t pick = 0; pick < static_cast<size_t>(count); ++pick) {
      ASSERT_EQ(rows[pick * step]["id"], titles[picked.size()]["id"]) << "selection differs from titles.json";
      picked.push_back(rows[pick * step]["title"].get<std::string>());
    }
  }
  auto reference = open_safetensors(std::string(JUSTNEWS_SOURCE_DIR) + "/tests/fixtures/minilm/reference.safetensors");
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  auto expected = (*reference)->tensor("embeddings");
  auto expected_offsets = (*reference)->tensor("seq_offsets");
  ASSERT_TRUE(expected.ok() && expected_offsets.ok());
  const Tensor expected_f32 = expected->to_f32();
  const Tensor offsets = expected_offsets->to_f32();

  auto memory = make_host_memory_manager(MemoryConfig{});
  ThreadPool pool(2);
  AgentConfig config = default_agent_configs().front();
  config.model_dir = kModelDir;
  auto agent = Agent::load(config, EngineConfig{}, MemoryConfig{}, memory.get(), &pool);
  ASSERT_TRUE(agent.ok()) << agent.status().to_string();

  std::vector<WorkItem> items;
  for (size_t title_idx = 0; title_idx < titles.size(); ++title_idx) {
    const std::string& title = picked.at(title_idx);
    auto item = (*agent)->tokenize(title_idx, title);
    ASSERT_TRUE(item.ok());
    const int64_t expected_tokens = static_cast<int64_t>(offsets.data_as<float>()[title_idx + 1] -
                                                         offsets.data_as<float>()[title_idx]);
    EXPECT_EQ(item->num_tokens(), expected_tokens) << title;
    items.push_back(std::move(item).value());
  }
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  const auto results = (*agent)->run_batch(batch);
  const int64_t dim = expected_f32.dim(1);
  for (size_t title_idx = 0; title_idx < items.size(); ++title_idx) {
    ASSERT_TRUE(results[title_idx].ok());
    ASSERT_EQ(static_cast<int64_t>(results[title_idx]->values.size()), dim);
    double max_diff = 0;
    for (int64_t idx = 0; idx < dim; ++idx) {
      max_diff = std::max<double>(max_diff, std::abs(results[title_idx]->values[idx] -
                                                     expected_f32.data_as<float>()[title_idx * dim + idx]));
    }
    EXPECT_LT(max_diff, 1e-4) << "title " << title_idx;
  }
}

TEST_F(MiniLmAgentTest, ZeroShotTopicsAgreeWithAgNewsLabels) {
  if (testing::corpus_path("agnews_test.jsonl").empty()) GTEST_SKIP() << "AG News is not present";
  testing::TempDir dir("minilm");
  const auto lines = testing::read_corpus_lines("agnews_test.jsonl", 400);
  std::map<std::string, std::string> label_by_id;
  {
    std::ofstream input(dir.file("agnews.jsonl"));
    for (const std::string& line : lines) {
      const auto article = nlohmann::json::parse(line);
      label_by_id[article["id"].get<std::string>()] = article["label"].get<std::string>();
      input << line << "\n";
    }
  }
  Config config;
  config.engine.backend = "cpu";
  config.agents = default_agent_configs();
  config.agents[0].model_dir = kModelDir;
  AnalyzeOptions options;
  options.input_path = dir.file("agnews.jsonl");
  options.store_path = dir.file("store.db");
  options.jsonl_output = dir.file("out.jsonl");
  auto summary = run_analyze(config, options);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  std::ifstream out(options.jsonl_output);
  std::string line;
  int correct = 0;
  int total = 0;
  while (std::getline(out, line)) {
    const auto result = nlohmann::json::parse(line);
    correct += result["agents"]["embeddings"]["topic"] == label_by_id.at(result["id"].get<std::string>());
    ++total;
  }
  EXPECT_EQ(total, summary->analyzed);
  const double accuracy = static_cast<double>(correct) / total;
  RecordProperty("topic_accuracy", std::to_string(accuracy));
  EXPECT_GT(accuracy, 0.6) << "four balanced topics: chance is 0.25";
  std::printf("zero-shot topic accuracy on %d AG News articles: %.3f\n", total, accuracy);
}

}  // namespace
}  // namespace justnews
