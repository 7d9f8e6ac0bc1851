// The analyze pipeline: read → de-duplicate → tokenise (pool) → schedulers (engine threads) →
// in-order post-processing → transactional store writes.
#include "runtime/analyze_pipeline.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "core/thread_pool.h"
#include "memory/memory_manager.h"
#include "runtime/agent.h"
#include "runtime/article_reader.h"
#include "runtime/backend.h"
#include "runtime/embedding_analysis.h"
#include "runtime/result_json.h"
#include "runtime/scheduler.h"
#include "store/store.h"
#ifdef JUSTNEWS_HAS_CUDA_MEMORY
#include "memory/cuda_allocator.h"
#endif

namespace justnews {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Adds the time of its scope to a stage total.
class StageTimer {
 public:
  explicit StageTimer(double* total_s) : total_s_(total_s), start_(Clock::now()) {}
  ~StageTimer() { *total_s_ += seconds_since(start_); }

 private:
  double* total_s_;
  Clock::time_point start_;
};

struct PendingArticle {
  Article article;
  std::string hash;
  std::vector<std::optional<Result<AgentOutput>>> outputs;  // one per agent
  size_t remaining = 0;
};

// Topics and story state of one embed agent.
struct EmbedAnalysis {
  std::optional<TopicClassifier> topics;
  std::unique_ptr<StoryTracker> stories;
};

class Pipeline {
 public:
  Pipeline(const Config& config, const AnalyzeOptions& options, const AnalyzeCallbacks& callbacks)
      : config_(config), options_(options), callbacks_(callbacks) {}

  ~Pipeline() {
    for (auto& scheduler : schedulers_) scheduler->shutdown();
  }

  Result<AnalyzeSummary> run();

 private:
  Status load();
  Status load_agent(const AgentConfig& agent_config);
  MemoryManager* memory_for(const std::string& backend, Status* status);
  Status submit_chunk(std::vector<Article>* chunk);
  Status finalize(bool block);
  // Story assignments of every embed agent for the complete articles of `ready`, in one batch per
  // agent: result[agent_idx][ready_idx] (empty vectors for other agents).
  std::vector<std::vector<StoryAssignment>> assign_stories(const std::vector<PendingArticle>& ready);
  Status finalize_article(PendingArticle pending, const std::vector<StoryAssignment>& stories);
  Status commit();
  void warn(const std::string& message) {
    if (callbacks_.on_warning) callbacks_.on_warning(message);
  }
  void report_progress(bool input_finished);

  const Config& config_;
  const AnalyzeOptions& options_;
  const AnalyzeCallbacks& callbacks_;
  AnalyzeSummary summary_;
  Clock::time_point started_ = Clock::now();

  std::unique_ptr<Store> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<MemoryManager> host_memory_;
  std::unique_ptr<MemoryManager> cuda_memory_;
  std::vector<std::unique_ptr<Agent>> agents_;
  std::vector<EmbedAnalysis> embed_analyses_;  // parallel to agents_
  std::vector<std::unique_ptr<BatchScheduler>> schedulers_;
  std::FILE* jsonl_ = nullptr;
  bool owns_jsonl_ = false;

