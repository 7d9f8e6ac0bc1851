// Model: the vocabulary stage that turns one pre-tokenised piece into token ids (WordPiece, BPE).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace justnews::tokenizer {

// One token of a piece: its id and its byte range in the piece as the model saw it (with the
// virtual prefix space, if any, at byte 0).
struct ModelToken {
  int32_t id;
  uint32_t start;
  uint32_t end;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of `piece` to `out`. `prefix_space` prepends a virtual ' ' (ByteLevel's
  // add_prefix_space); `byte_level` means the vocabulary holds byte-level encoded strings.
  virtual Status tokenize(std::string_view piece, bool prefix_space, std::vector<ModelToken>& out) const = 0;
  virtual int32_t token_to_id(std::string_view token) const = 0;  // -1 when absent
  virtual std::string id_to_token(int32_t id) const = 0;            // "" when out of range
  virtual int64_t vocab_size() const = 0;
};

}  // namespace justnews::tokenizer
