// Activation statistics for calibration: what the input of every linear layer looks like on real
// text. The CPU encoder reports each linear input to an ActivationObserver; the recorder keeps,
// per (layer, site), the absmax of every input channel (for SmoothQuant), the absmax of every
// token row (for percentile-clipped per-tensor scales) and an evenly spaced sample of token rows
// (to choose calibrated scales by their error: static_scale_search.h).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

// The four linear layers of an encoder layer, in forward order.
enum class LinearSite { kQkv, kAttentionOutput, kFfnIn, kFfnOut };
inline constexpr int kNumLinearSites = 4;
const char* linear_site_name(LinearSite site);

class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  // input: [rows, columns] row-major float32, the linear layer's input before quantisation.
  virtual void observe(int64_t layer_idx, LinearSite site, const float* input, int64_t rows,
                       int64_t columns) = 0;
};

struct SiteCalibration {
  float absmax = 0.0f;                // over every token seen
  float clipped_absmax = 0.0f;        // the chosen percentile of per-token absmax values
  std::vector<float> channel_absmax;  // [columns]
  // E[x xᵀ] over every token seen, [columns, columns] (GPTQ); empty unless the recorder collects it.
  std::vector<float> gram;
  // Up to kCalibrationSampleRows token rows, evenly spaced over everything seen: [rows, columns].
  std::vector<float> sample;
  int64_t sample_rows = 0;
};

// Enough rows to see the tails a clip search trades against the step (1 in 512 tokens), small
// enough to keep for every site (BERT-base: 150 MB, less than its Gram matrices).
inline constexpr int64_t kCalibrationSampleRows = 512;

struct ActivationCalibration {
  float percentile = 100.0f;
  int64_t num_tokens = 0;
  std::vector<std::array<SiteCalibration, kNumLinearSites>> layers;
  const SiteCalibration& site(int64_t layer_idx, LinearSite site) const {
    return layers[static_cast<size_t>(layer_idx)][static_cast<size_t>(site)];
  }
  // Matches the model's layer count and widths; errors say which layer / site differs.
  Status check_shape(int64_t num_layers, int64_t hidden, int64_t intermediate) const;
};

// Adds inputᵀ input ([rows, columns] row-major) into gram ([columns, columns]); the caller brings
// the BLAS (this module's API has none). The recorder calls it outside its lock, on a zeroed buffer
// of its own per call: it must be safe to call from several threads at once.
using GramAccumulator =
    std::function<void(const float* input, int64_t rows, int64_t columns, float* gram)>;

// Thread-safe recorder (the encoder may call observe from pool threads). The row sample depends on
// the order of observe calls: calibration runs its batches one after another, so it is repeatable.
class ActivationStatsRecorder final : public ActivationObserver {
 public:
  // With `accumulate_gram`, every site's second-moment matrix is collected too (GPTQ's input).
  explicit ActivationStatsRecorder(int64_t num_layers, GramAccumulator accumulate_gram = nullptr);
  void observe(int64_t layer_idx, LinearSite site, const float* input, int64_t rows,
               int64_t columns) override;
  // percentile in (0, 100]: 100 keeps the plain absmax. Fails when nothing was observed.
  Result<ActivationCalibration> finish(float percentile) const;

 private:
  struct Site {
    std::vector<float> channel_absmax;
    std::vector<float> token_absmax;
    std::vector<float> gram;  // sum of x xᵀ
    // Rows whose index (counted over every row seen) is a multiple of sample_stride; the stride
    // doubles, dropping every other kept row, whenever the sample is full.
    std::vector<float> sample;
    int64_t rows_seen = 0;
    int64_t sample_stride = 1;
  };
  static void keep_sample_rows(Site& stats, const float* input, int64_t rows, int64_t columns);

  GramAccumulator accumulate_gram_;
  mutable std::mutex mutex_;
  std::vector<std::array<Site, kNumLinearSites>> layers_;
};

// The absmax a calibrated per-tensor activation scale maps to the largest code: the site's
// percentile clip, carried over to the channels of x / divisor when SmoothQuant `divisor` is given
// (empty: none).
float static_activation_absmax(const SiteCalibration& stats, const std::vector<float>& divisor);

// SmoothQuant (Xiao et al. 2023) migration factors for one linear layer: s_j =
// max|X_j|^alpha / max|W_:j|^(1-alpha). The layer computes (X / s) · (W · s)ᵀ, which equals X · Wᵀ
// but moves outlier activation channels into the (per-channel quantised) weights.
// weight: [out_features, in_features]; activation_channel_absmax: [in_features].
std::vector<float> smoothing_factors(const std::vector<float>& activation_channel_absmax,
                                     const float* weight, int64_t out_features, int64_t in_features,
                                     float alpha);
// The default alpha. The paper's 0.5 leaves MiniLM's W8A8 error mostly in the activations; with
// GPTQ weights taking the migrated difficulty, 0.6-0.75 measured best (AG News titles, session 10:
// int8-smooth-gptq cosine 0.99918-0.99925 against 0.99869 at 0.5; 0.85 worse again).
inline constexpr float kDefaultSmoothQuantAlpha = 0.7f;

}  // namespace justnews
