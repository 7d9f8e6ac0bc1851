// StoryTracker against a brute-force reference: near-duplicates are the most similar earlier
// article over the threshold, stories join the most similar centroid over the threshold; batched
// adds must equal one-at-a-time adds, and restore() must continue the same stories.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "runtime/embedding_analysis.h"

namespace justnews {
namespace {

constexpr double kDuplicateThreshold = 0.95;
constexpr double kStoryThreshold = 0.7;

// Clustered random embeddings: a few topic directions, noise, and exact repeats.
std::vector<std::vector<float>> clustered_embeddings(size_t count, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> centers(6, std::vector<float>(dim));
  for (auto& center : centers)
    for (float& value : center) value = normal(rng);
  std::vector<std::vector<float>> out;
  for (size_t item = 0; item < count; ++item) {
    if (item > 3 && item % 7 == 0) {  // a near-exact repeat of an earlier article
      std::vector<float> repeat = out[item / 2];
      for (float& value : repeat) value += 0.01f * normal(rng);
      out.push_back(repeat);
      continue;
    }
    const auto& center = centers[rng() % centers.size()];
    std::vector<float> embedding(dim);
    const float noise = item % 3 == 0 ? 1.5f : 0.4f;
    for (size_t idx = 0; idx < dim; ++idx) embedding[idx] = center[idx] + noise * normal(rng);
    out.push_back(embedding);
  }
  return out;
}

struct ReferenceTracker {
  std::vector<std::string> hashes;
  std::vector<std::vector<double>> articles;
  std::vector<std::string> story_ids;
  std::vector<std::vector<double>> story_sums;

  static std::vector<double> unit(const std::vector<float>& v) {
    double norm = 0;
    for (float x : v) norm += double(x) * x;
    std::vector<double> out(v.begin(), v.end());
    for (double& x : out) x /= std::sqrt(norm);
    return out;
  }
  static double cosine(const std::vector<double>& a, const std::vector<double>& b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
    return dot / std::sqrt(na * nb);
  }
  StoryAssignment add(const std::string& hash, const std::vector<float>& embedding) {
    const std::vector<double> row = unit(embedding);
    StoryAssignment result;
    double best = -2;
    for (size_t idx = 0; idx < articles.size(); ++idx) {
      const double similarity = cosine(row, articles[idx]);
      if (similarity > best) {
        best = similarity;
        result.near_duplicate_of = similarity >= kDuplicateThreshold ? hashes[idx] : "";
      }
    }
    if (best < kDuplicateThreshold) result.near_duplicate_of.clear();
    size_t best_story = story_ids.size();
    double best_story_similarity = -2;
    for (size_t idx = 0; idx < story_sums.size(); ++idx) {
      const double similarity = cosine(row, story_sums[idx]);
      if (similarity > best_story_similarity) best_story_similarity = similarity, best_story = idx;
    }
    if (best_story < story_ids.size() && best_story_similarity >= kStoryThreshold) {
      for (size_t i = 0; i < row.size(); ++i) story_sums[best_story][i] += row[i];
      result.story_id = story_ids[best_story];
    } else {
      result.story_id = "story-" + hash.substr(0, 16);
      story_ids.push_back(result.story_id);
      story_sums.push_back(row);
    }
    hashes.push_back(hash);
    articles.push_back(row);
    return result;
  }
};

std::string hash_of(size_t item) { return "hash" + std::to_string(1000000 + item) + "abcdefghijkl"; }

TEST(StoryTracker, BatchedAddsMatchTheBruteForceReference) {
  const auto embeddings = clustered_embeddings(300, 48, 7);
  ReferenceTracker reference;
  StoryTracker tracker(kDuplicateThreshold, kStoryThreshold);
  size_t item = 0;
  size_t duplicates = 0;
  for (size_t batch_size : {1, 5, 32, 1, 17, 64, 100, 80}) {
    std::vector<std::string> hashes;
    std::vector<const std::vector<float>*> batch;
    for (size_t idx = 0; idx < batch_size && item + idx < embeddings.size(); ++idx) {
      hashes.push_back(hash_of(item + idx));
      batch.push_back(&embeddings[item + idx]);
    }
    const auto assigned = tracker.add_batch(hashes, batch);
    ASSERT_EQ(assigned.size(), batch.size());
    for (size_t idx = 0; idx < batch.size(); ++idx, ++item) {
      const StoryAssignment expected = reference.add(hashes[idx], *batch[idx]);
      EXPECT_EQ(assigned[idx].near_duplicate_of, expected.near_duplicate_of) << "article " << item;
      EXPECT_EQ(assigned[idx].story_id, expected.story_id) << "article " << item;
      duplicates += !expected.near_duplicate_of.empty();
    }
  }
  EXPECT_EQ(item, embeddings.size());
  EXPECT_GT(duplicates, 20u);                       // the planted repeats are found
  EXPECT_GT(tracker.num_stories(), 3u);             // several stories ...
  EXPECT_LT(tracker.num_stories(), embeddings.size() / 2);  // ... that group articles
}

TEST(StoryTracker, RestoreContinuesTheSameStories) {
  const auto embeddings = clustered_embeddings(120, 32, 11);
  StoryTracker first(kDuplicateThreshold, kStoryThreshold);
  std::vector<StoryAssignment> first_run;
  for (size_t item = 0; item < embeddings.size(); ++item) first_run.push_back(first.add(hash_of(item), embeddings[item]));
  // A second tracker restores the first 60 articles, then adds the rest.
  StoryTracker resumed(kDuplicateThreshold, kStoryThreshold);
  for (size_t item = 0; item < 60; ++item) resumed.restore(hash_of(item), embeddings[item], first_run[item].story_id);
  for (size_t item = 60; item < embeddings.size(); ++item) {
    const StoryAssignment again = resumed.add(hash_of(item), embeddings[item]);
    EXPECT_EQ(again.story_id, first_run[item].story_id) << "article " << item;
    EXPECT_EQ(again.near_duplicate_of, first_run[item].near_duplicate_of) << "article " << item;
  }
}

TEST(StoryTracker, ZeroEmbeddingIsNeverADuplicate) {
  StoryTracker tracker(kDuplicateThreshold, kStoryThreshold);
  tracker.add(hash_of(1), std::vector<float>(8, 0.0f));
  const StoryAssignment second = tracker.add(hash_of(2), std::vector<float>(8, 0.0f));
  EXPECT_TRUE(second.near_duplicate_of.empty());
  EXPECT_EQ(tracker.num_stories(), 2u);
}

}  // namespace
}  // namespace justnews
