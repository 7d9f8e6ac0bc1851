// TokenizerPipeline: the stages a tokenizer.json (or a vocab file layout) describes, assembled by
// the loaders and run by Tokenizer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"

namespace justnews::tokenizer {

enum class TruncationStrategy { kLongestFirst, kOnlyFirst, kOnlySecond };

struct TruncationOptions {
  bool enabled = true;
  size_t max_length = 512;
  TruncationStrategy strategy = TruncationStrategy::kLongestFirst;
  bool from_left = false;  // HF "direction": "Left"
};

struct TokenizerPipeline {
  std::unique_ptr<Normalizer> normalizer;        // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;   // may be null
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;  // may be null
  std::unique_ptr<AddedVocabulary> added_vocabulary;
  TruncationOptions truncation;
};

// Parses the contents of a tokenizer.json; `source` names it in error messages.
Result<TokenizerPipeline> parse_tokenizer_json(std::string_view json_text, const std::string& source);
// BERT layout: vocab.txt (one token per line), lowercasing from tokenizer_config.json if present.
Result<TokenizerPipeline> load_wordpiece_vocab(const std::string& vocab_txt_path, bool lowercase);
// GPT-2 / RoBERTa layout: vocab.json + merges.txt, RoBERTa special tokens and post-processing.
Result<TokenizerPipeline> load_bpe_vocab(const std::string& vocab_json_path, const std::string& merges_txt_path);

}  // namespace justnews::tokenizer