  std::unordered_set<std::string> seen_hashes_;
  std::unordered_set<std::string> seen_urls_;
  uint64_t next_key_ = 0;
  uint64_t next_to_finalize_ = 0;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  std::map<uint64_t, PendingArticle> pending_;
  std::vector<AnalyzedArticle> to_write_;
  std::vector<nlohmann::json> to_write_json_;
};

MemoryManager* Pipeline::memory_for(const std::string& backend, Status* status) {
  if (backend != "cuda") return host_memory_.get();
#ifdef JUSTNEWS_HAS_CUDA_MEMORY
  if (!cuda_memory_) {
    auto allocator = make_cuda_device_allocator(0);
    if (!allocator.ok()) {
      *status = allocator.status();
      return nullptr;
    }
    cuda_memory_ = std::make_unique<MemoryManager>(std::move(allocator).value(), config_.memory);
  }
  return cuda_memory_.get();
#else
  *status = unsupported("the CUDA backend was chosen but this build has no CUDA memory manager");
  return nullptr;
#endif
}

Status Pipeline::load_agent(const AgentConfig& agent_config) {
  JN_ASSIGN_OR_RETURN(const std::string backend, resolve_backend(agent_config, config_.engine));
  Status memory_status;
  MemoryManager* memory = memory_for(backend, &memory_status);
  if (!memory) return memory_status;
  JN_ASSIGN_OR_RETURN(std::unique_ptr<Agent> agent,
                      Agent::load(agent_config, config_.engine, config_.memory, memory, pool_.get()));
  EmbedAnalysis analysis;
  if (agent->task() == AgentTask::kEmbed) {
    const auto& topics = agent_config.topics.empty() ? default_news_topics() : agent_config.topics;
    JN_ASSIGN_OR_RETURN(TopicClassifier classifier, TopicClassifier::create(*agent, topics));
    analysis.topics = std::move(classifier);
    analysis.stories = std::make_unique<StoryTracker>(agent_config.near_duplicate_threshold,
                                                      agent_config.story_threshold);
    JN_ASSIGN_OR_RETURN(auto stored, store_->load_vectors(agent_config.name));
    for (const StoredVector& vector : stored) {
      const nlohmann::json output = nlohmann::json::parse(vector.output_json, nullptr, false);
      const std::string story = output.is_object() && output.contains("story") && output["story"].is_string()
                                    ? output["story"].get<std::string>()
                                    : "story-" + vector.content_hash.substr(0, 16);
      analysis.stories->restore(vector.content_hash, vector.vector, story);
    }
  }
  const size_t agent_idx = agents_.size();
  Agent* agent_ptr = agent.get();
  agents_.push_back(std::move(agent));
  embed_analyses_.push_back(std::move(analysis));

  SchedulerOptions scheduler_options;
  scheduler_options.name = agent_config.name;
  scheduler_options.max_batch_items = agent_config.max_batch_items;
  scheduler_options.max_batch_tokens = agent_config.max_batch_tokens;
  scheduler_options.max_wait_ms = agent_config.max_wait_ms;
  scheduler_options.queue_capacity = static_cast<size_t>(agent_config.queue_capacity);
  schedulers_.push_back(std::make_unique<BatchScheduler>(
      scheduler_options, [agent_ptr](const std::vector<const WorkItem*>& items) { return agent_ptr->run_batch(items); },
      [this, agent_idx](uint64_t key, Result<AgentOutput> result) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          auto found = pending_.find(key);
          if (found == pending_.end()) return;
          found->second.outputs[agent_idx] = std::move(result);
          --found->second.remaining;
        }
        done_cv_.notify_all();
      }));
  return ok_status();
}

Status Pipeline::load() {
  StageTimer timer(&summary_.load_s);
  JN_ASSIGN_OR_RETURN(store_, open_store(config_.store, options_.store_path));
  pool_ = std::make_unique<ThreadPool>(static_cast<size_t>(config_.engine.num_threads));
  host_memory_ = make_host_memory_manager(config_.memory);
  const std::vector<AgentConfig> agent_configs = config_.agents.empty() ? default_agent_configs() : config_.agents;
  for (const AgentConfig& agent_config : agent_configs) JN_RETURN_IF_ERROR(load_agent(agent_config));
  if (!options_.jsonl_output.empty()) {
    if (options_.jsonl_output == "-") {
      jsonl_ = stdout;
    } else {
      jsonl_ = std::fopen(options_.jsonl_output.c_str(), "ab");
      if (!jsonl_) return io_error("JSONL output '" + options_.jsonl_output + "' cannot be opened for writing");
      owns_jsonl_ = true;
    }
  }
  return ok_status();
}

