// The pipeline's post-processing stage: the blocked, pooled PostProcessor over runs of articles
// must give byte for byte the output of the simple version (no pool, one article at a time), and
// its stories and near-duplicates must be exactly those of a plain per-pair scan over every earlier
// article and story, on a few hundred synthetic articles with planted near-duplicates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "runtime/post_processor.h"
#include "runtime/similarity_kernels.h"

namespace justnews {
namespace {

constexpr double kDuplicateThreshold = 0.95;
constexpr double kStoryThreshold = 0.65;
constexpr size_t kDim = 50;  // not a multiple of the kernels' 8 lanes
constexpr size_t kArticles = 420;

struct Corpus {
  std::vector<std::vector<float>> embeddings;
  std::vector<std::vector<float>> sentiment;
  std::vector<std::vector<float>> toxicity;
  std::vector<std::vector<float>> topics;
  std::vector<size_t> planted;  // articles that copy an earlier one with small noise
};

Corpus make_corpus(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  Corpus corpus;
  std::vector<std::vector<float>> centers(12, std::vector<float>(kDim));
  for (auto& center : centers)
    for (float& value : center) value = normal(rng);
  corpus.topics.assign(centers.begin(), centers.begin() + 4);
  for (size_t article = 0; article < kArticles; ++article) {
    std::vector<float> embedding(kDim);
    if (article > 5 && article % 9 == 0) {
      embedding = corpus.embeddings[rng() % article];
      for (float& value : embedding) value += 0.01f * normal(rng);
      corpus.planted.push_back(article);
    } else if (article == 100) {
      embedding.assign(kDim, 0.0f);  // a zero vector: never a duplicate, its own story
    } else {
      const auto& center = centers[rng() % centers.size()];
      for (size_t col = 0; col < kDim; ++col) embedding[col] = center[col] + 0.8f * normal(rng);
    }
    corpus.embeddings.push_back(embedding);
    corpus.sentiment.push_back({uniform(rng), uniform(rng), uniform(rng)});
    std::vector<float> toxicity(6);
    for (float& value : toxicity) value = uniform(rng);
    corpus.toxicity.push_back(toxicity);
  }
  return corpus;
}

std::vector<PostAgent> make_agents(const Corpus& corpus) {
  std::vector<PostAgent> agents(3);
  agents[0].name = "sentiment";
  agents[0].task = AgentTask::kClassify;
  agents[0].labels = {"negative", "neutral", "positive"};
  agents[1].name = "toxicity";
  agents[1].task = AgentTask::kMultiLabel;
  agents[1].labels = {"toxic", "severe_toxic", "obscene", "threat",
                      "insult"};  // the 6th is unnamed
  agents[2].name = "embeddings";
  agents[2].task = AgentTask::kEmbed;
  agents[2].topics =
      TopicClassifier::from_embeddings({"World", "Business", "Sports", "Sci/Tech"}, corpus.topics);
  agents[2].stories = std::make_unique<StoryTracker>(kDuplicateThreshold, kStoryThreshold);
  return agents;
}

std::string hash_of(size_t article) {
  return "h" + std::to_string(100000 + article) + "0123456789abcdef";
}

FinishedArticle finished_article(const Corpus& corpus, size_t article) {
  FinishedArticle finished;
  finished.article.line_number = static_cast<int64_t>(article + 1);
  finished.article.title = "Title " + std::to_string(article);
  if (article % 2) finished.article.url = "https://example.com/" + std::to_string(article);
  finished.hash = hash_of(article);
  finished.outputs = {{corpus.sentiment[article], {}},
                      {corpus.toxicity[article], {}},
                      {corpus.embeddings[article], {}}};
  return finished;
}

// Everything the processor produced, in article order.
struct Output {
  std::vector<std::string> jsonl;
  std::vector<std::vector<std::string>> stored_json;
  std::vector<std::vector<float>> vectors;
};

Output run_processor(const Corpus& corpus, const std::vector<size_t>& run_sizes, ThreadPool* pool) {
  PostProcessor processor(make_agents(corpus), pool, /*write_jsonl=*/true);
  Output output;
  size_t next = 0;
  for (size_t run_idx = 0; next < kArticles; ++run_idx) {
    const size_t run_size = run_sizes[run_idx % run_sizes.size()];
    std::vector<FinishedArticle> articles;
    for (; articles.size() < run_size && next < kArticles; ++next)
      articles.push_back(finished_article(corpus, next));
    for (PostProcessed& processed : processor.process(std::move(articles))) {
      output.jsonl.push_back(processed.jsonl_line);
      std::vector<std::string> stored;
      for (const AgentResultRecord& record : processed.analyzed.results)
        stored.push_back(record.output_json);
      output.stored_json.push_back(stored);
      output.vectors.push_back(processed.analyzed.results[2].vector);
    }
  }
  return output;
}

// The simple version of stories and near-duplicates: every earlier article and every story
// centroid compared one pair at a time, centroids kept as double sums of unit rows.
struct SimpleStories {
  std::vector<std::vector<float>> rows;
  std::vector<std::string> story_ids;
  std::vector<std::vector<double>> sums;
  std::vector<std::vector<float>> centroids;

