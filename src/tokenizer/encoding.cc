// Encoding helpers (see encoding.h).
#include "tokenizer/encoding.h"

namespace justnews::tokenizer {

void Encoding::clear() {
  ids.clear();
  type_ids.clear();
  attention_mask.clear();
  special_tokens_mask.clear();
  offsets.clear();
}

void Encoding::reserve(size_t count) {
  ids.reserve(count);
  type_ids.reserve(count);
  attention_mask.reserve(count);
  special_tokens_mask.reserve(count);
  offsets.reserve(count);
}

void Encoding::push(int32_t id, int32_t type_id, std::pair<int32_t, int32_t> offset, bool special) {
  ids.push_back(id);
  type_ids.push_back(type_id);
  attention_mask.push_back(1);
  special_tokens_mask.push_back(special ? 1 : 0);
  offsets.push_back(offset);
}

void Encoding::truncate(size_t max_tokens, bool from_left) {
  if (ids.size() <= max_tokens) return;
  auto cut = [&](auto& values) {
    if (from_left) {
      values.erase(values.begin(), values.end() - static_cast<std::ptrdiff_t>(max_tokens));
    } else {
      values.resize(max_tokens);
    }
  };
  cut(ids);
  cut(type_ids);
  cut(attention_mask);
  cut(special_tokens_mask);
  cut(offsets);
}

}  // namespace justnews::tokenizer
