// EncoderConfig: what the engine needs to know about a Hugging Face encoder, parsed from
// config.json (BERT, RoBERTa, DistilBERT; MiniLM is BERT) plus the sentence-transformers files
// (modules.json, 1_Pooling/config.json) when present.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

enum class Architecture { kBert, kRoberta, kDistilBert };
enum class Activation { kGeluErf, kGeluTanh, kRelu };
// What the checkpoint's top is, from config.json "architectures".
enum class HeadKind { kNone, kSequenceClassification, kTokenClassification };
enum class ProblemType { kSingleLabel, kMultiLabel, kRegression };
enum class PoolingMode { kCls, kMean, kMax };

const char* architecture_name(Architecture architecture);

struct PoolingConfig {
  bool present = false;          // a sentence-transformers pooling module exists
  PoolingMode mode = PoolingMode::kMean;
  bool normalize = false;        // a Normalize module follows pooling (L2)
};

struct EncoderConfig {
  Architecture architecture = Architecture::kBert;
  HeadKind head = HeadKind::kNone;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 0;          // 0 for DistilBERT (no token-type embeddings)
  float layer_norm_eps = 1e-12f;
  Activation activation = Activation::kGeluErf;
  int64_t pad_token_id = 0;
  // First position id: 0 for BERT/DistilBERT, pad_token_id + 1 for RoBERTa.
  int64_t position_offset = 0;
  std::vector<std::string> id2label;    // index = label id; size = number of labels
  ProblemType problem_type = ProblemType::kSingleLabel;
  PoolingConfig pooling;

  int64_t head_dim() const { return num_heads ? hidden_size / num_heads : 0; }
  int64_t num_labels() const { return static_cast<int64_t>(id2label.size()); }
  // The longest sequence the position table can hold.
  int64_t max_sequence_length() const { return max_position_embeddings - position_offset; }
};

// Parses config.json text; `source` names the file in errors.
Result<EncoderConfig> parse_encoder_config(const std::string& json_text, const std::string& source);

}  // namespace justnews
