// Topics, near-duplicates and stories from embeddings.
#include "runtime/embedding_analysis.h"

#include "runtime/similarity_kernels.h"
#include "tensor/vector_math.h"

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
  const auto dim = static_cast<int64_t>(std::min(a.size(), b.size()));
  return static_cast<float>(cosine_similarity(a.data(), b.data(), dim));
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

TopicClassifier TopicClassifier::from_embeddings(std::vector<std::string> labels,
                                                 std::vector<std::vector<float>> label_embeddings) {
  TopicClassifier classifier;
  classifier.labels_ = std::move(labels);
  classifier.label_embeddings_ = std::move(label_embeddings);
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

void StoryTracker::append_unit_row(const std::vector<float>& embedding, std::vector<float>* matrix) const {
  double norm = 0;
  for (float value : embedding) norm += double(value) * value;
  const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
  for (size_t idx = 0; idx < dim_; ++idx) matrix->push_back(idx < embedding.size() ? embedding[idx] * scale : 0.0f);
}

size_t StoryTracker::create_story(const std::string& story_id, const float* unit_row) {
  const size_t story_idx = story_ids_.size();
  story_index_[story_id] = story_idx;
  story_ids_.push_back(story_id);
  story_sums_.insert(story_sums_.end(), unit_row, unit_row + dim_);
  story_centroids_.insert(story_centroids_.end(), unit_row, unit_row + dim_);
  return story_idx;
}

void StoryTracker::join_story(size_t story_idx, const float* unit_row) {
  double* sum = story_sums_.data() + story_idx * dim_;
  double norm = 0;
  for (size_t idx = 0; idx < dim_; ++idx) {
    sum[idx] += unit_row[idx];
    norm += sum[idx] * sum[idx];
  }
  const double scale = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
  float* centroid = story_centroids_.data() + story_idx * dim_;
  for (size_t idx = 0; idx < dim_; ++idx) centroid[idx] = static_cast<float>(sum[idx] * scale);
}

std::vector<StoryAssignment> StoryTracker::add_batch(const std::vector<std::string>& content_hashes,
                                                     const std::vector<const std::vector<float>*>& embeddings) {
  const size_t batch = embeddings.size();
  std::vector<StoryAssignment> assignments(batch);
  if (batch == 0) return assignments;
  if (dim_ == 0) dim_ = embeddings.front()->size();
  std::vector<float> batch_rows;
  batch_rows.reserve(batch * dim_);
  for (const auto* embedding : embeddings) append_unit_row(*embedding, &batch_rows);

  const size_t stored_articles = article_hashes_.size();
  const size_t stored_stories = story_ids_.size();
  const std::vector<BestRow> best_stored =
      best_rows(batch_rows.data(), batch, article_rows_.data(), stored_articles, dim_, pool_);
  std::vector<float> batch_similarity(batch * batch);
  row_dots(batch_rows.data(), batch, batch_rows.data(), batch, dim_, batch_similarity.data(), batch, pool_);
  std::vector<float> story_similarity(batch * stored_stories);
  row_dots(batch_rows.data(), batch, story_centroids_.data(), stored_stories, dim_, story_similarity.data(),
           stored_stories, pool_);

  std::vector<bool> story_changed_in_batch(stored_stories, false);
  for (size_t item = 0; item < batch; ++item) {
    const float* row = batch_rows.data() + item * dim_;
    StoryAssignment& assignment = assignments[item];
    // Near-duplicates: the most similar earlier article (stored ones, then earlier ones in this batch).
    float best_similarity = best_stored[item].similarity;
    size_t best_article = best_stored[item].row_idx;
    for (size_t earlier = 0; earlier < item; ++earlier) {
      const float similarity = batch_similarity[item * batch + earlier];
      if (similarity > best_similarity) {
        best_similarity = similarity;
        best_article = stored_articles + earlier;
      }
    }
    if (best_similarity >= near_duplicate_threshold_) {
      assignment.near_duplicate_of = best_article < stored_articles ? article_hashes_[best_article]
                                                                    : content_hashes[best_article - stored_articles];
    }
    assignment.duplicate_similarity = std::max(best_similarity, 0.0f);

    // Stories: centroids this batch has not touched come from the block above, the rest are recomputed.
    size_t best_story = story_ids_.size();
    float best_story_similarity = -2;
    const float* story_sims = story_similarity.data() + item * stored_stories;
    for (size_t story_idx = 0; story_idx < story_ids_.size(); ++story_idx) {
      const bool recompute = story_idx >= stored_stories || story_changed_in_batch[story_idx];
      const float similarity = recompute ? row_dot(row, story_centroids_.data() + story_idx * dim_, dim_)
                                         : story_sims[story_idx];
      if (similarity > best_story_similarity) {
        best_story_similarity = similarity;
        best_story = story_idx;
      }
    }
    if (best_story < story_ids_.size() && best_story_similarity >= story_threshold_) {
      join_story(best_story, row);
      if (best_story < stored_stories) story_changed_in_batch[best_story] = true;
      assignment.story_id = story_ids_[best_story];
      assignment.story_similarity = best_story_similarity;
    } else {
      assignment.story_id = "story-" + content_hashes[item].substr(0, 16);
      create_story(assignment.story_id, row);
    }
  }
  article_hashes_.insert(article_hashes_.end(), content_hashes.begin(), content_hashes.end());
  article_rows_.insert(article_rows_.end(), batch_rows.begin(), batch_rows.end());
  return assignments;
}

StoryAssignment StoryTracker::add(const std::string& content_hash, const std::vector<float>& embedding) {
  return add_batch({content_hash}, {&embedding}).front();
}

void StoryTracker::restore(const std::string& content_hash, const std::vector<float>& embedding,
                           const std::string& story_id) {
  if (dim_ == 0) dim_ = embedding.size();
  std::vector<float> row;
  append_unit_row(embedding, &row);
  auto found = story_index_.find(story_id);
  if (found == story_index_.end()) create_story(story_id, row.data());
  else join_story(found->second, row.data());
  article_hashes_.push_back(content_hash);
  article_rows_.insert(article_rows_.end(), row.begin(), row.end());
}

}  // namespace justnews
