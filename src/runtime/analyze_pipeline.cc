// The analyze pipeline as four overlapping stages on their own threads:
//   reader thread: parse, content hash, de-duplication, store membership → bounded chunk queue;
//   caller thread: tokenise every article for every agent on the pool, submit to the schedulers;
//   engine threads (one per agent, in the schedulers): batches;
//   writer thread: in input order, post-process (topics, near-duplicates, stories, JSON) and
//   commit to the store in transactions.
// Memory stays bounded: the chunk queue holds a few chunks and at most max_in_flight_articles are
// between tokenisation and the store.
#include "runtime/analyze_pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_set>

#include "core/thread_pool.h"
#include "memory/memory_manager.h"
#include "runtime/agent.h"
#include "runtime/agent_loader.h"
#include "runtime/article_reader.h"
#include "runtime/backend.h"
#include "runtime/bounded_queue.h"
#include "runtime/embedding_analysis.h"
#include "runtime/post_processor.h"
#include "runtime/scheduler.h"
#include "store/store.h"
#ifdef JUSTNEWS_HAS_CUDA_MEMORY
#include "memory/cuda_allocator.h"
#endif

namespace justnews {
namespace {

using Clock = std::chrono::steady_clock;

// Chunks the reader may run ahead of tokenisation.
constexpr size_t kReadQueueChunks = 4;

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

// An article that passed de-duplication, with the hash computed once by the reader.
struct ReadArticle {
  Article article;
  std::string hash;
};

struct PendingArticle {
  Article article;  // without its body once tokenised: post-processing needs only the metadata
  std::string hash;
  std::vector<std::optional<Result<AgentOutput>>> outputs;  // one per agent
  size_t remaining = 0;
};

// The text the agents analyse (Article::text()), taking the body instead of copying it.
std::string take_text(Article* article) {
  if (article->title.empty()) return std::move(article->body);
  std::string text;
  text.reserve(article->title.size() + 1 + article->body.size());
  text += article->title;
  if (!article->body.empty()) {
    text += '\n';
    text += article->body;
  }
  article->body = std::string();
  return text;
}

class Pipeline {
 public:
  Pipeline(const Config& config, const AnalyzeOptions& options, const AnalyzeCallbacks& callbacks)
      : config_(config), options_(options), callbacks_(callbacks) {}

  ~Pipeline() {
    stop(ok_status());
    join_threads();
    for (auto& scheduler : schedulers_) scheduler->shutdown();
  }

  Result<AnalyzeSummary> run();

 private:
  Status load();
  // Topics, stored story vectors and the scheduler of a loaded agent.
  Status attach_agent(std::unique_ptr<Agent> agent);
  MemoryManager* memory_for(const std::string& backend, Status* status);

  // Reader thread.
  void read_loop(ArticleReader* reader);
  Status read_all(ArticleReader* reader);
  // Caller thread.
  Status dispatch_all();
  Status submit_chunk(std::vector<ReadArticle>* chunk);
  // Writer thread.
  void write_loop();
  Status write_all();
  // Post-processes the articles of `ready` that every agent analysed: result[ready_idx] (nullopt
  // for the failed ones, whose outputs are left in place).
  std::vector<std::optional<PostProcessed>> post_process(std::vector<PendingArticle>* ready);
  // Counts and reports an article that an agent failed on.
  void report_failure(const PendingArticle& pending);
  Status queue_for_store(PostProcessed processed);
  Status commit();

  // Asks every stage to stop; the first error (if any) is what run() returns.
  void stop(const Status& status);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  void join_threads();
  void warn(const std::string& message) {
    std::lock_guard<std::mutex> lock(callback_mutex_);
    if (callbacks_.on_warning) callbacks_.on_warning(message);
  }
  void report_progress(bool input_finished);

  const Config& config_;
  const AnalyzeOptions& options_;
  const AnalyzeCallbacks& callbacks_;
  AnalyzeSummary summary_;  // each field written by one stage's thread only
  Clock::time_point started_ = Clock::now();

  std::unique_ptr<Store> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<MemoryManager> host_memory_;
  std::unique_ptr<MemoryManager> pinned_memory_;  // made with cuda_memory_
  std::unique_ptr<MemoryManager> cuda_memory_;
  std::vector<std::unique_ptr<Agent>> agents_;
  std::vector<PostAgent> post_agents_;          // parallel to agents_ until post_processor_ takes them
  std::unique_ptr<PostProcessor> post_processor_;
  std::vector<std::unique_ptr<BatchScheduler>> schedulers_;
  std::FILE* jsonl_ = nullptr;
  bool owns_jsonl_ = false;

