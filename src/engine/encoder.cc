// Backend-neutral encoder helpers: turning raw logits into probabilities.
#include "engine/encoder.h"

#include <algorithm>
#include <cmath>

namespace justnews {

Tensor probabilities(const Tensor& logits, ProblemType problem_type) {
  if (logits.empty()) return logits;
  Tensor values = logits.to_f32();
  // to_f32 returns the same storage for float32 input; the caller's logits must stay untouched.
  Tensor out = Tensor::zeros(DType::kF32, values.shape());
  const float* src = values.data_as<float>();
  float* dst = out.mutable_data_as<float>();
  const int64_t num_classes = values.rank() == 0 ? 1 : values.shape().back();
  const int64_t num_rows = num_classes == 0 ? 0 : values.numel() / num_classes;
  for (int64_t row_idx = 0; row_idx < num_rows; ++row_idx) {
    const float* row_in = src + row_idx * num_classes;
    float* row_out = dst + row_idx * num_classes;
    switch (problem_type) {
      case ProblemType::kSingleLabel: {
        // Subtracting the row maximum keeps exp() finite for large logits.
        const float row_max = *std::max_element(row_in, row_in + num_classes);
        double sum = 0.0;
        for (int64_t c = 0; c < num_classes; ++c) {
          row_out[c] = std::exp(row_in[c] - row_max);
          sum += row_out[c];
        }
        const float inv_sum = static_cast<float>(1.0 / sum);
        for (int64_t c = 0; c < num_classes; ++c) row_out[c] *= inv_sum;
        break;
      }
      case ProblemType::kMultiLabel:
        for (int64_t c = 0; c < num_classes; ++c) row_out[c] = 1.0f / (1.0f + std::exp(-row_in[c]));
        break;
      case ProblemType::kRegression:
        std::copy(row_in, row_in + num_classes, row_out);
        break;
    }
  }
  return out;
}

}  // namespace justnews
