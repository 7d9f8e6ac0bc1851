// WordPiece: greedy longest-match-first subword tokenisation (BERT), with HF's rules for
// max_input_chars_per_word and the unknown token.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/model.h"
#include "tokenizer/string_id_map.h"

namespace justnews::tokenizer {

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

class WordPiece final : public Model {
 public:
  // `vocab[id]` is the token string of id `id`.
  static Result<std::unique_ptr<WordPiece>> create(std::vector<std::string> vocab, const WordPieceOptions& options);

  Status tokenize(std::string_view piece, bool prefix_space, std::vector<ModelToken>& out) const override;
  int32_t token_to_id(std::string_view token) const override { return vocab_.find(token); }
  std::string id_to_token(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_token_.size()); }

 private:
  WordPiece() = default;

  WordPieceOptions options_;
  std::vector<std::string> id_to_token_;
  StringIdMap vocab_;
  // Tokens that start with the continuing prefix, keyed without it: lookups need no copy.
  StringIdMap continuations_;
  int32_t unk_id_ = -1;
};

}  // namespace justnews::tokenizer
