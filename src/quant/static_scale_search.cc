// Clip search for calibrated per-tensor INT8 activation scales.
#include "quant/static_scale_search.h"

#include <algorithm>
#include <cmath>

#include "quant/int8_quant.h"

namespace justnews {
namespace {

// Clips tried, as fractions of the percentile's absmax: 1 and 16 steps of 7% down to 0.31.
constexpr int kClipSteps = 17;
constexpr float kClipRatio = 0.93f;

// Σ_n (W[n, k] · divisor[k])²: the GEMM multiplies input channel k (x / divisor) by W · divisor.
std::vector<float> column_weights(const float* weight, int64_t out_features, int64_t in_features,
                                  const std::vector<float>& divisor) {
  std::vector<double> sums(static_cast<size_t>(in_features), 0.0);
  for (int64_t row = 0; row < out_features; ++row)
    for (int64_t k = 0; k < in_features; ++k) {
      const double value = weight[row * in_features + k];
      sums[static_cast<size_t>(k)] += value * value;
    }
  std::vector<float> result(static_cast<size_t>(in_features));
  for (int64_t k = 0; k < in_features; ++k) {
    const double scale = divisor.empty() ? 1.0 : divisor[static_cast<size_t>(k)];
    result[static_cast<size_t>(k)] = static_cast<float>(sums[static_cast<size_t>(k)] * scale * scale);
  }
  return result;
}

float divided(const float* row, const std::vector<float>& divisor, int64_t k) {
  return divisor.empty() ? row[k] : row[k] / divisor[static_cast<size_t>(k)];
}

// What each sampled row's error is divided by: its output energy, Σ_k column_weight[k] ·
// (x[k] / divisor[k])², plus the mean row's.
std::vector<double> row_sizes(const SiteCalibration& stats, int64_t in_features,
                              const std::vector<float>& divisor,
                              const std::vector<float>& column_weight) {
  std::vector<double> sizes(static_cast<size_t>(stats.sample_rows), 0.0);
  double total = 0.0;
  for (int64_t row_idx = 0; row_idx < stats.sample_rows; ++row_idx) {
    const float* row = stats.sample.data() + row_idx * in_features;
    double energy = 0.0;
    for (int64_t k = 0; k < in_features; ++k) {
      const double value = divided(row, divisor, k);
      energy += static_cast<double>(column_weight[static_cast<size_t>(k)]) * value * value;
    }
    sizes[static_cast<size_t>(row_idx)] = energy;
    total += energy;
  }
  const double mean = total / static_cast<double>(stats.sample_rows);
  for (double& size : sizes) size += mean;
  return sizes;
}

// The quantity the search minimises for one clip: Σ_rows (Σ_k column_weight[k] · (code error of
// x[k] / divisor[k])²) / row_sizes[row], under the scale `absmax` gives.
double weighted_code_error(const SiteCalibration& stats, int64_t in_features,
                           const std::vector<float>& divisor, const std::vector<float>& offsets,
                           const std::vector<float>& column_weight,
                           const std::vector<double>& sizes, float absmax) {
  const bool asymmetric = !offsets.empty();
  const float scale =
      asymmetric ? int8_asymmetric_scale(absmax, offsets) : int8_scale_for_absmax(absmax);
  if (!(scale > 0.0f)) return 0.0;
  const float inv_scale = 1.0f / scale;
  const float lowest = asymmetric ? 0.0f : -static_cast<float>(kInt8MaxCode);
  const float highest = static_cast<float>(asymmetric ? kInt8AsymmetricMaxCode : kInt8MaxCode);
  double error = 0.0;
  for (int64_t row_idx = 0; row_idx < stats.sample_rows; ++row_idx) {
    const float* row = stats.sample.data() + row_idx * in_features;
    double row_error = 0.0;
    for (int64_t k = 0; k < in_features; ++k) {
      const auto column = static_cast<size_t>(k);
      const float value = divided(row, divisor, k) + (asymmetric ? offsets[column] : 0.0f);
      const float code = std::clamp(std::nearbyint(value * inv_scale), lowest, highest);
      const float difference = code * scale - value;
      row_error += static_cast<double>(column_weight[column]) * difference * difference;
    }
    const double size = sizes[static_cast<size_t>(row_idx)];
    if (size > 0.0) error += row_error / size;
  }
  return error;
}

}  // namespace

float searched_static_absmax(const SiteCalibration& stats, const std::vector<float>& divisor,
                             const std::vector<float>& offsets, const float* weight,
                             int64_t out_features, int64_t in_features) {
  const float percentile_absmax = static_activation_absmax(stats, divisor);
  if (percentile_absmax <= 0.0f || stats.sample_rows <= 0 ||
      static_cast<int64_t>(stats.sample.size()) != stats.sample_rows * in_features)
    return percentile_absmax;
  const std::vector<float> column_weight =
      column_weights(weight, out_features, in_features, divisor);
  const std::vector<double> sizes = row_sizes(stats, in_features, divisor, column_weight);
  float best_absmax = percentile_absmax;
  double best_error = -1.0;
  float clip = percentile_absmax;
  for (int step = 0; step < kClipSteps; ++step, clip *= kClipRatio) {
    const double error =
        weighted_code_error(stats, in_features, divisor, offsets, column_weight, sizes, clip);
    if (best_error < 0.0 || error < best_error) {
      best_error = error;
      best_absmax = clip;
    }
  }
  return best_absmax;
}

}  // namespace justnews