  std::thread reader_thread_;
  std::thread writer_thread_;
  BoundedQueue<std::vector<ReadArticle>> read_queue_{kReadQueueChunks};
  std::atomic<bool> stopping_{false};
  std::mutex error_mutex_;
  Status first_error_;
  std::mutex callback_mutex_;
  // Counters the writer's progress reports read while the reader updates them.
  std::atomic<int64_t> progress_read_{0};     // well-formed or not
  std::atomic<int64_t> progress_skipped_{0};  // duplicates, already stored, malformed

  // Reader thread only.
  std::unordered_set<std::string> seen_hashes_;
  std::unordered_set<std::string> seen_urls_;
  // Caller thread only.
  uint64_t next_key_ = 0;

  // Shared between the caller, the engine threads and the writer.
  std::mutex mutex_;
  std::condition_variable done_cv_;   // an article got its last result, or input ended
  std::condition_variable space_cv_;  // the writer took articles out of pending_
  std::map<uint64_t, PendingArticle> pending_;
  bool input_done_ = false;

  // Writer thread only.
  uint64_t next_to_finalize_ = 0;
  std::vector<AnalyzedArticle> to_write_;
  std::vector<std::string> to_write_lines_;
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
    // Pinned host memory (the encoders' staging) has its own budgets, as the issue asks; its pool
    // allocates nothing up front (the encoders' staging is charged, not drawn from it).
    auto pinned = make_cuda_pinned_allocator();
    if (!pinned.ok()) {
      *status = pinned.status();
      return nullptr;
    }
    pinned_memory_ = std::make_unique<MemoryManager>(std::move(pinned).value(), config_.memory);
  }
  return cuda_memory_.get();
#else
  *status = unsupported("the CUDA backend was chosen but this build has no CUDA memory manager");
  return nullptr;
#endif
}

Status Pipeline::attach_agent(std::unique_ptr<Agent> agent) {
  const AgentConfig& agent_config = agent->config();
  PostAgent analysis;
  analysis.name = agent->name();
  analysis.task = agent->task();
  analysis.labels = agent->labels();
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
  post_agents_.push_back(std::move(analysis));

  SchedulerOptions scheduler_options;
  scheduler_options.name = agent_config.name;
  scheduler_options.max_batch_items = agent_config.max_batch_items;
  scheduler_options.max_batch_tokens = agent_config.max_batch_tokens;
  scheduler_options.max_wait_ms = agent_config.max_wait_ms;
  scheduler_options.queue_capacity = static_cast<size_t>(agent_config.queue_capacity);
  schedulers_.push_back(std::make_unique<BatchScheduler>(
      scheduler_options, [agent_ptr](const std::vector<const WorkItem*>& items) { return agent_ptr->run_batch(items); },
      [this, agent_idx](uint64_t key, Result<AgentOutput> result) {
        bool complete = false;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          auto found = pending_.find(key);
          if (found == pending_.end()) return;
          found->second.outputs[agent_idx] = std::move(result);
          complete = --found->second.remaining == 0;
        }
        if (complete) done_cv_.notify_all();
      }));
  return ok_status();
}

Status Pipeline::load() {
  StageTimer timer(&summary_.load_s);
  {
    StageTimer store_timer(&summary_.load_store_s);
    JN_ASSIGN_OR_RETURN(store_, open_store(config_.store, options_.store_path));
  }
  pool_ = std::make_unique<ThreadPool>(static_cast<size_t>(config_.engine.num_threads));
  host_memory_ = make_host_memory_manager(config_.memory);
  const std::vector<AgentConfig> agent_configs = config_.agents.empty() ? default_agent_configs() : config_.agents;
  // Backends and memory managers are chosen here, on one thread (the CUDA manager is made once).
  std::vector<AgentLoadRequest> requests;
  {
    StageTimer device_timer(&summary_.load_device_s);
    for (const AgentConfig& agent_config : agent_configs) {
      JN_ASSIGN_OR_RETURN(const std::string backend, resolve_backend(agent_config, config_.engine));
      Status memory_status;
      MemoryManager* memory = memory_for(backend, &memory_status);
      if (!memory) return memory_status.with_context("agent '" + agent_config.name + "'");
      requests.push_back({agent_config, memory, backend == "cuda" ? pinned_memory_.get() : nullptr});
    }
  }
  StageTimer agents_timer(&summary_.load_agents_s);
  JN_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Agent>> agents,
                      load_agents(requests, config_.engine, config_.memory, pool_.get()));
  for (std::unique_ptr<Agent>& agent : agents) JN_RETURN_IF_ERROR(attach_agent(std::move(agent)));
  if (!options_.jsonl_output.empty()) {
    if (options_.jsonl_output == "-") {
      jsonl_ = stdout;
    } else {
      jsonl_ = std::fopen(options_.jsonl_output.c_str(), "ab");
      if (!jsonl_) return io_error("JSONL output '" + options_.jsonl_output + "' cannot be opened for writing");
      owns_jsonl_ = true;
    }
  }
  post_processor_ = std::make_unique<PostProcessor>(std::move(post_agents_), pool_.get(), jsonl_ != nullptr);
  return ok_status();
}

