// PackedBatch helpers.
#include "engine/packed_batch.h"

#include <algorithm>
#include <string>

namespace justnews {

int64_t PackedBatch::max_sequence_length() const {
  int64_t longest = 0;
  for (int64_t s = 0; s < num_sequences(); ++s) longest = std::max(longest, sequence_length(s));
  return longest;
}

void PackedBatch::append(const std::vector<int32_t>& ids, const std::vector<int32_t>& types) {
  if (seq_offsets.empty()) seq_offsets.push_back(0);
  token_ids.insert(token_ids.end(), ids.begin(), ids.end());
  if (types.size() == ids.size()) type_ids.insert(type_ids.end(), types.begin(), types.end());
  else type_ids.insert(type_ids.end(), ids.size(), 0);
  seq_offsets.push_back(static_cast<int32_t>(token_ids.size()));
}

Status PackedBatch::validate(int64_t vocab_size, int64_t type_vocab_size,
                             int64_t max_sequence_length) const {
  if (seq_offsets.empty() || seq_offsets.front() != 0)
    return invalid_argument("packed batch: seq_offsets must start at 0");
  if (seq_offsets.back() != total_tokens())
    return invalid_argument("packed batch: seq_offsets ends at " + std::to_string(seq_offsets.back()) +
                            " but there are " + std::to_string(total_tokens()) + " tokens");
  if (type_ids.size() != token_ids.size())
    return invalid_argument("packed batch: type_ids has " + std::to_string(type_ids.size()) +
                            " entries, token_ids " + std::to_string(token_ids.size()));
  for (int64_t s = 0; s < num_sequences(); ++s) {
    const int64_t length = sequence_length(s);
    if (length <= 0)
      return invalid_argument("packed batch: sequence " + std::to_string(s) + " is empty");
    if (length > max_sequence_length)
      return out_of_range("packed batch: sequence " + std::to_string(s) + " has " +
                          std::to_string(length) + " tokens, the model allows at most " +
                          std::to_string(max_sequence_length));
  }
  for (size_t t = 0; t < token_ids.size(); ++t) {
    if (token_ids[t] < 0 || token_ids[t] >= vocab_size)
      return out_of_range("packed batch: token " + std::to_string(t) + " has id " +
                          std::to_string(token_ids[t]) + ", vocabulary size is " +
                          std::to_string(vocab_size));
    const int64_t type_limit = std::max<int64_t>(type_vocab_size, 1);
    if (type_ids[t] < 0 || type_ids[t] >= type_limit)
      return out_of_range("packed batch: token " + std::to_string(t) + " has type id " +
                          std::to_string(type_ids[t]) + ", the model has " +
                          std::to_string(type_limit) + " token types");
  }
  return ok_status();
}

}  // namespace justnews
