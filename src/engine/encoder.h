// Encoder: the one interface every backend (CPU, CUDA) implements. A forward pass takes a packed
// batch and returns what was asked for, all as float32 host tensors in packed layout.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "engine/packed_batch.h"
#include "model/encoder_config.h"
#include "tensor/tensor.h"

namespace justnews {

struct ForwardRequest {
  bool hidden_states = false;   // last hidden state, [total_tokens, hidden]
  bool logits = false;          // head output: [num_sequences, labels] or [total_tokens, labels]
  bool embeddings = false;      // pooled (and, if configured, L2-normalised) [num_sequences, hidden]
};

struct ForwardResult {
  Tensor hidden_states;
  Tensor logits;                // raw logits; see probabilities()
  Tensor embeddings;
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual const EncoderConfig& config() const = 0;
  virtual std::string backend_name() const = 0;
  // Validates the batch against the model (ids, lengths) before touching any kernel.
  virtual Result<ForwardResult> forward(const PackedBatch& batch, const ForwardRequest& request) = 0;
};

// Softmax (single-label) or sigmoid (multi-label) of logits row by row, per config.problem_type.
Tensor probabilities(const Tensor& logits, ProblemType problem_type);

}  // namespace justnews