Status Pipeline::submit_chunk(std::vector<Article>* chunk) {
  if (chunk->empty()) return ok_status();
  std::vector<std::string> texts;
  texts.reserve(chunk->size());
  for (const Article& article : *chunk) texts.push_back(article.text());
  const uint64_t first_key = next_key_;
  next_key_ += chunk->size();

  // Tokenise for every agent on the pool while the engines work on earlier batches.
  std::vector<std::vector<std::optional<Result<WorkItem>>>> items(agents_.size());
  {
    StageTimer timer(&summary_.tokenize_s);
    for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
      items[agent_idx].resize(chunk->size());
      const Agent& agent = *agents_[agent_idx];
      pool_->parallel_for(chunk->size(), 4, [&](size_t begin, size_t end) {
        for (size_t article_idx = begin; article_idx < end; ++article_idx) {
          items[agent_idx][article_idx] = agent.tokenize(first_key + article_idx, texts[article_idx]);
        }
      });
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t article_idx = 0; article_idx < chunk->size(); ++article_idx) {
      PendingArticle pending;
      pending.hash = content_hash((*chunk)[article_idx]);
      pending.article = std::move((*chunk)[article_idx]);
      pending.outputs.resize(agents_.size());
      pending.remaining = agents_.size();
      pending_.emplace(first_key + article_idx, std::move(pending));
    }
  }
  for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
    for (size_t article_idx = 0; article_idx < chunk->size(); ++article_idx) {
      const uint64_t key = first_key + article_idx;
      Result<WorkItem>& item = *items[agent_idx][article_idx];
      if (!item.ok()) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          PendingArticle& pending = pending_.at(key);
          pending.outputs[agent_idx] = item.status();
          --pending.remaining;
        }
        continue;
      }
      for (;;) {
        Status submitted = schedulers_[agent_idx]->submit(std::move(item).value());
        if (submitted.ok()) break;
        if (submitted.code() != StatusCode::kOverloaded) return submitted;
        // Back-pressure: finish what is done, give the engine a moment, then retry.
        JN_RETURN_IF_ERROR(finalize(false));
        StageTimer timer(&summary_.wait_s);
        std::unique_lock<std::mutex> lock(mutex_);
        done_cv_.wait_for(lock, std::chrono::milliseconds(5));
      }
    }
  }
  return ok_status();
}

Status Pipeline::finalize(bool block) {
  for (;;) {
    std::vector<PendingArticle> ready;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        auto found = pending_.find(next_to_finalize_);
        if (found == pending_.end() || found->second.remaining > 0) break;
        ready.push_back(std::move(found->second));
        pending_.erase(found);
        ++next_to_finalize_;
      }
      if (ready.empty()) {
        if (!block || pending_.empty()) return ok_status();
        StageTimer timer(&summary_.wait_s);
        done_cv_.wait_for(lock, std::chrono::milliseconds(20));
        continue;
      }
    }
    const std::vector<std::vector<StoryAssignment>> stories = assign_stories(ready);
    for (size_t ready_idx = 0; ready_idx < ready.size(); ++ready_idx) {
      std::vector<StoryAssignment> article_stories(agents_.size());
      for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
        if (!stories[agent_idx].empty()) article_stories[agent_idx] = stories[agent_idx][ready_idx];
      }
      JN_RETURN_IF_ERROR(finalize_article(std::move(ready[ready_idx]), article_stories));
      if (summary_.stopped_early) return ok_status();
    }
    if (!block) return ok_status();
  }
}

std::vector<std::vector<StoryAssignment>> Pipeline::assign_stories(const std::vector<PendingArticle>& ready) {
  StageTimer timer(&summary_.postprocess_s);
  std::vector<std::vector<StoryAssignment>> stories(agents_.size());
  std::vector<size_t> complete;
  for (size_t ready_idx = 0; ready_idx < ready.size(); ++ready_idx) {
    bool all_ok = true;
    for (const auto& output : ready[ready_idx].outputs) all_ok = all_ok && output && output->ok();
    if (all_ok) complete.push_back(ready_idx);
  }
  for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
    if (agents_[agent_idx]->task() != AgentTask::kEmbed || complete.empty()) continue;
    std::vector<std::string> hashes;
    std::vector<const std::vector<float>*> embeddings;
    for (size_t ready_idx : complete) {
      hashes.push_back(ready[ready_idx].hash);
      embeddings.push_back(&ready[ready_idx].outputs[agent_idx]->value().values);
    }
    std::vector<StoryAssignment> assigned = embed_analyses_[agent_idx].stories->add_batch(hashes, embeddings);
    stories[agent_idx].resize(ready.size());
    for (size_t complete_idx = 0; complete_idx < complete.size(); ++complete_idx)
      stories[agent_idx][complete[complete_idx]] = std::move(assigned[complete_idx]);
  }
  return stories;
}

