// Sequence pooling and L2 normalisation.
#include "engine/cpu/pooling_cpu.h"

#include <algorithm>
#include <cmath>

namespace justnews {
namespace {

constexpr double kNormalizeEps = 1e-12;

}  // namespace

void pool_sequences_cpu(const float* hidden, const int32_t* seq_offsets, int64_t num_sequences,
                        int64_t width, PoolingMode mode, float* output) {
  for (int64_t seq_idx = 0; seq_idx < num_sequences; ++seq_idx) {
    const int64_t token_begin = seq_offsets[seq_idx];
    const int64_t token_end = seq_offsets[seq_idx + 1];
    float* out_row = output + seq_idx * width;
    const float* first_row = hidden + token_begin * width;
    std::copy(first_row, first_row + width, out_row);
    if (mode == PoolingMode::kCls) continue;
    for (int64_t token_idx = token_begin + 1; token_idx < token_end; ++token_idx) {
      const float* row = hidden + token_idx * width;
      if (mode == PoolingMode::kMax)
        for (int64_t i = 0; i < width; ++i) out_row[i] = std::max(out_row[i], row[i]);
      else
        for (int64_t i = 0; i < width; ++i) out_row[i] += row[i];
    }
    if (mode == PoolingMode::kMean) {
      const float inv_count = 1.0f / static_cast<float>(token_end - token_begin);
      for (int64_t i = 0; i < width; ++i) out_row[i] *= inv_count;
    }
  }
}

void l2_normalize_rows_cpu(float* values, int64_t rows, int64_t width) {
  for (int64_t row_idx = 0; row_idx < rows; ++row_idx) {
    float* row = values + row_idx * width;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < width; ++i) sum_sq += static_cast<double>(row[i]) * row[i];
    const float inv_norm = static_cast<float>(1.0 / std::max(std::sqrt(sum_sq), kNormalizeEps));
    for (int64_t i = 0; i < width; ++i) row[i] *= inv_norm;
  }
}

}  // namespace justnews
