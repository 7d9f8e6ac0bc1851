// Encoding: the output of the tokenizer for one text or pair, in Hugging Face's layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace justnews::tokenizer {

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<int32_t> attention_mask;
  std::vector<int32_t> special_tokens_mask;
  // Character (Unicode code point) offsets [start, end) into the text the token came from, as HF
  // Python reports them; special tokens added by post-processing have (0, 0).
  std::vector<std::pair<int32_t, int32_t>> offsets;

  size_t size() const { return ids.size(); }
  void clear();
  void reserve(size_t count);
  void push(int32_t id, int32_t type_id, std::pair<int32_t, int32_t> offset, bool special);
  // Keeps `max_tokens` tokens from the front (or from the back when `from_left`).
  void truncate(size_t max_tokens, bool from_left);
};

}  // namespace justnews::tokenizer
