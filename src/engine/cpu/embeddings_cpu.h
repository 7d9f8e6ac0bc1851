// The embedding layer on the CPU: word + position (+ token type) embeddings, then LayerNorm, for
// every token of a packed batch.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "engine/packed_batch.h"

namespace justnews {

// How position ids are derived inside each sequence.
struct PositionScheme {
  int64_t offset = 0;  // id of a sequence's first token (RoBERTa: pad_token_id + 1)
  // RoBERTa numbers only non-pad tokens (HF create_position_ids_from_input_ids): a pad token gets
  // position pad_token_id and does not advance the count.
  bool skip_pad_tokens = false;
  int64_t pad_token_id = 0;
};

struct EmbeddingTables {
  const float* word = nullptr;        // [vocab, hidden]
  const float* position = nullptr;    // [max_positions, hidden]
  const float* token_type = nullptr;  // [type_vocab, hidden], or null (DistilBERT)
  const float* norm_gamma = nullptr;
  const float* norm_beta = nullptr;
  int64_t hidden = 0;
  float norm_eps = 1e-12f;
};

// output [total_tokens, hidden]. The batch must already be validated against the tables' sizes.
void embed_tokens_cpu(const PackedBatch& batch, const EmbeddingTables& tables,
                      const PositionScheme& positions, float* output, ThreadPool* pool);

}  // namespace justnews
