// Activation statistics recorder, calibration tables and SmoothQuant factors.
#include "quant/activation_stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

namespace justnews {

const char* linear_site_name(LinearSite site) {
  switch (site) {
    case LinearSite::kQkv:
      return "qkv";
    case LinearSite::kAttentionOutput:
      return "attention_output";
    case LinearSite::kFfnIn:
      return "ffn_in";
    case LinearSite::kFfnOut:
      return "ffn_out";
  }
  return "unknown";
}

Status ActivationCalibration::check_shape(int64_t num_layers, int64_t hidden,
                                          int64_t intermediate) const {
  if (static_cast<int64_t>(layers.size()) != num_layers)
    return invalid_argument("activation calibration has " + std::to_string(layers.size()) +
                            " layers, the model has " + std::to_string(num_layers));
  for (int64_t layer_idx = 0; layer_idx < num_layers; ++layer_idx)
    for (int site_idx = 0; site_idx < kNumLinearSites; ++site_idx) {
      const auto site_kind = static_cast<LinearSite>(site_idx);
      const int64_t expected = site_kind == LinearSite::kFfnOut ? intermediate : hidden;
      const auto& channels = site(layer_idx, site_kind).channel_absmax;
      if (static_cast<int64_t>(channels.size()) != expected)
        return invalid_argument("activation calibration layer " + std::to_string(layer_idx) + " " +
                                linear_site_name(site_kind) + " has " +
                                std::to_string(channels.size()) + " channels, expected " +
                                std::to_string(expected));
    }
  return ok_status();
}

ActivationStatsRecorder::ActivationStatsRecorder(int64_t num_layers, GramAccumulator accumulate_gram)
    : accumulate_gram_(std::move(accumulate_gram)),
      layers_(static_cast<size_t>(std::max<int64_t>(num_layers, 0))) {}

void ActivationStatsRecorder::observe(int64_t layer_idx, LinearSite site, const float* input,
                                      int64_t rows, int64_t columns) {
  if (layer_idx < 0 || layer_idx >= static_cast<int64_t>(layers_.size())) return;
  std::vector<float> channel_absmax(static_cast<size_t>(columns), 0.0f);
  std::vector<float> token_absmax(static_cast<size_t>(rows), 0.0f);
  for (int64_t row_idx = 0; row_idx < rows; ++row_idx) {
    const float* row = input + row_idx * columns;
    float row_max = 0.0f;
    for (int64_t col_idx = 0; col_idx < columns; ++col_idx) {
      const float magnitude = std::fabs(row[col_idx]);
      row_max = std::max(row_max, magnitude);
      channel_absmax[static_cast<size_t>(col_idx)] =
          std::max(channel_absmax[static_cast<size_t>(col_idx)], magnitude);
    }
    token_absmax[static_cast<size_t>(row_idx)] = row_max;
  }
  // This batch's xᵀ x (the expensive part: rows · columns² multiply-adds) is computed before taking
  // the lock, so concurrent observers only serialise on the columns² merge below.
  std::vector<float> gram;
  if (accumulate_gram_) {
    gram.assign(static_cast<size_t>(columns * columns), 0.0f);
    accumulate_gram_(input, rows, columns, gram.data());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Site& stats = layers_[static_cast<size_t>(layer_idx)][static_cast<size_t>(site)];
  if (stats.channel_absmax.size() != channel_absmax.size())
    stats.channel_absmax.assign(channel_absmax.size(), 0.0f);
  for (size_t idx = 0; idx < channel_absmax.size(); ++idx)
    stats.channel_absmax[idx] = std::max(stats.channel_absmax[idx], channel_absmax[idx]);
  stats.token_absmax.insert(stats.token_absmax.end(), token_absmax.begin(), token_absmax.end());
  keep_sample_rows(stats, input, rows, columns);
  if (gram.empty()) return;
  if (stats.gram.size() != gram.size()) {
    stats.gram = std::move(gram);
  } else {
    for (size_t idx = 0; idx < gram.size(); ++idx) stats.gram[idx] += gram[idx];
  }
}

void ActivationStatsRecorder::keep_sample_rows(Site& stats, const float* input, int64_t rows,
                                               int64_t columns) {
  const auto width = static_cast<size_t>(columns);
  for (int64_t row_idx = 0; row_idx < rows; ++row_idx, ++stats.rows_seen) {
    if (stats.rows_seen % stats.sample_stride != 0) continue;
    if (static_cast<int64_t>(stats.sample.size() / width) == kCalibrationSampleRows) {
      // Full: keep the even rows (multiples of twice the stride) and halve the rate.
      const size_t kept = stats.sample.size() / width;
      for (size_t even = 0; 2 * even < kept; ++even)
        std::copy_n(stats.sample.begin() + static_cast<std::ptrdiff_t>(2 * even * width), width,
                    stats.sample.begin() + static_cast<std::ptrdiff_t>(even * width));
      stats.sample.resize((kept + 1) / 2 * width);
      stats.sample_stride *= 2;
      if (stats.rows_seen % stats.sample_stride != 0) continue;
    }
    const float* row = input + row_idx * columns;
    stats.sample.insert(stats.sample.end(), row, row + columns);
  }
}

Result<ActivationCalibration> ActivationStatsRecorder::finish(float percentile) const {
  if (!(percentile > 0.0f && percentile <= 100.0f))
    return invalid_argument("calibration percentile " + std::to_string(percentile) +
                            " must be in (0, 100]");
  std::lock_guard<std::mutex> lock(mutex_);
  ActivationCalibration calibration;
  calibration.percentile = percentile;
  calibration.layers.resize(layers_.size());
  for (size_t layer_idx = 0; layer_idx < layers_.size(); ++layer_idx)
    for (int site_idx = 0; site_idx < kNumLinearSites; ++site_idx) {
      const Site& stats = layers_[layer_idx][static_cast<size_t>(site_idx)];
      if (stats.token_absmax.empty())
        return invalid_argument("activation calibration saw no tokens for layer " +
                                std::to_string(layer_idx) + " " +
                                linear_site_name(static_cast<LinearSite>(site_idx)));
      std::vector<float> sorted = stats.token_absmax;
      std::sort(sorted.begin(), sorted.end());
      SiteCalibration& out = calibration.layers[layer_idx][static_cast<size_t>(site_idx)];
      out.absmax = sorted.back();
      const auto rank = static_cast<size_t>(
          std::ceil(static_cast<double>(percentile) / 100.0 * static_cast<double>(sorted.size())));
      out.clipped_absmax = sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
      out.channel_absmax = stats.channel_absmax;
      out.sample = stats.sample;
      out.sample_rows = static_cast<int64_t>(stats.sample.size() / stats.channel_absmax.size());
      if (!stats.gram.empty()) {
        const float inv_tokens = 1.0f / static_cast<float>(sorted.size());
        out.gram.resize(stats.gram.size());
        for (size_t idx = 0; idx < stats.gram.size(); ++idx) out.gram[idx] = stats.gram[idx] * inv_tokens;
      }
      if (site_idx == 0) calibration.num_tokens += static_cast<int64_t>(sorted.size());
    }
  calibration.num_tokens /= std::max<int64_t>(1, static_cast<int64_t>(layers_.size()));
  return calibration;
}

float static_activation_absmax(const SiteCalibration& stats, const std::vector<float>& divisor) {
  if (stats.absmax <= 0.0f) return 0.0f;
  float absmax = stats.absmax;
  if (!divisor.empty()) {
    absmax = 0.0f;
    for (size_t channel = 0; channel < divisor.size() && channel < stats.channel_absmax.size(); ++channel)
      absmax = std::max(absmax, stats.channel_absmax[channel] / divisor[channel]);
  }
  return absmax * (stats.clipped_absmax / stats.absmax);
}

std::vector<float> smoothing_factors(const std::vector<float>& activation_channel_absmax,
                                     const float* weight, int64_t out_features, int64_t in_features,
                                     float alpha) {
  constexpr float kFloor = 1e-5f;  // keeps dead channels from producing 0 or inf factors
  std::vector<float> weight_absmax(static_cast<size_t>(in_features), 0.0f);
  for (int64_t out_idx = 0; out_idx < out_features; ++out_idx)
    for (int64_t in_idx = 0; in_idx < in_features; ++in_idx)
      weight_absmax[static_cast<size_t>(in_idx)] =
          std::max(weight_absmax[static_cast<size_t>(in_idx)],
                   std::fabs(weight[out_idx * in_features + in_idx]));
  std::vector<float> factors(static_cast<size_t>(in_features), 1.0f);
  for (size_t idx = 0; idx < factors.size(); ++idx) {
    const float activation = std::max(activation_channel_absmax[idx], kFloor);
    const float weight_max = std::max(weight_absmax[idx], kFloor);
    factors[idx] = std::clamp(std::pow(activation, alpha) / std::pow(weight_max, 1.0f - alpha),
                              kFloor, 1.0f / kFloor);
  }
  return factors;
}

}  // namespace justnews
