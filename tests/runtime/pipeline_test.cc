// The analyze pipeline end to end on real news text (the shared Reuters corpus) with two fixture
// agents: de-duplication, malformed lines reported by number, every article stored exactly once,
// results equal to analysing each article alone, resuming after a stop and after a real SIGKILL.
#include "runtime/analyze_pipeline.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "runtime/article_reader.h"
#include "store/sqlite/sqlite_store.h"
#include "test_models.h"

namespace justnews {
namespace {

using testing::TempDir;

Config fixture_config(const std::string& dir_path) {
  Config config;
  config.engine.backend = "cpu";
  config.engine.num_threads = 2;
  for (const auto& [name, fixture, task] :
       {std::tuple{"sentiment", "bert_seqcls", "classify"}, std::tuple{"toxicity", "bert_multilabel", "multilabel"}}) {
    AgentConfig agent;
    agent.name = name;
    agent.model_dir = testing::make_fixture_model_dir(fixture, dir_path);
    agent.task = task;
    agent.memory_budget_bytes = 256 << 20;
    agent.max_batch_items = 8;
    config.agents.push_back(agent);
  }
  return config;
}

Config fixture_config(const TempDir& dir) { return fixture_config(dir.path()); }

// The settings of the killed-process test, shared by the parent and the child it starts.
constexpr const char* kKillChildDirVariable = "JUSTNEWS_PIPELINE_KILL_CHILD_DIR";

AnalyzeOptions kill_test_options(const std::string& dir_path, Config* config) {
  *config = fixture_config(dir_path);
  for (AgentConfig& agent : config->agents) agent.max_batch_items = 2;  // slow it down
  AnalyzeOptions options;
  options.input_path = dir_path + "/articles.jsonl";
  options.store_path = dir_path + "/store.db";
  options.commit_every = 5;
  options.chunk_articles = 4;
  return options;
}

// The content hashes of the articles that should be stored: first of each content hash and URL.
std::set<std::string> input_hashes(const std::string& path) {
  std::set<std::string> hashes;
  std::set<std::string> urls;
  auto reader = ArticleReader::open(path, InputConfig{});
  while (auto next = reader->next()) {
    if (!next->ok()) continue;
    const std::string hash = content_hash(next->value());
    const std::string& url = next->value().url;
    if (hashes.count(hash) || urls.count(url)) continue;
    hashes.insert(hash);
    urls.insert(url);
  }
  return hashes;
}

// The content hashes of the articles that should be stored, in input order.
std::vector<std::string> ordered_input_hashes(const std::string& path) {
  std::vector<std::string> ordered;
  std::set<std::string> hashes;
  std::set<std::string> urls;
  auto reader = ArticleReader::open(path, InputConfig{});
  while (auto next = reader->next()) {
    if (!next->ok()) continue;
    const std::string hash = content_hash(next->value());
    const std::string& url = next->value().url;
    if (hashes.count(hash) || urls.count(url)) continue;
    hashes.insert(hash);
    urls.insert(url);
    ordered.push_back(hash);
  }
  return ordered;
}

// `count` Reuters articles, plus a malformed line, a content duplicate (re-spaced) and a URL
// duplicate. Returns the number of articles that should be stored (the corpus has duplicates of
// its own, so this is counted, not assumed).
size_t write_input(const std::string& path, size_t count, std::vector<int64_t>* malformed_lines) {
  auto lines = testing::read_corpus_lines("reuters21578.jsonl", count);
  std::ofstream out(path);
  int64_t line_number = 0;
  for (size_t line_idx = 0; line_idx < lines.size(); ++line_idx) {
    nlohmann::json article = nlohmann::json::parse(lines[line_idx]);
    article["url"] = "https://news.example/" + article["id"].get<std::string>();
    out << article.dump() << "\n";
    ++line_number;
    if (line_idx == 5) {
      out << "{\"title\": \"cut off mid-line\n";
      malformed_lines->push_back(++line_number);
    }
    if (line_idx == 7) {
      nlohmann::json respaced = article;
      respaced["title"] = "  " + article["title"].get<std::string>() + "  ";
      respaced["url"] = "https://mirror.example/" + article["id"].get<std::string>();
      out << respaced.dump() << "\n";
      ++line_number;
    }
    if (line_idx == 9) {
      nlohmann::json same_url = article;
      same_url["body"] = "A different body under the same address.";
      out << same_url.dump() << "\n";
      ++line_number;
    }
  }
  out.close();
  return input_hashes(path).size();
}



class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::corpus_path("reuters21578.jsonl").empty()) GTEST_SKIP() << "../shared/data/news is not present";
  }
};

