// A Hugging Face model directory loaded for inference: config, weights by role, pooling, and the
// path of its tokenizer. Prefers model.safetensors, falls back to pytorch_model.bin.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"
#include "model/weight_file.h"

namespace justnews {

struct LoadedModel {
  std::string directory;
  EncoderConfig config;
  EncoderWeights weights;                   // views into `file` (kept alive by Tensor owners)
  std::string weights_path;                 // the file the weights came from
  std::string tokenizer_path;               // tokenizer.json, or empty when absent
  int64_t parameter_count = 0;
  // The longest input to feed the model: sentence-transformers' max_seq_length when configured,
  // else the position table's limit (config.max_sequence_length()).
  int64_t max_sequence_length = 0;
};

// Maps checkpoint names to roles for config.architecture (handles the "bert." / "roberta." /
// "distilbert." prefixes being present or absent) and checks every shape.
Result<EncoderWeights> bind_encoder_weights(const WeightFile& file, const EncoderConfig& config);

// Loads `directory`. `prefer` may name "safetensors" or "bin" to force one format.
Result<LoadedModel> load_model_dir(const std::string& directory, const std::string& prefer = "");

}  // namespace justnews
