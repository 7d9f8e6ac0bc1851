// Pipeline overhead: the same agents on the same articles, measured in one run two ways:
//   bare engine — articles pre-tokenised (untimed), then Agent::run_batch over batches of
//                 max_batch_items on one thread: tokeniser, queue, store and post-processing excluded;
//   pipeline    — run_analyze end to end into a fresh SQLite store (reading, de-duplication,
//                 tokenisation, scheduling, topics / stories, store writes), model loading excluded.
// Prints articles/s of both and their ratio (goal: pipeline >= 70% of bare).
//
// usage: bench_pipeline [--config FILE] [--articles N] [--input FILE.jsonl] [--threads N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/logging.h"
#include "memory/memory_manager.h"
#include "runtime/agent.h"
#include "runtime/analyze_pipeline.h"
#include "runtime/article_reader.h"

namespace {

using namespace justnews;

int fail(const Status& status) {
  std::fprintf(stderr, "bench_pipeline: %s\n", status.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  set_log_level(LogLevel::kWarn);
  std::string config_path;
  std::string input = "../shared/data/news/reuters21578.jsonl";
  int articles = 512;
  int threads = 0;
  for (int arg_idx = 1; arg_idx + 1 < argc; arg_idx += 2) {
    if (!std::strcmp(argv[arg_idx], "--config")) config_path = argv[arg_idx + 1];
    else if (!std::strcmp(argv[arg_idx], "--articles")) articles = std::atoi(argv[arg_idx + 1]);
    else if (!std::strcmp(argv[arg_idx], "--input")) input = argv[arg_idx + 1];
    else if (!std::strcmp(argv[arg_idx], "--threads")) threads = std::atoi(argv[arg_idx + 1]);
  }
  Config config;
  if (!config_path.empty()) {
    auto loaded = load_config_file(config_path);
    if (!loaded.ok()) return fail(loaded.status());
    config = *loaded;
  }
  config.engine.num_threads = threads;
  if (config.agents.empty()) config.agents = default_agent_configs();

  // The benchmark input: the first N articles with text, de-duplicated the way analyze does.
  const std::string work_dir = (std::filesystem::temp_directory_path() / "jn_bench_pipeline").string();
  std::filesystem::remove_all(work_dir);
  std::filesystem::create_directories(work_dir);
  const std::string bench_input = work_dir + "/articles.jsonl";
  std::vector<Article> selected;
  {
    auto reader = ArticleReader::open(input, config.input);
    if (!reader.ok()) return fail(reader.status());
    std::ifstream lines(input);
    std::ofstream out(bench_input);
    std::set<std::string> hashes;
    std::string line;
    while (static_cast<int>(selected.size()) < articles) {
      auto next = reader->next();
      if (!next) break;
      while (std::getline(lines, line)) {
        if (line.find_first_not_of(" \t\r") != std::string::npos) break;
      }
      if (!next->ok() || !hashes.insert(content_hash(next->value())).second) continue;
      out << line << "\n";
      selected.push_back(next->value());
    }
  }

  // Bare engine.
  ThreadPool pool(static_cast<size_t>(threads));
  auto memory = make_host_memory_manager(config.memory);
  double bare_s = 0;
  int64_t bare_tokens = 0;
  for (const AgentConfig& agent_config : config.agents) {
    auto agent = Agent::load(agent_config, config.engine, config.memory, memory.get(), &pool);
    if (!agent.ok()) return fail(agent.status());
    std::vector<WorkItem> items;
    for (size_t article_idx = 0; article_idx < selected.size(); ++article_idx) {
      auto item = (*agent)->tokenize(article_idx, selected[article_idx].text());
      if (!item.ok()) return fail(item.status());
      bare_tokens += item->num_tokens();
      items.push_back(std::move(item).value());
    }
    const auto started = std::chrono::steady_clock::now();
    for (size_t begin = 0; begin < items.size(); begin += static_cast<size_t>(agent_config.max_batch_items)) {
      std::vector<const WorkItem*> batch;
      for (size_t item_idx = begin; item_idx < std::min(items.size(), begin + agent_config.max_batch_items); ++item_idx) {
        batch.push_back(&items[item_idx]);
      }
      for (const auto& result : (*agent)->run_batch(batch)) {
        if (!result.ok()) return fail(result.status());
      }
    }
    bare_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }

  // Pipeline.
  AnalyzeOptions options;
  options.input_path = bench_input;
  options.store_path = work_dir + "/store.db";
  auto summary = run_analyze(config, options);
  if (!summary.ok()) return fail(summary.status());
  const double pipeline_s = summary->wall_s - summary->load_s;

  const double bare_rate = selected.size() / bare_s;
  const double pipeline_rate = summary->analyzed / pipeline_s;
  std::printf("articles: %zu (%lld tokens over all agents), agents: %zu, threads: %zu\n", selected.size(),
              static_cast<long long>(bare_tokens), config.agents.size(), pool.num_threads());
  std::printf("bare engine : %8.2f s  %8.1f articles/s\n", bare_s, bare_rate);
  std::printf("pipeline    : %8.2f s  %8.1f articles/s  (stored %lld; read %.2f s, tokenize %.2f s, wait %.2f s, "
              "post-process %.2f s, store %.2f s)\n",
              pipeline_s, pipeline_rate, static_cast<long long>(summary->analyzed), summary->read_s,
              summary->tokenize_s, summary->wait_s, summary->postprocess_s, summary->store_s);
  std::printf("pipeline / bare: %.1f%% (goal >= 70%%)\n", 100.0 * pipeline_rate / bare_rate);
  std::filesystem::remove_all(work_dir);
  return 0;
}
