// The analyze pipeline's post-processing stage, apart from its threads and store so it can be
// tested and benchmarked alone: for finished articles in input order, story assignments (one
// blocked batch per embed agent, in order), then per article on the thread pool topics, result JSON
// and the JSONL line. Results do not depend on the batch split or the number of threads.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/agent.h"
#include "runtime/agent_output.h"
#include "runtime/article.h"
#include "runtime/embedding_analysis.h"
#include "store/store.h"

namespace justnews {

class ThreadPool;

// What post-processing needs of an agent (not the model itself).
struct PostAgent {
  std::string name;
  AgentTask task = AgentTask::kClassify;
  std::vector<std::string> labels;        // id2label; missing ones are written LABEL_<idx>
  std::optional<TopicClassifier> topics;  // embed agents
  std::unique_ptr<StoryTracker> stories;  // embed agents
};

// An article every agent analysed: metadata (the body is not needed) and one output per agent.
struct FinishedArticle {
  Article article;
  std::string hash;
  std::vector<AgentOutput> outputs;
};

struct PostProcessed {
  AnalyzedArticle analyzed;
  std::string jsonl_line;  // empty unless the processor writes JSONL
};

class PostProcessor {
 public:
  // `pool` (optional) runs the per-article work and the similarity blocks; it must outlive this.
  PostProcessor(std::vector<PostAgent> agents, ThreadPool* pool, bool write_jsonl);

  size_t num_agents() const { return agents_.size(); }
  // The story tracker of an embed agent (nullptr for others), e.g. to restore stored articles.
  StoryTracker* stories(size_t agent_idx) { return agents_[agent_idx].stories.get(); }

  // Articles in input order; result[idx] belongs to articles[idx]. Each article needs one output
  // per agent. Calling this once per article gives the same results as one call for all of them.
  std::vector<PostProcessed> process(std::vector<FinishedArticle> articles);

 private:
  PostProcessed finish(FinishedArticle* article,
                       const std::vector<const StoryAssignment*>& stories) const;

  std::vector<PostAgent> agents_;
  ThreadPool* pool_;
  bool write_jsonl_;
};

// The JSONL line of an article: `metadata` (an object without "agents") with the agents' stored
// JSON spliced in, so each agent's JSON is serialised once.
std::string jsonl_line(const nlohmann::json& metadata,
                       std::vector<std::pair<std::string, const std::string*>> agents);

}  // namespace justnews
