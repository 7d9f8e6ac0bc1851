// Agent loading, batch execution with budget-driven splitting, and output extraction.
#include "runtime/agent.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>

namespace justnews {

Result<AgentTask> parse_agent_task(const std::string& name) {
  if (name == "classify") return AgentTask::kClassify;
  if (name == "multilabel") return AgentTask::kMultiLabel;
  if (name == "embed") return AgentTask::kEmbed;
  if (name == "token-classify") return AgentTask::kTokenClassify;
  return invalid_argument("agent task must be classify, multilabel, embed or token-classify, got '" + name + "'");
}

const char* agent_task_name(AgentTask task) {
  switch (task) {
    case AgentTask::kClassify: return "classify";
    case AgentTask::kMultiLabel: return "multilabel";
    case AgentTask::kEmbed: return "embed";
    case AgentTask::kTokenClassify: return "token-classify";
  }
  return "?";
}

int64_t estimate_batch_bytes(const EncoderConfig& config, int64_t total_tokens, int64_t max_sequence_tokens) {
  // Per token: the hidden state, fused QKV (3h), attention context, two residual/norm buffers and
  // the FFN intermediate; per sequence: one heads x len x len score matrix at a time.
  const int64_t per_token = 8 * config.hidden_size + config.intermediate_size + config.num_labels();
  const int64_t scores = config.num_heads * max_sequence_tokens * max_sequence_tokens;
  return static_cast<int64_t>(sizeof(float)) * (total_tokens * per_token + scores);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::load(const AgentConfig& config, const EngineConfig& engine,
                                           const MemoryConfig& memory_config, MemoryManager* memory,
                                           ThreadPool* pool, MemoryManager* pinned_memory) {
  const auto load_start = std::chrono::steady_clock::now();
  const std::string where = "agent '" + config.name + "'";
  std::unique_ptr<Agent> agent(new Agent());
  agent->config_ = config;
  auto task = parse_agent_task(config.task);
  if (!task.ok()) return task.status().with_context(where);
  agent->task_ = *task;
  // The tokenizer needs nothing from the model: parse it while the weights are mapped and the
  // encoder is built (where no thread can be started, libstdc++ defers it to get()). The future's
  // destructor waits for it on every return path.
  std::future<Result<tokenizer::Tokenizer>> tokenizer_future =
      std::async(std::launch::async | std::launch::deferred, [&config, report = &agent->load_report_]() {
        const auto start = std::chrono::steady_clock::now();
        auto tokenizer = tokenizer::Tokenizer::from_model_dir(config.model_dir);
        report->tokenizer_s = seconds_since(start);
        return tokenizer;
      });

  auto step_start = std::chrono::steady_clock::now();
  auto model = load_model_dir(config.model_dir);
  if (!model.ok()) return model.status().with_context(where);
  agent->model_ = std::move(model).value();
  agent->load_report_.model_s = seconds_since(step_start);
  const EncoderConfig& model_config = agent->model_.config;
  const bool wants_sequence_head = agent->task_ == AgentTask::kClassify || agent->task_ == AgentTask::kMultiLabel;
  if (wants_sequence_head && model_config.head != HeadKind::kSequenceClassification) {
    return invalid_argument(where + ": task " + config.task + " needs a sequence-classification checkpoint, but " +
                            config.model_dir + " has none");
  }
  if (agent->task_ == AgentTask::kTokenClassify && model_config.head != HeadKind::kTokenClassification) {
    return invalid_argument(where + ": task token-classify needs a token-classification checkpoint, but " +
                            config.model_dir + " has none");
  }
  // load_model_dir already applied sentence-transformers' max_seq_length (the length such models
  // were trained for); the engine takes at most 512.
  const int model_limit = static_cast<int>(std::min<int64_t>(agent->model_.max_sequence_length, 512));
  agent->max_tokens_ = config.truncation_length > 0 ? std::min(config.truncation_length, model_limit) : model_limit;

  JN_ASSIGN_OR_RETURN(const std::string backend, resolve_backend(config, engine));
  const int64_t budget = config.memory_budget_bytes > 0 ? config.memory_budget_bytes : memory_config.agent_budget_bytes;
  JN_RETURN_IF_ERROR(memory->register_agent(config.name, budget));
  agent->memory_ = memory;  // from here on, the destructor unregisters the agent
  agent->encoder_leases_memory_ = backend_leases_memory(backend);
  if (!agent->encoder_leases_memory_) {
    JN_ASSIGN_OR_RETURN(agent->weights_lease_,
                        memory->reserve(config.name, estimate_weight_bytes(agent->model_),
                                        "loading model weights (" + config.model_dir + ")"));
  }
  step_start = std::chrono::steady_clock::now();
  JN_ASSIGN_OR_RETURN(BuiltEncoder built, make_encoder(agent->model_, backend, config, engine, pool, memory));
  agent->encoder_ = std::move(built.encoder);
  agent->load_report_.encoder = std::move(built.info);
  agent->load_report_.encoder_s = seconds_since(step_start);
  if (pinned_memory && backend == "cuda") {
    JN_RETURN_IF_ERROR(pinned_memory->register_agent(config.name, memory_config.agent_pinned_budget_bytes));
    agent->pinned_memory_ = pinned_memory;
    JN_ASSIGN_OR_RETURN(agent->pinned_lease_,
                        pinned_memory->reserve(config.name, encoder_pinned_bytes(*agent->encoder_),
                                               "pinned staging of the encoder (" + config.model_dir + ")"));
  }

  auto tokenizer = tokenizer_future.get();
  if (!tokenizer.ok()) return tokenizer.status().with_context(where);
  agent->tokenizer_ = std::make_unique<tokenizer::Tokenizer>(std::move(tokenizer).value());
  agent->tokenizer_->set_truncation(agent->max_tokens_);
  agent->load_report_.load_s = seconds_since(load_start);
  return agent;
}

Agent::~Agent() {
  // The encoder goes first: its leases must not outlive the agent's registration.
  encoder_.reset();
  weights_lease_.release();
  pinned_lease_.release();
  if (memory_) (void)memory_->unload_agent(config_.name);
  if (pinned_memory_) (void)pinned_memory_->unload_agent(config_.name);
}

AgentMemoryUsage Agent::memory_usage() const {
  auto usage = memory_->usage(config_.name);
  return usage.ok() ? *usage : AgentMemoryUsage{config_.name};
}

AgentMemoryUsage Agent::pinned_memory_usage() const {
  if (!pinned_memory_) return AgentMemoryUsage{config_.name};
  auto usage = pinned_memory_->usage(config_.name);
  return usage.ok() ? *usage : AgentMemoryUsage{config_.name};
}

Result<WorkItem> Agent::tokenize(uint64_t key, const std::string& text) const {
  auto encoding = tokenizer_->encode(text);
  if (!encoding.ok()) return encoding.status().with_context("agent '" + config_.name + "'");
  WorkItem item;
  item.key = key;
  item.token_ids = std::move(encoding->ids);
  item.type_ids = std::move(encoding->type_ids);
  if (task_ == AgentTask::kTokenClassify) item.offsets = std::move(encoding->offsets);
  return item;
}

std::vector<Result<AgentOutput>> Agent::run_batch(const std::vector<const WorkItem*>& items) {
  std::vector<Result<AgentOutput>> results(
      items.size(), Result<AgentOutput>(internal_error("agent '" + config_.name + "': item was not run")));
  run_range(items, 0, items.size(), &results);
  return results;
}

void Agent::run_range(const std::vector<const WorkItem*>& items, size_t begin, size_t end,
                        std::vector<Result<AgentOutput>>* results) {
  int64_t tokens = 0;
  int64_t longest = 0;
  for (size_t item_idx = begin; item_idx < end; ++item_idx) {
    tokens += items[item_idx]->num_tokens();
    longest = std::max(longest, items[item_idx]->num_tokens());
  }
  const size_t middle = begin + (end - begin) / 2;
  if (encoder_leases_memory_) {
    // The encoder's workspace holds the agent's largest batch: split bigger ones, reserve nothing.
    const bool too_big = static_cast<int64_t>(end - begin) > config_.max_batch_items ||
                         tokens > config_.max_batch_tokens;
    if (too_big && end - begin > 1) {
      run_range(items, begin, middle, results);
      run_range(items, middle, end, results);
      return;
    }
    forward_range(items, begin, end, results);
    return;
  }
  auto lease = memory_->reserve(config_.name, estimate_batch_bytes(model_.config, tokens, longest),
                                fmt::format("a batch of {} item(s), {} tokens", end - begin, tokens));
  if (!lease.ok()) {
    if (lease.status().code() != StatusCode::kResourceExhausted || end - begin == 1) {
      for (size_t item_idx = begin; item_idx < end; ++item_idx) (*results)[item_idx] = lease.status();
      return;
    }
    // Split until the halves fit the budget.
    run_range(items, begin, middle, results);
    run_range(items, middle, end, results);
    return;
  }
  forward_range(items, begin, end, results);
}

void Agent::forward_range(const std::vector<const WorkItem*>& items, size_t begin, size_t end,
                            std::vector<Result<AgentOutput>>* results) {
  PackedBatch batch;
  for (size_t item_idx = begin; item_idx < end; ++item_idx) {
    batch.append(items[item_idx]->token_ids, items[item_idx]->type_ids);
  }
  ForwardRequest request;
  request.embeddings = task_ == AgentTask::kEmbed;
  request.logits = !request.embeddings;
  auto forward = encoder_->forward(batch, request);
  if (!forward.ok()) {
    const Status error = forward.status().with_context("agent '" + config_.name + "'");
    for (size_t item_idx = begin; item_idx < end; ++item_idx) (*results)[item_idx] = error;
    return;
  }

  if (task_ == AgentTask::kEmbed) {
    const Tensor& embeddings = forward->embeddings;
    const int64_t dim = embeddings.dim(1);
    for (size_t row = 0; row < end - begin; ++row) {
      const float* values = embeddings.data_as<float>() + static_cast<int64_t>(row) * dim;
      AgentOutput output;
      output.values.assign(values, values + dim);
      double norm = 0;
      for (float value : output.values) norm += double(value) * value;
      norm = std::sqrt(norm);
      if (norm > 0) {
        for (float& value : output.values) value = static_cast<float>(value / norm);
      }
      (*results)[begin + row] = std::move(output);
    }
    return;
  }

  const ProblemType problem = task_ == AgentTask::kMultiLabel ? ProblemType::kMultiLabel : ProblemType::kSingleLabel;
  const Tensor probabilities_tensor = probabilities(forward->logits, problem);
  const int64_t num_labels = probabilities_tensor.dim(1);
  const float* probs = probabilities_tensor.data_as<float>();
  if (task_ != AgentTask::kTokenClassify) {
    for (size_t row = 0; row < end - begin; ++row) {
      AgentOutput output;
      output.values.assign(probs + static_cast<int64_t>(row) * num_labels,
                           probs + static_cast<int64_t>(row + 1) * num_labels);
      (*results)[begin + row] = std::move(output);
    }
    return;
  }
  // Token classification: the "outside" label is the one named O, else label 0.
  const auto& names = model_.config.id2label;
  const auto outside_it = std::find(names.begin(), names.end(), "O");
  const int32_t outside = outside_it == names.end() ? 0 : static_cast<int32_t>(outside_it - names.begin());
  for (size_t row = 0; row < end - begin; ++row) {
    const WorkItem& item = *items[begin + row];
    AgentOutput output;
    const int64_t first_token = batch.seq_offsets[row];
    for (int64_t token_idx = 0; token_idx < item.num_tokens(); ++token_idx) {
      const float* token_probs = probs + (first_token + token_idx) * num_labels;
      const int32_t best = static_cast<int32_t>(std::max_element(token_probs, token_probs + num_labels) - token_probs);
      const auto offset = token_idx < static_cast<int64_t>(item.offsets.size()) ? item.offsets[token_idx]
                                                                                : std::pair<int32_t, int32_t>{0, 0};
      if (best == outside || offset.first == offset.second) continue;  // outside, or a special token
      output.tokens.push_back({static_cast<int32_t>(token_idx), best, token_probs[best], offset.first, offset.second});
    }
    (*results)[begin + row] = std::move(output);
  }
}

}  // namespace justnews
