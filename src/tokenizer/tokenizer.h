// Tokenizer: Hugging Face compatible text → token ids (WordPiece and byte-level BPE models),
// producing the same ids, type ids and character offsets as the Python `tokenizers` library.
//
// Input must be valid UTF-8: invalid bytes are refused with an InvalidArgument naming the byte
// offset (HF Python only ever sees valid str, so there is nothing to be compatible with).
// Padding is never applied (the engine packs sequences); truncation defaults to the
// tokenizer.json setting, or 512 tokens when it has none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "tokenizer/encoding.h"

namespace justnews::tokenizer {

struct TokenizerPipeline;

class Tokenizer {
 public:
  static Result<Tokenizer> from_file(const std::string& tokenizer_json_path);
  // Parses tokenizer.json contents held in memory; `source` names it in error messages.
  static Result<Tokenizer> from_json(std::string_view json_text, const std::string& source = "tokenizer.json");
  // A model directory: tokenizer.json if present, else vocab.txt (BERT) or vocab.json + merges.txt.
  static Result<Tokenizer> from_model_dir(const std::string& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  Result<Encoding> encode(std::string_view text, bool add_special_tokens = true) const;
  Result<Encoding> encode_pair(std::string_view first, std::string_view second, bool add_special_tokens = true) const;
  // Encodes every text on `pool`; results are in input order.
  std::vector<Result<Encoding>> encode_batch(const std::vector<std::string>& texts, ThreadPool& pool,
                                             bool add_special_tokens = true) const;

  // Maximum tokens per encoding including special tokens; 0 disables truncation.
  void set_truncation(int max_length);
  std::optional<int> truncation() const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token string ("" for an unknown id); added tokens included.
  std::string id_to_token(int32_t id) const;
  int64_t vocab_size() const;

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerPipeline> pipeline);
  Status encode_sequence(std::string_view text, Encoding& out) const;
  Result<Encoding> finish(Encoding first, Encoding* second, bool add_special_tokens) const;
  void build_trim_table();

  std::unique_ptr<TokenizerPipeline> pipeline_;
  std::vector<std::pair<uint8_t, uint8_t>> trim_spaces_;  // per id: leading/trailing space chars
  int32_t max_added_id_ = -1;
};

}  // namespace justnews::tokenizer