void Pipeline::stop(const Status& status) {
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (first_error_.ok()) first_error_ = status;
  }
  stopping_.store(true, std::memory_order_release);
  read_queue_.close();
  {
    // Under the lock, so that a thread between its predicate check and its wait cannot miss it.
    std::lock_guard<std::mutex> lock(mutex_);
  }
  done_cv_.notify_all();
  space_cv_.notify_all();
}

void Pipeline::join_threads() {
  if (reader_thread_.joinable()) reader_thread_.join();
  if (writer_thread_.joinable()) writer_thread_.join();
}

// ---- reader thread ----

void Pipeline::read_loop(ArticleReader* reader) {
  Status status = read_all(reader);
  if (!status.ok()) stop(status);
  read_queue_.close();
}

Status Pipeline::read_all(ArticleReader* reader) {
  bool at_end = false;
  while (!at_end && !stopping()) {
    std::vector<ReadArticle> chunk;
    chunk.reserve(static_cast<size_t>(options_.chunk_articles));
    {
      StageTimer timer(&summary_.read_s);
      while (static_cast<int>(chunk.size()) < options_.chunk_articles) {
        auto next = reader->next();
        if (!next) {
          at_end = true;
          break;
        }
        if (!next->ok()) {
          ++summary_.malformed;
          ++progress_read_;
          ++progress_skipped_;
          warn("skipped: " + next->status().message());
          continue;
        }
        ReadArticle read{std::move(next->value()), ""};
        ++summary_.articles_read;
        ++progress_read_;
        read.hash = content_hash(read.article);
        const std::string& url = read.article.url;
        if (seen_hashes_.count(read.hash) || (!url.empty() && seen_urls_.count(url))) {
          ++summary_.duplicates;
          ++progress_skipped_;
          continue;
        }
        seen_hashes_.insert(read.hash);
        if (!url.empty()) seen_urls_.insert(url);
        JN_ASSIGN_OR_RETURN(const bool stored, store_->contains(read.hash, url));
        if (stored) {
          ++summary_.already_stored;
          ++progress_skipped_;
          continue;
        }
        chunk.push_back(std::move(read));
      }
    }
    if (!chunk.empty() && !read_queue_.push(std::move(chunk))) break;  // closed: the pipeline stops
  }
  return ok_status();
}

// ---- caller thread ----

Status Pipeline::dispatch_all() {
  while (auto chunk = read_queue_.pop()) {
    if (stopping()) break;
    {
      // Bound the articles in flight: wait for the writer to take older ones.
      StageTimer timer(&summary_.wait_s);
      std::unique_lock<std::mutex> lock(mutex_);
      space_cv_.wait(lock, [&] {
        return stopping() || pending_.empty() ||
               pending_.size() + chunk->size() <= static_cast<size_t>(options_.max_in_flight_articles);
      });
    }
    if (stopping()) break;
    JN_RETURN_IF_ERROR(submit_chunk(&*chunk));
  }
  return ok_status();
}