Status Pipeline::finalize_article(PendingArticle pending, const std::vector<StoryAssignment>& stories) {
  const Article& article = pending.article;
  const std::string where = options_.input_path + ":" + std::to_string(article.line_number);
  for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
    const auto& output = pending.outputs[agent_idx];
    if (!output || !output->ok()) {
      ++summary_.failed;
      warn(where + ": not analysed (a rerun retries it): agent '" + agents_[agent_idx]->name() +
           "': " + (output ? output->status().message() : std::string("no result")));
      return ok_status();
    }
  }
  {
    StageTimer timer(&summary_.postprocess_s);
    AnalyzedArticle analyzed;
    analyzed.article = {pending.hash, article.url, article.id, article.title, article.published};
    nlohmann::json line = {{"line", article.line_number}, {"content_hash", pending.hash}};
    if (!article.id.empty()) line["id"] = article.id;
    if (!article.url.empty()) line["url"] = article.url;
    line["title"] = article.title;
    if (!article.published.empty()) line["published"] = article.published;
    for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
      const Agent& agent = *agents_[agent_idx];
      const AgentOutput& output = pending.outputs[agent_idx]->value();
      nlohmann::json json = agent_output_json(agent, output);
      AgentResultRecord record;
      record.agent = agent.name();
      EmbedAnalysis& analysis = embed_analyses_[agent_idx];
      if (agent.task() == AgentTask::kEmbed) {
        const std::vector<TopicScore> topics = analysis.topics->rank(output.values);
        if (!topics.empty()) json["topic"] = topics.front().label;
        json["topics"] = nlohmann::json::array();
        for (size_t topic_idx = 0; topic_idx < topics.size() && topic_idx < 3; ++topic_idx) {
          json["topics"].push_back({{"label", topics[topic_idx].label}, {"score", topics[topic_idx].score}});
        }
        const StoryAssignment& story = stories[agent_idx];
        json["near_duplicate_of"] = story.near_duplicate_of.empty() ? nlohmann::json(nullptr)
                                                                    : nlohmann::json(story.near_duplicate_of);
        json["max_similarity"] = story.duplicate_similarity;
        json["story"] = story.story_id;
        record.vector = output.values;
      }
      record.output_json = json.dump();
      line["agents"][agent.name()] = std::move(json);
      analyzed.results.push_back(std::move(record));
    }
    to_write_.push_back(std::move(analyzed));
    to_write_json_.push_back(std::move(line));
  }
  if (static_cast<int>(to_write_.size()) >= options_.commit_every) return commit();
  return ok_status();
}

Status Pipeline::commit() {
  if (to_write_.empty()) return ok_status();
  StageTimer timer(&summary_.store_s);
  JN_RETURN_IF_ERROR(store_->write(to_write_));
  summary_.analyzed += static_cast<int64_t>(to_write_.size());
  if (jsonl_) {
    for (const auto& line : to_write_json_) std::fprintf(jsonl_, "%s\n", line.dump().c_str());
    std::fflush(jsonl_);
  }
  to_write_.clear();
  to_write_json_.clear();
  if (options_.stop_after_articles > 0 && summary_.analyzed >= options_.stop_after_articles) {
    summary_.stopped_early = true;
  }
  report_progress(false);
  return ok_status();
}

void Pipeline::report_progress(bool input_finished) {
  if (!callbacks_.on_progress) return;
  AnalyzeProgress progress;
  progress.articles_read = summary_.articles_read + summary_.malformed;
  progress.articles_done = summary_.analyzed + summary_.failed + summary_.duplicates + summary_.already_stored +
                           summary_.malformed;
  progress.elapsed_s = seconds_since(started_);
  progress.input_finished = input_finished;
  callbacks_.on_progress(progress);
}