TEST_F(PipelineTest, AnalyzesDeduplicatesAndReportsMalformedLines) {
  TempDir dir("pipeline");
  std::vector<int64_t> malformed_lines;
  const std::string input = dir.file("articles.jsonl");
  const size_t unique = write_input(input, 60, &malformed_lines);
  Config config = fixture_config(dir);
  AnalyzeOptions options;
  options.input_path = input;
  options.store_path = dir.file("store.db");
  options.jsonl_output = dir.file("out.jsonl");
  options.commit_every = 7;
  options.chunk_articles = 16;
  std::vector<std::string> warnings;
  AnalyzeCallbacks callbacks;
  callbacks.on_warning = [&](const std::string& message) { warnings.push_back(message); };
  auto summary = run_analyze(config, options, callbacks);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->malformed, 1);
  EXPECT_GE(summary->duplicates, 2) << "the two planted duplicates";
  EXPECT_EQ(summary->duplicates, summary->articles_read - static_cast<int64_t>(unique));
  EXPECT_EQ(summary->analyzed, static_cast<int64_t>(unique));
  EXPECT_EQ(summary->failed, 0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("articles.jsonl:" + std::to_string(malformed_lines[0])), std::string::npos) << warnings[0];
  ASSERT_EQ(summary->agents.size(), 2u);
  for (const AgentRunSummary& agent : summary->agents) {
    EXPECT_EQ(agent.items, static_cast<int64_t>(unique)) << agent.name;
    EXPECT_GT(agent.batches, 0);
    EXPECT_GT(agent.peak_memory_bytes, 0);
    EXPECT_LE(agent.peak_memory_bytes, agent.budget_bytes);
    EXPECT_EQ(agent.backend.find("cpu") != std::string::npos, true) << agent.backend;
  }

  auto store = open_sqlite_store(options.store_path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->count_articles(), static_cast<int64_t>(unique));
  std::ifstream jsonl(options.jsonl_output);
  std::string line;
  size_t lines = 0;
  while (std::getline(jsonl, line)) {
    const auto json = nlohmann::json::parse(line);
    ASSERT_TRUE(json["agents"].contains("sentiment"));
    double sum = 0;
    for (const auto& [label, score] : json["agents"]["sentiment"]["scores"].items()) sum += score.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-4);
    auto stored = (*store)->results_for(json["content_hash"].get<std::string>());
    ASSERT_TRUE(stored.ok());
    ASSERT_EQ(stored->size(), 2u);
    EXPECT_EQ(nlohmann::json::parse(stored->at(0).output_json), json["agents"]["sentiment"]);
    ++lines;
  }
  EXPECT_EQ(lines, unique);

  // A second run over the same input analyses nothing again.
  auto again = run_analyze(config, options, callbacks);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->analyzed, 0);
  EXPECT_EQ(again->already_stored, static_cast<int64_t>(unique));
  EXPECT_EQ(*(*store)->count_articles(), static_cast<int64_t>(unique));
}

