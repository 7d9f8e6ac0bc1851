// Sentence embeddings from a packed last hidden state: CLS, mean or max over each sequence's
// tokens (sentence-transformers Pooling), optionally L2-normalised (its Normalize module).
#pragma once

#include <cstdint>

#include "model/encoder_config.h"

namespace justnews {

// hidden [total_tokens, width] -> output [num_sequences, width]. Sequences must be non-empty.
void pool_sequences_cpu(const float* hidden, const int32_t* seq_offsets, int64_t num_sequences,
                        int64_t width, PoolingMode mode, float* output);

// In place over [rows, width]: row / max(‖row‖₂, 1e-12), like torch.nn.functional.normalize.
void l2_normalize_rows_cpu(float* values, int64_t rows, int64_t width);

}  // namespace justnews
