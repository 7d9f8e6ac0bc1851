// The analyze pipeline: articles in (JSONL/CSV), every agent run on each new article, results out
// to the store (and optionally JSONL). The stages overlap on their own threads: a reader thread
// parses and de-duplicates (content hash and URL, within the run and against the store); the
// caller's thread tokenises for all agents on the thread pool; each agent's engine thread computes
// batches; a writer thread post-processes finished articles (topics, near-duplicates, stories) in
// input order and commits them in transactions: an article is stored with all of its results or
// not at all, so a killed run resumes by skipping what is stored. Bounded queues between the stages
// keep memory bounded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace justnews {

struct AnalyzeOptions {
  std::string input_path = "-";   // "-" reads stdin
  std::string input_format;       // jsonl | csv | "" (by extension)
  std::string store_path;         // overrides store.sqlite_path when not empty
  std::string jsonl_output;       // also write one JSON object per article here ("-" = stdout)
  int commit_every = 64;          // articles per store transaction
  int chunk_articles = 64;        // articles read and tokenised together
  int max_in_flight_articles = 512;
  // Test hook: behave as if killed once this many articles were committed (0 = off): nothing
  // after that commit is written.
  int64_t stop_after_articles = 0;
};

struct AgentRunSummary {
  std::string name;
  std::string task;
  std::string backend;
  int64_t items = 0;
  int64_t batches = 0;
  int64_t tokens = 0;
  int64_t failed = 0;
  double busy_s = 0;              // engine time
  double mean_latency_s = 0;      // submit -> result
  double max_latency_s = 0;
  int64_t peak_memory_bytes = 0;
  int64_t budget_bytes = 0;
  int64_t pinned_peak_bytes = 0;    // CUDA: pinned host staging charged to the agent
  int64_t pinned_budget_bytes = 0;  // 0: no pinned-memory manager (CPU agents)
  // Loading (agents load in parallel, so these overlap; AnalyzeSummary::load_s is the wall time).
  double load_s = 0;              // Agent::load
  double model_s = 0;             // of which reading the model directory (weights are mapped)
  double encoder_s = 0;           // of which building the encoder (CUDA: fingerprint, plan, upload)
  double tokenizer_s = 0;         // parsing the tokenizer, beside model_s + encoder_s
  // CUDA through the engine cache, the parts of encoder_s: hashing the model's files, reading (or
  // building) the plan, creating the encoder from it (weights uploaded, kernels set up).
  double fingerprint_s = 0;
  double plan_s = 0;
  double upload_s = 0;
  std::string plan_origin;        // CUDA through the engine cache: built | loaded | rebuilt; else ""
  std::string plan_path;          // the engine cache file of the plan
  std::string plan_rebuild_reason;  // rebuilt: why the cached plan was not used
};

struct AnalyzeSummary {
  int64_t articles_read = 0;      // well-formed articles
  int64_t malformed = 0;          // lines reported and skipped
  int64_t duplicates = 0;         // same content hash or URL earlier in this input
  int64_t already_stored = 0;     // analysed by an earlier run (resumed)
  int64_t analyzed = 0;           // newly stored
  int64_t failed = 0;             // an agent failed on it: reported, not stored (a rerun retries)
  bool stopped_early = false;
  double wall_s = 0;
  // Busy time per stage, each on its own thread (so they overlap); engine time is per agent.
  double read_s = 0;              // reader thread: parse, hash, de-duplicate, store lookup
  double tokenize_s = 0;          // caller thread (with the pool)
  double wait_s = 0;              // caller thread blocked: engine queues or articles in flight full
  double postprocess_s = 0;       // writer thread: stories, topics, JSON
  double store_s = 0;             // writer thread: transactions and JSONL
  double load_s = 0;              // caller thread, before the others start: store, agents (in parallel)
  double load_store_s = 0;        // of which opening the store
  double load_device_s = 0;       // of which creating the GPU memory manager (the CUDA context)
  double load_agents_s = 0;       // of which loading the agents (in parallel)
  double teardown_s = 0;          // after wall_s: releasing the agents and their device memory
  std::vector<AgentRunSummary> agents;
};

struct AnalyzeProgress {
  int64_t articles_read = 0;
  int64_t articles_done = 0;      // stored, failed, duplicate or already stored
  double elapsed_s = 0;
  bool input_finished = false;
};

struct AnalyzeCallbacks {
  // A malformed line or a failed article, with its line number.
  std::function<void(const std::string& message)> on_warning;
  std::function<void(const AnalyzeProgress& progress)> on_progress;
};

// The agents used when the config lists none: all-MiniLM-L6-v2 embeddings with topics,
// near-duplicates and stories (works offline once tools/setup.sh installed the model).
std::vector<AgentConfig> default_agent_configs();

Result<AnalyzeSummary> run_analyze(const Config& config, const AnalyzeOptions& options,
                                   const AnalyzeCallbacks& callbacks = {});

}  // namespace justnews
