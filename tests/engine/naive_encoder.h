// Test support: random encoder weights and an independent, deliberately naive double-precision
// forward pass (plain loops, padded per-sequence, no BLAS) that the CPU engine is checked against.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/packed_batch.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"

namespace justnews::testing {

// A small config of the given architecture (hidden 32, 4 heads, 2 layers, ffn 48, vocab 50).
EncoderConfig tiny_config(Architecture architecture);

// Random float32 weights shaped for `config` (head tensors only when config.head != kNone).
EncoderWeights random_weights(const EncoderConfig& config, uint32_t seed);

// A float32 tensor of the given shape filled from N(mean, stddev).
Tensor random_tensor(const Shape& shape, uint32_t seed, float mean = 0.0f, float stddev = 0.1f);

struct NaiveOutputs {
  std::vector<double> hidden_states;  // [total_tokens, hidden]
  std::vector<double> logits;         // [num_sequences or total_tokens, labels]; empty: no head
  std::vector<double> embeddings;     // [num_sequences, hidden]
};

NaiveOutputs naive_forward(const EncoderConfig& config, const EncoderWeights& weights,
                           const PackedBatch& batch);

// A batch of random sequences with the given lengths (first token 0 like [CLS]).
PackedBatch random_batch(const EncoderConfig& config, const std::vector<int>& lengths,
                         uint32_t seed);

// max |a - b| over two equally long arrays.
double max_abs_diff(const float* actual, const std::vector<double>& expected);

}  // namespace justnews::testing