Result<AnalyzeSummary> Pipeline::run() {
  JN_ASSIGN_OR_RETURN(ArticleReader reader, ArticleReader::open(options_.input_path, config_.input, options_.input_format));
  JN_RETURN_IF_ERROR(load());
  bool at_end = false;
  while (!at_end && !summary_.stopped_early) {
    std::vector<Article> chunk;
    {
      StageTimer timer(&summary_.read_s);
      while (static_cast<int>(chunk.size()) < options_.chunk_articles) {
        auto next = reader.next();
        if (!next) {
          at_end = true;
          break;
        }
        if (!next->ok()) {
          ++summary_.malformed;
          warn("skipped: " + next->status().message());
          continue;
        }
        Article article = std::move(next->value());
        ++summary_.articles_read;
        const std::string hash = content_hash(article);
        if (seen_hashes_.count(hash) || (!article.url.empty() && seen_urls_.count(article.url))) {
          ++summary_.duplicates;
          continue;
        }
        seen_hashes_.insert(hash);
        if (!article.url.empty()) seen_urls_.insert(article.url);
        JN_ASSIGN_OR_RETURN(const bool stored, store_->contains(hash, article.url));
        if (stored) {
          ++summary_.already_stored;
          continue;
        }
        chunk.push_back(std::move(article));
      }
    }
    // Bound the articles in flight: finish older ones before reading further.
    while (!summary_.stopped_early) {
      size_t in_flight;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        in_flight = pending_.size();
      }
      if (in_flight + chunk.size() <= static_cast<size_t>(options_.max_in_flight_articles) || in_flight == 0) break;
      JN_RETURN_IF_ERROR(finalize(true));
    }
    if (summary_.stopped_early) break;
    JN_RETURN_IF_ERROR(submit_chunk(&chunk));
    JN_RETURN_IF_ERROR(finalize(false));
    report_progress(false);
  }
  if (!summary_.stopped_early) {
    for (auto& scheduler : schedulers_) scheduler->flush();
    JN_RETURN_IF_ERROR(finalize(true));
    if (!summary_.stopped_early) JN_RETURN_IF_ERROR(commit());
  }
  for (auto& scheduler : schedulers_) scheduler->shutdown();
  if (owns_jsonl_) std::fclose(jsonl_);
  jsonl_ = nullptr;

  for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
    const Agent& agent = *agents_[agent_idx];
    const SchedulerStats stats = schedulers_[agent_idx]->stats();
    const AgentMemoryUsage usage = agent.memory_usage();
    AgentRunSummary run;
    run.name = agent.name();
    run.task = agent_task_name(agent.task());
    run.backend = agent.backend_name();
    run.items = stats.items;
    run.batches = stats.batches;
    run.tokens = stats.tokens;
    run.busy_s = stats.busy_s;
    run.mean_latency_s = stats.items ? stats.latency_sum_s / static_cast<double>(stats.items) : 0;
    run.max_latency_s = stats.latency_max_s;
    run.peak_memory_bytes = usage.peak_bytes;
    run.budget_bytes = usage.budget_bytes;
    summary_.agents.push_back(run);
  }
  summary_.wall_s = seconds_since(started_);
  report_progress(true);
  return summary_;
}

}  // namespace

std::vector<AgentConfig> default_agent_configs() {
  AgentConfig embeddings;
  embeddings.name = "embeddings";
  embeddings.model_dir = "models/all-MiniLM-L6-v2";
  embeddings.task = "embed";
  return {embeddings};
}

Result<AnalyzeSummary> run_analyze(const Config& config, const AnalyzeOptions& options,
                                   const AnalyzeCallbacks& callbacks) {
  if (options.commit_every <= 0 || options.chunk_articles <= 0 || options.max_in_flight_articles <= 0) {
    return invalid_argument("analyze: commit_every, chunk_articles and max_in_flight_articles must be positive");
  }
  Pipeline pipeline(config, options, callbacks);
  return pipeline.run();
}

}  // namespace justnews
