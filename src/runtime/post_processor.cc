// Post-processing of finished articles: stories in order, then topics and JSON per article.
#include "runtime/post_processor.h"

#include <algorithm>

#include "runtime/cooperative_for.h"
#include "runtime/result_json.h"

namespace justnews {
namespace {

// Articles per pool task: JSON of one article takes tens of microseconds, so small tasks balance.
constexpr size_t kArticlesPerTask = 4;
constexpr size_t kTopicsWritten = 3;

}  // namespace

PostProcessor::PostProcessor(std::vector<PostAgent> agents, ThreadPool* pool, bool write_jsonl)
    : agents_(std::move(agents)), pool_(pool), write_jsonl_(write_jsonl) {
  for (PostAgent& agent : agents_) {
    if (agent.stories) agent.stories->set_thread_pool(pool_);
  }
}

std::vector<PostProcessed> PostProcessor::process(std::vector<FinishedArticle> articles) {
  const size_t num_articles = articles.size();
  // Stories depend on every earlier article, so each embed agent assigns the whole run in order.
  std::vector<std::vector<StoryAssignment>> stories(agents_.size());
  for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
    if (!agents_[agent_idx].stories || num_articles == 0) continue;
    std::vector<std::string> hashes;
    std::vector<const std::vector<float>*> embeddings;
    hashes.reserve(num_articles);
    embeddings.reserve(num_articles);
    for (const FinishedArticle& article : articles) {
      hashes.push_back(article.hash);
      embeddings.push_back(&article.outputs[agent_idx].values);
    }
    stories[agent_idx] = agents_[agent_idx].stories->add_batch(hashes, embeddings);
  }
  // The rest of an article depends on that article alone: any thread, any order.
  std::vector<PostProcessed> out(num_articles);
  const auto finish_range = [&](size_t begin, size_t end) {
    std::vector<const StoryAssignment*> article_stories(agents_.size());
    for (size_t article_idx = begin; article_idx < end; ++article_idx) {
      for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
        article_stories[agent_idx] =
            stories[agent_idx].empty() ? nullptr : &stories[agent_idx][article_idx];
      }
      out[article_idx] = finish(&articles[article_idx], article_stories);
    }
  };
  cooperative_for(pool_, (num_articles + kArticlesPerTask - 1) / kArticlesPerTask,
                  [&](size_t task_idx) {
                    finish_range(task_idx * kArticlesPerTask,
                                 std::min(num_articles, (task_idx + 1) * kArticlesPerTask));
                  });
  return out;
}

PostProcessed PostProcessor::finish(FinishedArticle* finished,
                                    const std::vector<const StoryAssignment*>& stories) const {
  PostProcessed out;
  AnalyzedArticle& analyzed = out.analyzed;
  analyzed.results.reserve(agents_.size());
  for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
    const PostAgent& agent = agents_[agent_idx];
    AgentOutput& output = finished->outputs[agent_idx];
    nlohmann::json json = agent_output_json(agent.task, agent.labels, output);
    AgentResultRecord record;
    record.agent = agent.name;
    if (agent.task == AgentTask::kEmbed) {
      if (agent.topics) {
        const std::vector<TopicScore> topics = agent.topics->rank(output.values);
        if (!topics.empty()) json["topic"] = topics.front().label;
        json["topics"] = nlohmann::json::array();
        for (size_t topic_idx = 0; topic_idx < topics.size() && topic_idx < kTopicsWritten;
             ++topic_idx) {
          json["topics"].push_back(
              {{"label", topics[topic_idx].label}, {"score", topics[topic_idx].score}});
        }
      }
      if (const StoryAssignment* story = stories[agent_idx]) {
        json["near_duplicate_of"] = story->near_duplicate_of.empty()
                                        ? nlohmann::json(nullptr)
                                        : nlohmann::json(story->near_duplicate_of);
        json["max_similarity"] = story->duplicate_similarity;
        json["story"] = story->story_id;
      }
      record.vector = std::move(output.values);
    }
    record.output_json = json.dump();
    analyzed.results.push_back(std::move(record));
  }
  Article& article = finished->article;
  if (write_jsonl_) {
    nlohmann::json metadata = {{"line", article.line_number}, {"content_hash", finished->hash}};
    if (!article.id.empty()) metadata["id"] = article.id;
    if (!article.url.empty()) metadata["url"] = article.url;
    metadata["title"] = article.title;
    if (!article.published.empty()) metadata["published"] = article.published;
    std::vector<std::pair<std::string, const std::string*>> agent_json;
    for (const AgentResultRecord& record : analyzed.results)
      agent_json.emplace_back(record.agent, &record.output_json);
    out.jsonl_line = jsonl_line(metadata, std::move(agent_json));
  }
  analyzed.article = {std::move(finished->hash), std::move(article.url), std::move(article.id),
                      std::move(article.title), std::move(article.published)};
  return out;
}

// Byte for byte what nlohmann::json would write for the whole object: keys sorted, and "agents"
// sorts before every metadata key.
std::string jsonl_line(const nlohmann::json& metadata,
                       std::vector<std::pair<std::string, const std::string*>> agents) {
  std::sort(agents.begin(), agents.end(),
            [](const auto& left, const auto& right) { return left.first < right.first; });
  std::string line = "{\"agents\":{";
  for (size_t agent_idx = 0; agent_idx < agents.size(); ++agent_idx) {
    if (agent_idx > 0) line += ',';
    line += nlohmann::json(agents[agent_idx].first).dump();
    line += ':';
    line += *agents[agent_idx].second;
  }
  line += "},";
  const std::string rest = metadata.dump();
  line.append(rest, 1, std::string::npos);
  return line;
}

}  // namespace justnews
