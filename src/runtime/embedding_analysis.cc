// Topics, near-duplicates and stories from embeddings.
#include "runtime/embedding_analysis.h"

#include <algorithm>
#include <cmath>

namespace justnews {

const std::map<std::string, std::string>& default_news_topics() {
  static const std::map<std::string, std::string> topics = {
      {"World", "World news: international politics, governments, diplomacy, elections, war and conflict."},
      {"Business", "Business news: companies, markets, stocks, trade, economy, earnings and finance."},
      {"Sports", "Sports news: games, matches, teams, players, coaches, leagues and championships."},
      {"Sci/Tech", "Science and technology news: computers, software, the internet, space, research and gadgets."},
  };
  return topics;
}

float cosine_similarity(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t dim = std::min(a.size(), b.size());
  double dot = 0;
  double norm_a = 0;
  double norm_b = 0;
  for (size_t idx = 0; idx < dim; ++idx) {
    dot += double(a[idx]) * b[idx];
    norm_a += double(a[idx]) * a[idx];
    norm_b += double(b[idx]) * b[idx];
  }
  if (norm_a == 0 || norm_b == 0) return 0;
  return static_cast<float>(dot / std::sqrt(norm_a * norm_b));
}

Result<TopicClassifier> TopicClassifier::create(Agent& agent, const std::map<std::string, std::string>& topics) {
  if (agent.task() != AgentTask::kEmbed) {
    return invalid_argument("agent '" + agent.name() + "': topics need an embed agent");
  }
  TopicClassifier classifier;
  std::vector<WorkItem> items;
  for (const auto& [label, description] : topics) {
    JN_ASSIGN_OR_RETURN(WorkItem item, agent.tokenize(items.size(), description));
    items.push_back(std::move(item));
    classifier.labels_.push_back(label);
  }
  std::vector<const WorkItem*> batch;
  for (const WorkItem& item : items) batch.push_back(&item);
  for (auto& result : agent.run_batch(batch)) {
    if (!result.ok()) return result.status().with_context("embedding topic descriptions");
    classifier.label_embeddings_.push_back(std::move(result->values));
  }
  return classifier;
}

std::vector<TopicScore> TopicClassifier::rank(const std::vector<float>& embedding) const {
  std::vector<TopicScore> scores;
  for (size_t label_idx = 0; label_idx < labels_.size(); ++label_idx) {
    scores.push_back({labels_[label_idx], cosine_similarity(embedding, label_embeddings_[label_idx])});
  }
  std::stable_sort(scores.begin(), scores.end(), [](const TopicScore& a, const TopicScore& b) { return a.score > b.score; });
  return scores;
}

void StoryTracker::join_story(size_t story_idx, const std::vector<float>& embedding) {
  std::vector<double>& sum = story_sums_[story_idx];
  if (sum.size() < embedding.size()) sum.resize(embedding.size(), 0.0);
  for (size_t idx = 0; idx < embedding.size(); ++idx) sum[idx] += embedding[idx];
}

StoryAssignment StoryTracker::add(const std::string& content_hash, const std::vector<float>& embedding) {
  StoryAssignment assignment;
  float best_similarity = -2;
  for (size_t article_idx = 0; article_idx < article_embeddings_.size(); ++article_idx) {
    const float similarity = cosine_similarity(embedding, article_embeddings_[article_idx]);
    if (similarity > best_similarity) {
      best_similarity = similarity;
      if (similarity >= near_duplicate_threshold_) assignment.near_duplicate_of = article_hashes_[article_idx];
    }
  }
  assignment.duplicate_similarity = std::max(best_similarity, 0.0f);

  size_t best_story = story_ids_.size();
  float best_story_similarity = -2;
  for (size_t story_idx = 0; story_idx < story_sums_.size(); ++story_idx) {
    const std::vector<double>& sum = story_sums_[story_idx];
    const std::vector<float> centroid(sum.begin(), sum.end());
    const float similarity = cosine_similarity(embedding, centroid);
    if (similarity > best_story_similarity) {
      best_story_similarity = similarity;
      best_story = story_idx;
    }
  }
  if (best_story < story_ids_.size() && best_story_similarity >= story_threshold_) {
    join_story(best_story, embedding);
    assignment.story_id = story_ids_[best_story];
    assignment.story_similarity = best_story_similarity;
  } else {
    assignment.story_id = "story-" + content_hash.substr(0, 16);
    story_index_[assignment.story_id] = story_ids_.size();
    story_ids_.push_back(assignment.story_id);
    story_sums_.emplace_back(embedding.begin(), embedding.end());
  }
  article_hashes_.push_back(content_hash);
  article_embeddings_.push_back(embedding);
  return assignment;
}

void StoryTracker::restore(const std::string& content_hash, const std::vector<float>& embedding,
                           const std::string& story_id) {
  auto found = story_index_.find(story_id);
  if (found == story_index_.end()) {
    story_index_[story_id] = story_ids_.size();
    story_ids_.push_back(story_id);
    story_sums_.emplace_back(embedding.begin(), embedding.end());
  } else {
    join_story(found->second, embedding);
  }
  article_hashes_.push_back(content_hash);
  article_embeddings_.push_back(embedding);
}

}  // namespace justnews
