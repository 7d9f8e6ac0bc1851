// The analyze pipeline's post-processing alone (PostProcessor), on synthetic agent outputs shaped
// like issue 6's three agents: sentiment (3-label probabilities), toxicity (6 sigmoid scores) and
// all-MiniLM-L6-v2 embeddings (384-d, clustered, with planted near-duplicates). Articles arrive in
// runs of --batch, as the writer takes them, and are post-processed with and without the pool;
// the two must give identical output. Prints microseconds per article for stories and in total.
//
// usage: bench_postprocess [--articles N] [--batch N] [--threads N] [--dim N] [--serial-articles N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "runtime/post_processor.h"

namespace {

using namespace justnews;
using Clock = std::chrono::steady_clock;

constexpr size_t kTopicCount = 4;
constexpr size_t kClusterCount = 400;
constexpr double kDuplicateThreshold = 0.95;  // AgentConfig's defaults
constexpr double kStoryThreshold = 0.65;

struct Synthetic {
  std::vector<std::vector<float>> embeddings;
  std::vector<std::vector<float>> sentiment;
  std::vector<std::vector<float>> toxicity;
  std::vector<std::vector<float>> topic_embeddings;
};

Synthetic make_synthetic(size_t articles, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  Synthetic data;
  std::vector<std::vector<float>> clusters(kClusterCount, std::vector<float>(dim));
  for (auto& center : clusters)
    for (float& value : center) value = normal(rng);
  for (size_t topic = 0; topic < kTopicCount; ++topic)
    data.topic_embeddings.push_back(clusters[topic]);
  for (size_t article = 0; article < articles; ++article) {
    std::vector<float> embedding(dim);
    if (article > 10 && article % 20 == 0) {  // a wire story re-sent with small edits
      embedding = data.embeddings[rng() % article];
      for (float& value : embedding) value += 0.02f * normal(rng);
    } else {
      const auto& center = clusters[rng() % kClusterCount];
      for (size_t col = 0; col < dim; ++col) embedding[col] = center[col] + 0.9f * normal(rng);
    }
    data.embeddings.push_back(std::move(embedding));
    std::vector<float> logits = {normal(rng), normal(rng), normal(rng)};
    float total = 0;
    for (float& value : logits) total += value = std::exp(value);
    for (float& value : logits) value /= total;
    data.sentiment.push_back(logits);
    std::vector<float> toxicity(6);
    for (float& value : toxicity) value = uniform(rng);
    data.toxicity.push_back(toxicity);
  }
  return data;
}

std::vector<PostAgent> make_agents(const Synthetic& data) {
  std::vector<PostAgent> agents(3);
  agents[0].name = "sentiment";
  agents[0].task = AgentTask::kClassify;
  agents[0].labels = {"negative", "neutral", "positive"};
  agents[1].name = "toxicity";
  agents[1].task = AgentTask::kMultiLabel;
  agents[1].labels = {"toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"};
  agents[2].name = "embeddings";
  agents[2].task = AgentTask::kEmbed;
  agents[2].topics = TopicClassifier::from_embeddings({"World", "Business", "Sports", "Sci/Tech"},
                                                      data.topic_embeddings);
  agents[2].stories = std::make_unique<StoryTracker>(kDuplicateThreshold, kStoryThreshold);
  return agents;
}

struct RunResult {
  double seconds = 0;
  std::vector<std::string> lines;  // JSONL plus each agent's stored JSON, for comparing runs
  size_t duplicates = 0;
  size_t stories = 0;
};

RunResult run(const Synthetic& data, size_t articles, size_t batch, ThreadPool* pool) {
  PostProcessor processor(make_agents(data), pool, /*write_jsonl=*/true);
  RunResult result;
  for (size_t begin = 0; begin < articles; begin += batch) {
    std::vector<FinishedArticle> run_articles;
    for (size_t article = begin; article < std::min(articles, begin + batch); ++article) {
      FinishedArticle finished;
      finished.article.line_number = static_cast<int64_t>(article + 1);
      finished.article.title = "Synthetic article " + std::to_string(article);
      finished.article.url = "https://example.com/news/" + std::to_string(article);
      finished.hash = std::to_string(1000000000000 + article * 7919) + "abcdef0123456789";
      finished.outputs = {{data.sentiment[article], {}},
                          {data.toxicity[article], {}},
                          {data.embeddings[article], {}}};
      run_articles.push_back(std::move(finished));
    }
    const auto started = Clock::now();
    std::vector<PostProcessed> processed = processor.process(std::move(run_articles));
    result.seconds += std::chrono::duration<double>(Clock::now() - started).count();
    for (PostProcessed& done : processed) {
      result.duplicates += done.jsonl_line.find("\"near_duplicate_of\":null") == std::string::npos;
      result.lines.push_back(std::move(done.jsonl_line));
    }
  }
  result.stories = processor.stories(2)->num_stories();
  return result;
}

void print(const char* name, const RunResult& result, size_t articles) {
  std::printf(
      "%-28s %8.3f s  %8.1f us/article  %9.0f articles/s  (near-duplicates %zu, stories %zu)\n",
      name, result.seconds, 1e6 * result.seconds / articles, articles / result.seconds,
      result.duplicates, result.stories);
}

}  // namespace

int main(int argc, char** argv) {
  size_t articles = 17043;  // issue 6's Reuters run
  size_t batch = 64;
  size_t threads = 0;
  size_t dim = 384;
  for (int arg_idx = 1; arg_idx + 1 < argc; arg_idx += 2) {
    const size_t value = std::strtoull(argv[arg_idx + 1], nullptr, 10);
    if (!std::strcmp(argv[arg_idx], "--articles"))
      articles = value;
    else if (!std::strcmp(argv[arg_idx], "--batch"))
      batch = value;
    else if (!std::strcmp(argv[arg_idx], "--threads"))
      threads = value;
    else if (!std::strcmp(argv[arg_idx], "--dim"))
      dim = value;
    else {
      std::fprintf(stderr, "bench_postprocess: unknown option %s\n", argv[arg_idx]);
      return 2;
    }
  }
  if (articles == 0 || batch == 0 || dim == 0) {
    std::fprintf(stderr, "bench_postprocess: --articles, --batch and --dim must be positive\n");
    return 2;
  }
  const Synthetic data = make_synthetic(articles, dim, 17);
  ThreadPool pool(threads);
  std::printf("articles: %zu, runs of %zu, dim %zu, pool threads %zu\n", articles, batch, dim,
              pool.num_threads());
  const RunResult serial = run(data, articles, batch, nullptr);
  print("serial (no pool)", serial, articles);
  const RunResult parallel = run(data, articles, batch, &pool);
  print("pool", parallel, articles);
  const RunResult single = run(data, std::min<size_t>(articles, 2000), 1, nullptr);
  const bool same = parallel.lines == serial.lines &&
                    std::equal(single.lines.begin(), single.lines.end(), serial.lines.begin());
  std::printf("pool output == serial output == one article at a time (first %zu): %s\n",
              single.lines.size(), same ? "yes" : "NO");
  return same ? 0 : 1;
}