  static std::vector<float> unit(const std::vector<float>& embedding) {
    double norm = 0;
    for (float value : embedding) norm += double(value) * value;
    const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
    std::vector<float> out;
    for (float value : embedding) out.push_back(value * scale);
    return out;
  }
  static std::vector<float> centroid(const std::vector<double>& sum) {
    double norm = 0;
    for (double value : sum) norm += value * value;
    const double scale = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
    std::vector<float> out;
    for (double value : sum) out.push_back(static_cast<float>(value * scale));
    return out;
  }
  StoryAssignment add(const std::string& hash, const std::vector<float>& embedding,
                      const std::vector<std::string>& hashes) {
    const std::vector<float> row = unit(embedding);
    StoryAssignment result;
    float best = -2;
    size_t best_idx = 0;
    for (size_t earlier = 0; earlier < rows.size(); ++earlier) {
      const float similarity = row_dot(row.data(), rows[earlier].data(), kDim);
      if (similarity > best) best = similarity, best_idx = earlier;
    }
    if (best >= kDuplicateThreshold) result.near_duplicate_of = hashes[best_idx];
    result.duplicate_similarity = std::max(best, 0.0f);
    float best_story = -2;
    size_t story_idx = story_ids.size();
    for (size_t idx = 0; idx < centroids.size(); ++idx) {
      const float similarity = row_dot(row.data(), centroids[idx].data(), kDim);
      if (similarity > best_story) best_story = similarity, story_idx = idx;
    }
    if (story_idx < story_ids.size() && best_story >= kStoryThreshold) {
      for (size_t col = 0; col < kDim; ++col) sums[story_idx][col] += row[col];
      centroids[story_idx] = centroid(sums[story_idx]);
      result.story_id = story_ids[story_idx];
    } else {
      result.story_id = "story-" + hash.substr(0, 16);
      story_ids.push_back(result.story_id);
      sums.emplace_back(row.begin(), row.end());
      centroids.push_back(row);
    }
    rows.push_back(row);
    return result;
  }
};

TEST(PostProcessor, PooledBlockedRunsEqualTheSimpleVersion) {
  const Corpus corpus = make_corpus(23);
  const Output simple = run_processor(corpus, {1}, nullptr);
  ThreadPool pool(4);
  for (const std::vector<size_t>& run_sizes :
       std::vector<std::vector<size_t>>{{64}, {1, 7, 130, 3, 33}, {kArticles}}) {
    for (ThreadPool* use_pool : {static_cast<ThreadPool*>(nullptr), &pool}) {
      const Output output = run_processor(corpus, run_sizes, use_pool);
      ASSERT_EQ(output.jsonl.size(), kArticles);
      for (size_t article = 0; article < kArticles; ++article) {
        ASSERT_EQ(output.jsonl[article], simple.jsonl[article])
            << "article " << article << " run " << run_sizes[0];
        ASSERT_EQ(output.stored_json[article], simple.stored_json[article])
            << "article " << article;
        ASSERT_EQ(output.vectors[article], corpus.embeddings[article]) << "article " << article;
      }
    }
  }
}

TEST(PostProcessor, StoriesAndDuplicatesAreThoseOfAPerPairScan) {
  const Corpus corpus = make_corpus(29);
  ThreadPool pool(3);
  const Output output = run_processor(corpus, {50, 17}, &pool);
  SimpleStories simple;
  std::vector<std::string> hashes;
  size_t planted_found = 0;
  std::set<std::string> stories;
  for (size_t article = 0; article < kArticles; ++article) {
    hashes.push_back(hash_of(article));
    const StoryAssignment expected =
        simple.add(hash_of(article), corpus.embeddings[article], hashes);
    const auto json = nlohmann::json::parse(output.stored_json[article][2]);
    const std::string near =
        json["near_duplicate_of"].is_null() ? "" : json["near_duplicate_of"].get<std::string>();
    EXPECT_EQ(near, expected.near_duplicate_of) << "article " << article;
    EXPECT_EQ(json["story"].get<std::string>(), expected.story_id) << "article " << article;
    EXPECT_EQ(json["max_similarity"].get<float>(), expected.duplicate_similarity)
        << "article " << article;
    stories.insert(expected.story_id);
    if (std::find(corpus.planted.begin(), corpus.planted.end(), article) != corpus.planted.end()) {
      planted_found += !near.empty();
    }
  }
  EXPECT_EQ(planted_found, corpus.planted.size());  // every planted copy is found
  EXPECT_GT(stories.size(), 5u);
  EXPECT_LT(stories.size(), kArticles / 4);
  const auto zero = nlohmann::json::parse(output.stored_json[100][2]);
  EXPECT_TRUE(zero["near_duplicate_of"].is_null());
  EXPECT_EQ(zero["max_similarity"].get<float>(), 0.0f);
}

TEST(PostProcessor, ClassifierTopicAndJsonlFieldsFollowTheOutputs) {
  const Corpus corpus = make_corpus(31);
  const Output output = run_processor(corpus, {40}, nullptr);
  const std::vector<std::string> topic_labels = {"World", "Business", "Sports", "Sci/Tech"};
  for (size_t article = 0; article < 60; ++article) {
    const auto line = nlohmann::json::parse(output.jsonl[article]);
    // The spliced line is what nlohmann writes for the same object.
    EXPECT_EQ(line.dump(), output.jsonl[article]);
    EXPECT_EQ(line["line"].get<int64_t>(), static_cast<int64_t>(article + 1));
    EXPECT_EQ(line["content_hash"].get<std::string>(), hash_of(article));
    EXPECT_EQ(line.contains("url"), article % 2 == 1);
    const auto& sentiment = corpus.sentiment[article];
    const size_t best = std::max_element(sentiment.begin(), sentiment.end()) - sentiment.begin();
    EXPECT_EQ(line["agents"]["sentiment"]["label"],
              std::vector<std::string>({"negative", "neutral", "positive"})[best]);
    std::vector<std::string> over_half;
    const std::vector<std::string> toxic_labels = {"toxic",  "severe_toxic", "obscene",
                                                   "threat", "insult",       "LABEL_5"};
    for (size_t label = 0; label < 6; ++label) {
      if (corpus.toxicity[article][label] >= 0.5f) over_half.push_back(toxic_labels[label]);
    }
    EXPECT_EQ(line["agents"]["toxicity"]["labels"].get<std::vector<std::string>>(), over_half);
    EXPECT_EQ(line["agents"]["toxicity"]["scores"].size(), 6u);
    size_t best_topic = 0;
    double best_cosine = -2;
    for (size_t topic = 0; topic < 4; ++topic) {
      const double cosine = cosine_similarity(corpus.embeddings[article], corpus.topics[topic]);
      if (cosine > best_cosine) best_cosine = cosine, best_topic = topic;
    }
    EXPECT_EQ(line["agents"]["embeddings"]["topic"], topic_labels[best_topic]) << article;
    EXPECT_EQ(line["agents"]["embeddings"]["topics"].size(), 3u);
    EXPECT_EQ(line["agents"]["embeddings"]["dim"].get<size_t>(), kDim);
  }
}

TEST(PostProcessor, EmptyRunsAndMismatchedEmbeddingSizesDoNotCrash) {
  const Corpus corpus = make_corpus(37);
  ThreadPool pool(2);
  PostProcessor processor(make_agents(corpus), &pool, /*write_jsonl=*/false);
  EXPECT_TRUE(processor.process({}).empty());
  std::vector<FinishedArticle> articles;
  articles.push_back(finished_article(corpus, 1));
  articles.push_back(finished_article(corpus, 2));
  articles[1].outputs[2].values.resize(kDim / 2);  // shorter than the first: compared on its length
  articles.push_back(finished_article(corpus, 3));
  articles[2].outputs[2].values.clear();  // empty: a zero vector
  const std::vector<PostProcessed> processed = processor.process(std::move(articles));
  ASSERT_EQ(processed.size(), 3u);
  EXPECT_TRUE(processed[0].jsonl_line.empty());
  const auto empty = nlohmann::json::parse(processed[2].analyzed.results[2].output_json);
  EXPECT_TRUE(empty["near_duplicate_of"].is_null());
  EXPECT_EQ(processor.stories(2)->num_articles(), 3u);
  EXPECT_EQ(processor.stories(0), nullptr);
}

}  // namespace
}  // namespace justnews