TEST_F(PipelineTest, BatchedResultsEqualOneArticleAtATime) {
  TempDir dir("pipeline");
  std::vector<int64_t> malformed_lines;
  const std::string input = dir.file("articles.jsonl");
  write_input(input, 24, &malformed_lines);
  Config config = fixture_config(dir);
  AnalyzeOptions batched;
  batched.input_path = input;
  batched.store_path = dir.file("batched.db");
  ASSERT_TRUE(run_analyze(config, batched).ok());
  Config single_config = config;
  for (AgentConfig& agent : single_config.agents) agent.max_batch_items = 1;
  AnalyzeOptions single = batched;
  single.store_path = dir.file("single.db");
  single.chunk_articles = 1;
  ASSERT_TRUE(run_analyze(single_config, single).ok());

  auto a = open_sqlite_store(batched.store_path);
  auto b = open_sqlite_store(single.store_path);
  for (const std::string& hash : input_hashes(input)) {
    auto ra = (*a)->results_for(hash);
    auto rb = (*b)->results_for(hash);
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_EQ(ra->size(), 2u) << hash;
    ASSERT_EQ(rb->size(), 2u) << hash;
    for (size_t agent_idx = 0; agent_idx < 2; ++agent_idx) {
      const auto ja = nlohmann::json::parse(ra->at(agent_idx).output_json)["scores"];
      const auto jb = nlohmann::json::parse(rb->at(agent_idx).output_json)["scores"];
      for (const auto& [label, score] : ja.items()) {
        EXPECT_NEAR(score.get<double>(), jb[label].get<double>(), 1e-4) << hash << " " << label;
      }
    }
  }
}

// Tiny queues everywhere (chunks of 3, 5 articles in flight, engine queues of 2) force the reader,
// tokeniser, engines and writer to block on each other; the JSONL output must still list every
// article once, in input order, and the store must hold exactly those articles.
TEST_F(PipelineTest, OverlappedStagesKeepInputOrderUnderBackPressure) {
  TempDir dir("pipeline");
  std::vector<int64_t> malformed_lines;
  const std::string input = dir.file("articles.jsonl");
  write_input(input, 120, &malformed_lines);
  const std::vector<std::string> expected = ordered_input_hashes(input);
  Config config = fixture_config(dir);
  for (AgentConfig& agent : config.agents) {
    agent.max_batch_items = 3;
    agent.queue_capacity = 2;
  }
  AnalyzeOptions options;
  options.input_path = input;
  options.store_path = dir.file("store.db");
  options.jsonl_output = dir.file("out.jsonl");
  options.chunk_articles = 3;
  options.max_in_flight_articles = 5;
  options.commit_every = 4;
  std::vector<std::string> warnings;
  AnalyzeCallbacks callbacks;
  callbacks.on_warning = [&](const std::string& message) { warnings.push_back(message); };
  auto summary = run_analyze(config, options, callbacks);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->analyzed, static_cast<int64_t>(expected.size()));
  EXPECT_EQ(summary->failed, 0);
  // The planted malformed line, plus corpus lines without text, each reported with its number.
  ASSERT_EQ(static_cast<int64_t>(warnings.size()), summary->malformed);
  bool planted_reported = false;
  for (const std::string& warning : warnings) {
    EXPECT_EQ(warning.rfind("skipped: ", 0), 0u) << warning;
    planted_reported = planted_reported ||
                       warning.find("articles.jsonl:" + std::to_string(malformed_lines[0]) + ":") != std::string::npos;
  }
  EXPECT_TRUE(planted_reported);

  std::ifstream jsonl(options.jsonl_output);
  std::vector<std::string> written;
  int64_t previous_line = 0;
  std::string text;
  while (std::getline(jsonl, text)) {
    const auto json = nlohmann::json::parse(text);
    written.push_back(json["content_hash"].get<std::string>());
    EXPECT_GT(json["line"].get<int64_t>(), previous_line) << "output out of input order at " << text;
    previous_line = json["line"].get<int64_t>();
    ASSERT_TRUE(json["agents"].contains("sentiment") && json["agents"].contains("toxicity")) << text;
  }
  EXPECT_EQ(written, expected);
  auto store = open_sqlite_store(options.store_path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->count_articles(), static_cast<int64_t>(expected.size()));
}

