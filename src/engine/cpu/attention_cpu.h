// Multi-head self-attention over a packed batch on the CPU. Every sequence attends only to its
// own tokens, so no mask and no padding are needed: sequence s owns rows
// [seq_offsets[s], seq_offsets[s + 1]).
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace justnews {

struct AttentionShape {
  int64_t num_heads = 0;
  int64_t head_dim = 0;
  int64_t hidden() const { return num_heads * head_dim; }
};

// qkv: [total_tokens, 3·hidden], each row holding q | k | v, heads contiguous inside each.
// context: [total_tokens, hidden] = softmax(q·kᵀ / √head_dim) · v per (sequence, head).
// (sequence, head) pairs are handed out dynamically to the pool threads in `sequence_order`
// (see longest_first_order; null: batch order), so uneven lengths still keep every thread busy.
// Score scratch is per thread and reused across calls.
void attention_cpu(const float* qkv, const int32_t* seq_offsets, int64_t num_sequences,
                   const int32_t* sequence_order, AttentionShape shape, float* context,
                   ThreadPool* pool);

// Sequence indices sorted by decreasing length (attention cost grows with length²); computed
// once per batch and shared by all layers.
std::vector<int32_t> longest_first_order(const int32_t* seq_offsets, int64_t num_sequences);

}  // namespace justnews
