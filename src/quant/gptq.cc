// GPTQ's column sweep over a row-major weight.
#include "quant/gptq.h"

#include <algorithm>

#include "quant/gptq_hessian.h"

namespace justnews {

Status gptq_sweep(std::vector<float>& weights, int64_t rows, int64_t columns, const float* gram,
                  float damping, const std::string& format, const std::string& name,
                  const GptqRound& round, bool act_order) {
  const std::string what = format + " gptq quantisation of " + name;
  if (!gram) return invalid_argument(what + ": no calibration statistics");
  if (rows <= 0 || columns <= 0 || static_cast<int64_t>(weights.size()) != rows * columns)
    return invalid_argument(what + ": shape [" + std::to_string(rows) + ", " +
                            std::to_string(columns) + "] does not match " +
                            std::to_string(weights.size()) + " weights");
  const int64_t n = columns;
  std::vector<double> hessian(static_cast<size_t>(n * n));
  double mean_diagonal = 0.0;
  for (int64_t idx = 0; idx < n * n; ++idx) hessian[static_cast<size_t>(idx)] = gram[idx];
  for (int64_t idx = 0; idx < n; ++idx) mean_diagonal += hessian[static_cast<size_t>(idx * n + idx)];
  mean_diagonal /= static_cast<double>(n);
  for (int64_t idx = 0; idx < n; ++idx) {
    double& diagonal = hessian[static_cast<size_t>(idx * n + idx)];
    if (diagonal <= 0.0) {
      diagonal = 1.0;
      for (int64_t row = 0; row < rows; ++row) weights[static_cast<size_t>(row * n + idx)] = 0.0f;
    }
    diagonal += std::max(damping, 0.0f) * std::max(mean_diagonal, 1e-12);
  }
  // The sweep runs on copies permuted into its column order.
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t idx = 0; idx < n; ++idx) order[static_cast<size_t>(idx)] = idx;
  if (act_order) {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return hessian[static_cast<size_t>(a * n + a)] > hessian[static_cast<size_t>(b * n + b)];
    });
    std::vector<double> permuted(hessian.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        permuted[static_cast<size_t>(i * n + j)] =
            hessian[static_cast<size_t>(order[i] * n + order[j])];
    hessian.swap(permuted);
  }
  std::vector<float> work(weights.size());
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < n; ++col)
      work[static_cast<size_t>(row * n + col)] = weights[static_cast<size_t>(row * n + order[col])];
  if (!gptq_inverse_upper_factor(hessian, n))
    return invalid_argument(what +
                            ": the calibration statistics are not positive definite (raise damping)");
  // The factor is computed in double; the updates run in float, which vectorises (as in the
  // paper's implementation): rows x columns² / 2 of them, seconds for BERT-base's FFN output.
  const std::vector<float> upper(hessian.begin(), hessian.end());
  for (int64_t col = 0; col < n; ++col) {
    const float* spread = upper.data() + col * n;
    const float pivot = spread[col];
    for (int64_t row = 0; row < rows; ++row) {
      float* row_weights = work.data() + row * n;
      const float value = row_weights[col];
      const float error = (value - round(row, order[static_cast<size_t>(col)], value)) / pivot;
      for (int64_t later = col + 1; later < n; ++later) row_weights[later] -= error * spread[later];
    }
  }
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < n; ++col)
      weights[static_cast<size_t>(row * n + order[col])] = work[static_cast<size_t>(row * n + col)];
  return ok_status();
}

std::vector<float> gram_after_smoothing(const float* gram, const float* smoothing, int64_t n) {
  std::vector<float> smoothed(gram, gram + n * n);
  for (int64_t row = 0; row < n; ++row)
    for (int64_t col = 0; col < n; ++col)
      smoothed[static_cast<size_t>(row * n + col)] /= smoothing[row] * smoothing[col];
  return smoothed;
}

}  // namespace justnews