TEST_F(PipelineTest, StoppedRunResumesWithoutDuplicates) {
  TempDir dir("pipeline");
  std::vector<int64_t> malformed_lines;
  const std::string input = dir.file("articles.jsonl");
  const size_t unique = write_input(input, 80, &malformed_lines);
  Config config = fixture_config(dir);
  AnalyzeOptions options;
  options.input_path = input;
  options.store_path = dir.file("store.db");
  options.commit_every = 10;
  options.chunk_articles = 8;
  options.stop_after_articles = 30;
  auto first = run_analyze(config, options);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(first->stopped_early);
  EXPECT_EQ(first->analyzed, 30);

  options.stop_after_articles = 0;
  auto second = run_analyze(config, options);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->already_stored, 30);
  EXPECT_EQ(second->analyzed, static_cast<int64_t>(unique) - 30);
  auto store = open_sqlite_store(options.store_path);
  EXPECT_EQ(*(*store)->count_articles(), static_cast<int64_t>(unique));
  for (const std::string& hash : input_hashes(input)) {
    EXPECT_EQ((*store)->results_for(hash)->size(), 2u) << hash;
  }
}

// The child half of KilledProcessResumesWithoutDuplicates: it runs only when that test starts
// this binary again with the variable set (fork + exec, so the child starts single-threaded
// rather than inheriting a copy of a multi-threaded process).
TEST_F(PipelineTest, KilledProcessChild) {
  const char* dir_path = std::getenv(kKillChildDirVariable);
  if (!dir_path) GTEST_SKIP() << "runs only as the child of KilledProcessResumesWithoutDuplicates";
  Config config;
  AnalyzeOptions options = kill_test_options(dir_path, &config);
  auto summary = run_analyze(config, options);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
}

// A child process analyses the input and is SIGKILLed once it has committed something; the rerun
// completes the store with every article exactly once and all of its results.
TEST_F(PipelineTest, KilledProcessResumesWithoutDuplicates) {
  TempDir dir("pipeline");
  std::vector<int64_t> malformed_lines;
  Config config;
  AnalyzeOptions options = kill_test_options(dir.path(), &config);
  const std::string input = options.input_path;
  const size_t unique = write_input(input, 400, &malformed_lines);

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setenv(kKillChildDirVariable, dir.path().c_str(), 1);
    execl("/proc/self/exe", "runtime_pipeline_test", "--gtest_filter=PipelineTest.KilledProcessChild",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int64_t stored_when_killed = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto store = open_sqlite_store(options.store_path);
    if (store.ok()) {
      auto count = (*store)->count_articles();
      if (count.ok() && *count >= 20) {
        stored_when_killed = *count;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(child, SIGKILL);
  int wait_status = 0;
  waitpid(child, &wait_status, 0);
  ASSERT_GE(stored_when_killed, 20) << "the child never committed (wait status " << wait_status << ")";
  ASSERT_TRUE(WIFSIGNALED(wait_status)) << "the child finished before it could be killed";

  auto rerun = run_analyze(config, options);
  ASSERT_TRUE(rerun.ok()) << rerun.status().to_string();
  EXPECT_GE(rerun->already_stored, stored_when_killed);
  EXPECT_EQ(rerun->already_stored + rerun->analyzed, static_cast<int64_t>(unique));
  auto store = open_sqlite_store(options.store_path);
  EXPECT_EQ(*(*store)->count_articles(), static_cast<int64_t>(unique));
  for (const std::string& hash : input_hashes(input)) {
    EXPECT_EQ((*store)->results_for(hash)->size(), 2u) << hash;
  }
}

TEST_F(PipelineTest, BadInputsAreErrorsNotCrashes) {
  TempDir dir("pipeline");
  Config config = fixture_config(dir);
  AnalyzeOptions options;
  options.input_path = dir.file("missing.jsonl");
  options.store_path = dir.file("store.db");
  auto missing = run_analyze(config, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.jsonl"), std::string::npos);

  testing::write_text_file(dir.file("one.jsonl"), "{\"title\":\"Hello\"}\n");
  options.input_path = dir.file("one.jsonl");
  config.agents[0].model_dir = dir.file("nowhere");
  auto bad_model = run_analyze(config, options);
  ASSERT_FALSE(bad_model.ok());
  EXPECT_NE(bad_model.status().message().find("agent 'sentiment'"), std::string::npos);
}

}  // namespace
}  // namespace justnews
