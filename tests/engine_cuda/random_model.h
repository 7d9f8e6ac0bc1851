// Random-weight encoders of a chosen shape (BERT-base, MiniLM, tiny test models) for the CUDA
// tests and benchmarks: real float32 tensors with values on the scale of trained checkpoints, so
// that LayerNorm, softmax and GELU see realistic inputs.
#pragma once

#include <cstdint>
#include <random>

#include "core/status.h"
#include "engine/packed_batch.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"
#include "quant/activation_stats.h"

namespace justnews::testing {

struct RandomModelShape {
  int64_t vocab_size = 1000;
  int64_t hidden_size = 64;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t intermediate_size = 256;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  Activation activation = Activation::kGeluErf;
  HeadKind head = HeadKind::kNone;
  int64_t num_labels = 0;
  HeadActivation head_pre_activation = HeadActivation::kTanh;  // kNone: no pre-projection
  PoolingConfig pooling;
};

struct RandomModel {
  EncoderConfig config;
  EncoderWeights weights;
};

RandomModel make_random_model(const RandomModelShape& shape, uint32_t seed);

// A packed batch of `lengths.size()` sequences of random ids (and random type ids when the model
// has two or more token types).
PackedBatch make_random_batch(const EncoderConfig& config, const std::vector<int64_t>& lengths,
                              uint32_t seed);

// Per-tensor activation scales for a random model, as `justnews compile --calibrate` computes them
// from texts: the CPU FP32 encoder's layer inputs on four random batches, 99.9th percentile; with
// `gram`, the layer inputs' Gram matrices too (GPTQ's statistics).
Result<ActivationCalibration> calibrate_random_model(const RandomModel& model, bool gram = false);

}  // namespace justnews::testing