Status Pipeline::submit_chunk(std::vector<ReadArticle>* chunk) {
  const size_t num_articles = chunk->size();
  const size_t num_agents = agents_.size();
  std::vector<std::string> texts(num_articles);
  for (size_t article_idx = 0; article_idx < num_articles; ++article_idx) {
    texts[article_idx] = take_text(&(*chunk)[article_idx].article);
  }
  const uint64_t first_key = next_key_;
  next_key_ += num_articles;

  // Every (agent, article) pair in one parallel loop, so no agent waits for another's stragglers.
  std::vector<std::optional<Result<WorkItem>>> items(num_agents * num_articles);
  {
    StageTimer timer(&summary_.tokenize_s);
    pool_->parallel_for(items.size(), 4, [&](size_t begin, size_t end) {
      for (size_t item_idx = begin; item_idx < end; ++item_idx) {
        const size_t agent_idx = item_idx / num_articles;
        const size_t article_idx = item_idx % num_articles;
        items[item_idx] = agents_[agent_idx]->tokenize(first_key + article_idx, texts[article_idx]);
      }
    });
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t article_idx = 0; article_idx < num_articles; ++article_idx) {
      PendingArticle pending;
      pending.article = std::move((*chunk)[article_idx].article);
      pending.hash = std::move((*chunk)[article_idx].hash);
      pending.outputs.resize(num_agents);
      pending.remaining = num_agents;
      for (size_t agent_idx = 0; agent_idx < num_agents; ++agent_idx) {
        Result<WorkItem>& item = *items[agent_idx * num_articles + article_idx];
        if (item.ok()) continue;
        pending.outputs[agent_idx] = item.status();
        --pending.remaining;
      }
      const bool complete = pending.remaining == 0;
      pending_.emplace(first_key + article_idx, std::move(pending));
      if (complete) done_cv_.notify_all();
    }
  }
  for (size_t agent_idx = 0; agent_idx < num_agents; ++agent_idx) {
    for (size_t article_idx = 0; article_idx < num_articles; ++article_idx) {
      Result<WorkItem>& item = *items[agent_idx * num_articles + article_idx];
      if (!item.ok()) continue;
      for (;;) {
        Status submitted = schedulers_[agent_idx]->submit(std::move(item.value()));
        if (submitted.ok()) break;
        if (submitted.code() != StatusCode::kOverloaded) return submitted;
        if (stopping()) return ok_status();
        // Back-pressure: the engine's queue is full; wait for it to finish something.
        StageTimer timer(&summary_.wait_s);
        std::unique_lock<std::mutex> lock(mutex_);
        done_cv_.wait_for(lock, std::chrono::milliseconds(2));
      }
    }
  }
  return ok_status();
}

// ---- writer thread ----

void Pipeline::write_loop() {
  Status status = write_all();
  if (!status.ok()) stop(status);
  if (summary_.stopped_early) stop(ok_status());
}

Status Pipeline::write_all() {
  for (;;) {
    std::vector<PendingArticle> ready;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        for (;;) {
          auto found = pending_.find(next_to_finalize_);
          if (found == pending_.end() || found->second.remaining > 0) break;
          ready.push_back(std::move(found->second));
          pending_.erase(found);
          ++next_to_finalize_;
        }
        if (!ready.empty() || stopping()) break;
        if (input_done_ && pending_.empty()) break;
        done_cv_.wait(lock);
      }
    }
    if (ready.empty()) {
      if (stopping()) return ok_status();
      return commit();  // the input is done: the last partial transaction
    }
    space_cv_.notify_all();
    std::vector<std::optional<PostProcessed>> processed = post_process(&ready);
    for (size_t ready_idx = 0; ready_idx < ready.size(); ++ready_idx) {
      if (!processed[ready_idx]) {
        report_failure(ready[ready_idx]);
        continue;
      }
      JN_RETURN_IF_ERROR(queue_for_store(std::move(*processed[ready_idx])));
      if (summary_.stopped_early) return ok_status();
    }
  }
}

std::vector<std::optional<PostProcessed>> Pipeline::post_process(std::vector<PendingArticle>* ready) {
  StageTimer timer(&summary_.postprocess_s);
  std::vector<size_t> complete;
  std::vector<FinishedArticle> finished;
  for (size_t ready_idx = 0; ready_idx < ready->size(); ++ready_idx) {
    PendingArticle& pending = (*ready)[ready_idx];
    bool all_ok = true;
    for (const auto& output : pending.outputs) all_ok = all_ok && output && output->ok();
    if (!all_ok) continue;
    FinishedArticle article{std::move(pending.article), std::move(pending.hash), {}};
    article.outputs.reserve(pending.outputs.size());
    for (auto& output : pending.outputs) article.outputs.push_back(std::move(output->value()));
    complete.push_back(ready_idx);
    finished.push_back(std::move(article));
  }
  std::vector<PostProcessed> results = post_processor_->process(std::move(finished));
  std::vector<std::optional<PostProcessed>> out(ready->size());
  for (size_t complete_idx = 0; complete_idx < complete.size(); ++complete_idx) {
    out[complete[complete_idx]] = std::move(results[complete_idx]);
  }
  return out;
}

