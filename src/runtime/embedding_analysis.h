// What the offline embedding agent derives from unit-length embeddings: zero-shot topics (cosine
// similarity to embedded label descriptions), near-duplicates (cosine to every earlier article over
// a threshold) and stories (online clustering: join the closest story centroid over a threshold or
// start a new story). The tracker's state can be restored from the store so resumed runs continue
// the same stories.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/agent.h"

namespace justnews {

class ThreadPool;

// Built-in news topics (label -> description) used when an embed agent configures none.
const std::map<std::string, std::string>& default_news_topics();

struct TopicScore {
  std::string label;
  float score = 0;
};

class TopicClassifier {
 public:
  // Embeds every description with `agent` (an embed agent).
  static Result<TopicClassifier> create(Agent& agent, const std::map<std::string, std::string>& topics);
  // Labels with their description embeddings (computed elsewhere), in matching order.
  static TopicClassifier from_embeddings(std::vector<std::string> labels,
                                         std::vector<std::vector<float>> label_embeddings);
  // All topics, best first.
  std::vector<TopicScore> rank(const std::vector<float>& embedding) const;

 private:
  std::vector<std::string> labels_;
  std::vector<std::vector<float>> label_embeddings_;
};

struct StoryAssignment {
  std::string near_duplicate_of;  // content hash of the most similar earlier article, if over threshold
  float duplicate_similarity = 0; // the best similarity to any earlier article
  std::string story_id;
  float story_similarity = 1;     // to the story's centroid (1 for a new story)
};

// Exact online clustering, made fast for large stores: embeddings live as unit-length rows of one
// matrix, so a batch of new articles is compared with every stored article and story centroid by
// blocked dot products (similarity_kernels.h, on the thread pool when one is set); only stories
// the batch itself changed are compared one by one. Every similarity comes from one kernel with a
// fixed summation order, so results equal adding the articles one at a time, bit for bit, for any
// batch split and thread count.
class StoryTracker {
 public:
  StoryTracker(double near_duplicate_threshold, double story_threshold)
      : near_duplicate_threshold_(near_duplicate_threshold), story_threshold_(story_threshold) {}

  // Spreads the dot products of add_batch over `pool` (nullptr: the calling thread only).
  void set_thread_pool(ThreadPool* pool) { pool_ = pool; }

  // Assigns each article in order, as if add() were called for each.
  std::vector<StoryAssignment> add_batch(const std::vector<std::string>& content_hashes,
                                         const std::vector<const std::vector<float>*>& embeddings);
  StoryAssignment add(const std::string& content_hash, const std::vector<float>& embedding);
  // Replays an article analysed earlier (same order as it was added then).
  void restore(const std::string& content_hash, const std::vector<float>& embedding, const std::string& story_id);
  size_t num_stories() const { return story_ids_.size(); }
  size_t num_articles() const { return article_hashes_.size(); }

 private:
  // Appends a unit-length copy of `embedding` (zeros stay zeros) to `matrix`.
  void append_unit_row(const std::vector<float>& embedding, std::vector<float>* matrix) const;
  size_t create_story(const std::string& story_id, const float* unit_row);
  void join_story(size_t story_idx, const float* unit_row);

  ThreadPool* pool_ = nullptr;
  double near_duplicate_threshold_;
  double story_threshold_;
  size_t dim_ = 0;
  std::vector<std::string> article_hashes_;
  std::vector<float> article_rows_;     // num_articles x dim, unit length
  std::vector<std::string> story_ids_;
  std::vector<double> story_sums_;      // num_stories x dim: sum of member rows
  std::vector<float> story_centroids_;  // num_stories x dim: story_sums_ rows, unit length
  std::map<std::string, size_t> story_index_;
};

float cosine_similarity(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace justnews
