// Config: the one YAML file that configures every module. Every field has the default that
// DESIGN.md lists, so an empty (or absent) file is a valid configuration. Unknown keys are
// refused with their full path, so a typo never silently falls back to a default.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

struct EngineConfig {
  std::string backend = "auto";              // auto | cpu | cuda
  int num_threads = 0;                       // CPU threads; 0 = all hardware threads
  int max_batch_items = 32;                  // DESIGN: batch 16-32 items
  int peak_batch_items = 100;                // DESIGN: peak 100
  int max_batch_tokens = 16384;
  int64_t cuda_workspace_bytes = 1LL << 30;  // 1 GB CUDA workspace
  // CUDA agents open their encoders through the engine cache (a compiled plan per model, device
  // and precision), so a restart loads the converted weights instead of converting them again.
  bool plan_cache = true;
  std::string engine_cache_dir;              // "" = the CLI's default (default_engine_cache_dir())
  // CUDA: time cuBLASLt's candidate algorithms per GEMM shape and keep the fastest. false takes
  // cuBLASLt's first choice, the same on every run, so outputs repeat bit for bit across restarts.
  bool cuda_autotune_gemms = true;
};

struct MemoryConfig {
  int64_t agent_budget_bytes = 6LL << 30;    // per-agent GPU budget 6 GB
  int64_t agent_pinned_budget_bytes = 1LL << 30;  // per-agent pinned host memory (CUDA staging) 1 GB
  double safety_margin = 0.15;               // 15% of device memory held back
  int64_t pool_bytes = 1LL << 30;            // pool 1 GB ...
  int64_t pool_block_bytes = 64LL << 20;     // ... in 64 MB blocks
};

struct PostgresConfig {
  std::string dsn;
  int pool_min = 2;
  int pool_max = 10;
  int connect_timeout_ms = 3000;
  int statement_timeout_ms = 30000;
  int query_cache_ttl_s = 3600;
};

struct StoreConfig {
  std::string backend = "sqlite";            // sqlite | postgres
  std::string sqlite_path = "justnews.db";
  PostgresConfig postgres;
};

struct CacheTierConfig {
  int64_t max_items = 0;
  int ttl_s = 0;
};

struct CacheConfig {
  CacheTierConfig l1{1000, 300};
  CacheTierConfig l2{10000, 3600};
  CacheTierConfig l3{100000, 86400};
  std::string redis_url = "redis://127.0.0.1:6379";
};

struct TrainConfig {
  double ewc_lambda = 0.1;
  double learning_rate = 1e-5;
  int batch_size = 4;
  int epochs = 1;
  int warmup_steps = 10;
  double rollback_accuracy_drop_points = 5.0;
};

struct AlertConfig {
  double cpu_fraction = 0.90;
  double memory_fraction = 0.85;
  double gpu_memory_fraction = 0.90;
  double disk_fraction = 0.90;
};

struct AutoscaleConfig {
  double scale_up_utilization = 0.80;
  int scale_up_queue_depth = 100;
  double scale_down_utilization = 0.30;
  int scale_down_queue_depth = 10;
  int cooldown_s = 300;
};

// The input fields `justnews analyze` reads (JSONL keys or CSV header names).
struct InputConfig {
  std::string id_field = "id";
  std::string title_field = "title";
  std::string body_field = "body";
  std::string url_field = "url";
  std::string published_field = "published";
};

// One analysis agent: a model directory and what to compute with it. Listed under `agents:`.
struct AgentConfig {
  std::string name;
  std::string model_dir;
  std::string task = "embed";               // classify | multilabel | embed | token-classify
  std::string precision = "fp32";           // fp32 | fp16 | bf16 (the CPU backend computes fp32)
  std::string device = "auto";              // auto | cpu | cuda; auto follows engine.backend
  int64_t memory_budget_bytes = 0;          // 0 = memory.agent_budget_bytes
  int max_batch_items = 32;
  int max_batch_tokens = 16384;
  int max_wait_ms = 5;                      // a partial batch waits at most this long
  int truncation_length = 0;                // tokens; 0 = the model's limit
  int queue_capacity = 1024;                // items; beyond it submissions are refused (overloaded)
  // embed only: zero-shot topics (label -> description), near-duplicate and story thresholds
  // (cosine similarity). No topics means the built-in news topics.
  std::map<std::string, std::string> topics;
  double near_duplicate_threshold = 0.95;
  double story_threshold = 0.65;
};

struct Config {
  EngineConfig engine;
  MemoryConfig memory;
  StoreConfig store;
  CacheConfig cache;
  TrainConfig train;
  AlertConfig alerts;
  AutoscaleConfig autoscale;
  InputConfig input;
  std::vector<AgentConfig> agents;          // empty = the built-in offline MiniLM agents
};

// Parses YAML text; `source_name` names the file in error messages.
Result<Config> parse_config(const std::string& yaml_text, const std::string& source_name);
// Reads and parses a file. A missing file is an error (callers decide whether one is optional).
Result<Config> load_config_file(const std::string& path);
// Writes the full configuration (all defaults spelled out) as YAML.
std::string config_to_yaml(const Config& config);

}  // namespace justnews
