// Embedding gather + LayerNorm, one sequence per task (position ids are per sequence).
#include "engine/cpu/embeddings_cpu.h"

#include "engine/cpu/ops_cpu.h"

namespace justnews {
namespace {

void embed_sequence(const PackedBatch& batch, int64_t seq_idx, const EmbeddingTables& tables,
                    const PositionScheme& positions, float* output) {
  const int64_t hidden = tables.hidden;
  const int64_t token_begin = batch.seq_offsets[seq_idx];
  const int64_t token_end = batch.seq_offsets[seq_idx + 1];
  int64_t next_position = positions.offset;
  for (int64_t token_idx = token_begin; token_idx < token_end; ++token_idx) {
    const int64_t token_id = batch.token_ids[token_idx];
    int64_t position_id = next_position++;
    if (positions.skip_pad_tokens && token_id == positions.pad_token_id) {
      position_id = positions.pad_token_id;
      --next_position;
    }
    const float* word_row = tables.word + token_id * hidden;
    const float* position_row = tables.position + position_id * hidden;
    float* out_row = output + token_idx * hidden;
    if (tables.token_type) {
      const float* type_row = tables.token_type + batch.type_ids[token_idx] * hidden;
      for (int64_t i = 0; i < hidden; ++i) out_row[i] = word_row[i] + position_row[i] + type_row[i];
    } else {
      for (int64_t i = 0; i < hidden; ++i) out_row[i] = word_row[i] + position_row[i];
    }
  }
  layer_norm_cpu(output + token_begin * hidden, token_end - token_begin, hidden, tables.norm_gamma,
                 tables.norm_beta, tables.norm_eps, nullptr);
}

}  // namespace

void embed_tokens_cpu(const PackedBatch& batch, const EmbeddingTables& tables,
                      const PositionScheme& positions, float* output, ThreadPool* pool) {
  const int64_t num_sequences = batch.num_sequences();
  if (!pool) {
    for (int64_t seq_idx = 0; seq_idx < num_sequences; ++seq_idx)
      embed_sequence(batch, seq_idx, tables, positions, output);
    return;
  }
  pool->parallel_for(static_cast<size_t>(num_sequences), 1, [&](size_t begin, size_t end) {
    for (size_t seq_idx = begin; seq_idx < end; ++seq_idx)
      embed_sequence(batch, static_cast<int64_t>(seq_idx), tables, positions, output);
  });
}

}  // namespace justnews