void Pipeline::report_failure(const PendingArticle& pending) {
  for (size_t agent_idx = 0; agent_idx < agents_.size(); ++agent_idx) {
    const auto& output = pending.outputs[agent_idx];
    if (!output || !output->ok()) {
      ++summary_.failed;
      warn(options_.input_path + ":" + std::to_string(pending.article.line_number) +
           ": not analysed (a rerun retries it): agent '" + agents_[agent_idx]->name() +
           "': " + (output ? output->status().message() : std::string("no result")));
      return;
    }
  }
}

Status Pipeline::queue_for_store(PostProcessed processed) {
  to_write_.push_back(std::move(processed.analyzed));
  if (jsonl_) to_write_lines_.push_back(std::move(processed.jsonl_line));
  if (static_cast<int>(to_write_.size()) >= options_.commit_every) return commit();
  return ok_status();
}

Status Pipeline::commit() {
  if (to_write_.empty()) return ok_status();
  {
    StageTimer timer(&summary_.store_s);
    JN_RETURN_IF_ERROR(store_->write(to_write_));
    summary_.analyzed += static_cast<int64_t>(to_write_.size());
    if (jsonl_) {
      for (const std::string& line : to_write_lines_) {
        std::fwrite(line.data(), 1, line.size(), jsonl_);
        std::fputc('\n', jsonl_);
      }
      std::fflush(jsonl_);
    }
    to_write_.clear();
    to_write_lines_.clear();
  }
  if (options_.stop_after_articles > 0 && summary_.analyzed >= options_.stop_after_articles) {
    summary_.stopped_early = true;
  }
  report_progress(false);
  return ok_status();
}

// Called by the writer while the run goes on, and by the caller once the threads are joined.
void Pipeline::report_progress(bool input_finished) {
  std::lock_guard<std::mutex> lock(callback_mutex_);
  if (!callbacks_.on_progress) return;
  AnalyzeProgress progress;
  progress.articles_read = progress_read_.load();
  progress.articles_done = summary_.analyzed + summary_.failed + progress_skipped_.load();
  progress.elapsed_s = seconds_since(started_);
  progress.input_finished = input_finished;
  callbacks_.on_progress(progress);
}

Result<AnalyzeSummary> Pipeline::run() {
  JN_ASSIGN_OR_RETURN(ArticleReader reader, ArticleReader::open(options_.input_path, config_.input, options_.input_format));
  JN_RETURN_IF_ERROR(load());
  reader_thread_ = std::thread([this, &reader] { read_loop(&reader); });
  writer_thread_ = std::thread([this] { write_loop(); });
  Status dispatched = dispatch_all();
  if (!dispatched.ok()) stop(dispatched);
  if (!stopping()) {
    for (auto& scheduler : schedulers_) scheduler->flush();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    input_done_ = true;
  }
  done_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  stop(ok_status());  // the reader may still be blocked on a full queue after an early stop
  join_threads();
  for (auto& scheduler : schedulers_) scheduler->shutdown();
  if (owns_jsonl_) std::fclose(jsonl_);
  jsonl_ = nullptr;
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!first_error_.ok()) return first_error_;
  }

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
    const AgentMemoryUsage pinned = agent.pinned_memory_usage();
    run.pinned_peak_bytes = pinned.peak_bytes;
    run.pinned_budget_bytes = pinned.budget_bytes;
    const AgentLoadReport& load = agent.load_report();
    run.load_s = load.load_s;
    run.model_s = load.model_s;
    run.encoder_s = load.encoder_s;
    run.tokenizer_s = load.tokenizer_s;
    run.fingerprint_s = load.encoder.fingerprint_s;
    run.plan_s = load.encoder.plan_s;
    run.upload_s = load.encoder.upload_s;
    if (load.encoder.plan_origin) run.plan_origin = plan_origin_name(*load.encoder.plan_origin);
    run.plan_path = load.encoder.plan_path;
    run.plan_rebuild_reason = load.encoder.rebuild_reason;
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
  auto pipeline = std::make_unique<Pipeline>(config, options, callbacks);
  Result<AnalyzeSummary> summary = pipeline->run();
  // Releasing the agents (encoders, device memory, timing caches written) is outside wall_s:
  // measured apart so that the process's own wall time can be accounted for.
  const auto teardown_start = Clock::now();
  pipeline.reset();
  if (summary.ok()) summary->teardown_s = seconds_since(teardown_start);
  return summary;
}

}  // namespace justnews
