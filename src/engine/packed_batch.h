// PackedBatch: a batch of token sequences laid end to end with no padding. seq_offsets has
// num_sequences + 1 entries (like flash-attention's cu_seqlens): sequence s owns tokens
// [seq_offsets[s], seq_offsets[s + 1]).
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace justnews {

struct PackedBatch {
  std::vector<int32_t> token_ids;
  std::vector<int32_t> type_ids;     // same length as token_ids (zeros when the model has none)
  std::vector<int32_t> seq_offsets;  // starts at 0, non-decreasing, ends at token_ids.size()

  int64_t num_sequences() const {
    return seq_offsets.empty() ? 0 : static_cast<int64_t>(seq_offsets.size()) - 1;
  }
  int64_t total_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  int64_t sequence_length(int64_t seq_idx) const {
    return seq_offsets[seq_idx + 1] - seq_offsets[seq_idx];
  }
  int64_t max_sequence_length() const;

  // Appends one sequence (type ids may be empty: zeros are used).
  void append(const std::vector<int32_t>& ids, const std::vector<int32_t>& types = {});
  // Checks offsets, lengths and id ranges; errors name the sequence and the bad value.
  Status validate(int64_t vocab_size, int64_t type_vocab_size, int64_t max_sequence_length) const;
};

}  // namespace justnews
