// Agent: one configured model and what it computes (classify, multilabel, embed, token-classify):
// its tokenizer, its encoder on the chosen backend, and its memory budget. On CUDA the encoder's
// weights and its workspace (sized for the agent's largest batch) are leases from the agent's
// budget, so a load over budget is refused with the agent, the request and the limit before any
// cudaMalloc, and the budget counts what the device really holds; batches over the largest size
// are split. On the CPU the weights' estimate is reserved before the encoder is built, and every
// batch reserves its activation estimate and is split when it would not fit. load() reports what
// each step cost and, for CUDA, whether the engine plan was built or read from the engine cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/encoder.h"
#include "memory/memory_manager.h"
#include "model/model_dir.h"
#include "runtime/agent_output.h"
#include "runtime/backend.h"
#include "runtime/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace justnews {

enum class AgentTask { kClassify, kMultiLabel, kEmbed, kTokenClassify };

Result<AgentTask> parse_agent_task(const std::string& name);
const char* agent_task_name(AgentTask task);

// Bytes of activations a forward pass of this shape needs (an upper estimate for budgets).
int64_t estimate_batch_bytes(const EncoderConfig& config, int64_t total_tokens, int64_t max_sequence_tokens);

// What loading one agent cost. The tokenizer is parsed on its own thread while the model and the
// encoder load, so tokenizer_s overlaps model_s + encoder_s.
struct AgentLoadReport {
  double load_s = 0;       // all of Agent::load
  double model_s = 0;      // config.json and the mapped weights of the model directory
  double tokenizer_s = 0;  // the tokenizer files parsed
  double encoder_s = 0;    // the encoder on its backend (CUDA: fingerprint + plan + upload)
  EncoderLoadInfo encoder;
};

class Agent {
 public:
  // Registers the agent with `memory` (its budget: config.memory_budget_bytes, else
  // memory_config.agent_budget_bytes) and charges the weights (CUDA: and the workspace). A CUDA
  // agent given `pinned_memory` also registers there (memory_config.agent_pinned_budget_bytes) and
  // charges its encoder's pinned staging; a load over that budget is refused. `pool`, `memory` and
  // `pinned_memory` must outlive the agent.
  static Result<std::unique_ptr<Agent>> load(const AgentConfig& config, const EngineConfig& engine,
                                             const MemoryConfig& memory_config, MemoryManager* memory,
                                             ThreadPool* pool, MemoryManager* pinned_memory = nullptr);
  // Returns the agent's memory to the manager.
  ~Agent();

  const std::string& name() const { return config_.name; }
  const AgentConfig& config() const { return config_; }
  AgentTask task() const { return task_; }
  const EncoderConfig& model_config() const { return model_.config; }
  const std::vector<std::string>& labels() const { return model_.config.id2label; }
  std::string backend_name() const { return encoder_->backend_name(); }
  const Encoder& encoder() const { return *encoder_; }
  int max_tokens() const { return max_tokens_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }

  // Tokenises (with the agent's truncation) into a work item for the scheduler.
  Result<WorkItem> tokenize(uint64_t key, const std::string& text) const;
  // Runs one batch: one result per item, in order. Used as the scheduler's batch function.
  std::vector<Result<AgentOutput>> run_batch(const std::vector<const WorkItem*>& items);

  AgentMemoryUsage memory_usage() const;
  // Pinned host memory charged to the agent (its CUDA staging); empty usage without a manager.
  AgentMemoryUsage pinned_memory_usage() const;
  const AgentLoadReport& load_report() const { return load_report_; }

 private:
  Agent() = default;
  void run_range(const std::vector<const WorkItem*>& items, size_t begin, size_t end,
                   std::vector<Result<AgentOutput>>* results);
  void forward_range(const std::vector<const WorkItem*>& items, size_t begin, size_t end,
                       std::vector<Result<AgentOutput>>* results);

  AgentConfig config_;
  AgentTask task_ = AgentTask::kEmbed;
  LoadedModel model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<Encoder> encoder_;
  MemoryManager* memory_ = nullptr;
  MemoryLease weights_lease_;   // CPU: the weights' estimate (CUDA encoders hold their own leases)
  MemoryManager* pinned_memory_ = nullptr;
  MemoryLease pinned_lease_;    // CUDA: the encoder's pinned staging (accounting; the encoder holds it)
  bool encoder_leases_memory_ = false;
  int max_tokens_ = 512;
  AgentLoadReport load_report_;
};

}  // namespace justnews
