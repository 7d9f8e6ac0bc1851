// Byte-pair encoding: merges ranked pairs of symbols (HF's algorithm: lowest rank first, then
// leftmost), over bytes when the pre-tokeniser is ByteLevel, over characters otherwise. Results
// for recent words are cached per thread.
#pragma once

#include <array>
#include <optional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/model.h"
#include "tokenizer/string_id_map.h"

namespace justnews::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_level = false;  // symbols are bytes, looked up by their byte-level characters
  size_t cache_capacity = 10000;
};

class Bpe final : public Model {
 public:
  // `vocab[id]` is the token string of id `id`; `merges` are (left, right) token strings in rank order.
  static Result<std::unique_ptr<Bpe>> create(std::vector<std::string> vocab,
                                             const std::vector<std::pair<std::string, std::string>>& merges,
                                             const BpeOptions& options);

  Status tokenize(std::string_view piece, bool prefix_space, std::vector<ModelToken>& out) const override;
  int32_t token_to_id(std::string_view token) const override { return vocab_.find(token); }
  std::string id_to_token(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_token_.size()); }

 private:
  Bpe() = default;
  void merge_word(std::string_view word, bool prefix_space, std::vector<ModelToken>& out) const;
  // Appends the initial symbol(s) for bytes [start, end) of the word.
  void initial_symbols(std::string_view word, bool prefix_space, std::vector<ModelToken>& symbols) const;

  struct Merge {
    int32_t rank;
    int32_t new_id;
  };

  BpeOptions options_;
  std::vector<std::string> id_to_token_;
  StringIdMap vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};
  int32_t unk_id_ = -1;
  uint64_t instance_id_ = 0;
};

}  // namespace justnews::tokenizer
