// Calibrated per-tensor INT8 activation scales chosen by their error, not by a percentile alone.
//
// A percentile of the per-token absmax (static_activation_absmax) leaves the rare large tokens
// unclipped and pays for them with a coarse step on every other token. On MiniLM's FFN-out input
// (the GELU output) that one site carried nearly all of calibrated INT8's error, and clipping it at
// 0.5-0.7 of its p99.9 absmax halved the error (session 13). The search tries clips at and below
// the percentile's absmax and keeps the one whose codes have the least error over the calibration's
// sampled rows: each channel's squared error weighted by the squared norm of its weight column (its
// share of the output error), each row's error taken relative to its output energy plus the mean
// row's. Relative, because the LayerNorm after the residual add scales a large token's error down;
// plus the mean, so that near-zero rows do not decide the clip. On MiniLM (AG News titles, CPU)
// this measured best of the three: calibrated int8 with GPTQ 0.99746 (the percentile) -> 0.99775
// (absolute error), 0.99826 but worst title 0.9931 (purely relative), 0.99818 / worst 0.9960.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/activation_stats.h"

namespace justnews {

// The absmax to give int8_scale_for_absmax (symmetric codes, `offsets` empty) or
// int8_asymmetric_scale (codes 0..255 of x / divisor + offsets[k]). weight: the layer's weight
// before SmoothQuant, [out_features, in_features]; divisor: SmoothQuant divisors (empty: none).
// Without sampled rows, the percentile's absmax (static_activation_absmax).
float searched_static_absmax(const SiteCalibration& stats, const std::vector<float>& divisor,
                             const std::vector<float>& offsets, const float* weight,
                             int64_t out_features, int64_t in_features);

}  // namespace justnews
