// INT8 symmetric quantisation: per-output-channel weights, per-token or per-tensor activations.
// value ≈ code · scale with code in [-127, 127] (−128 is never produced, so negation is exact and
// the range is symmetric); scale = absmax / 127, so the rounding error is at most scale / 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

inline constexpr int kInt8MaxCode = 127;

// A [rows, columns] float matrix (PyTorch [out, in] layout) quantised row by row.
struct Int8Matrix {
  int64_t rows = 0, columns = 0;
  std::vector<int8_t> codes;  // [rows, columns]
  std::vector<float> scales;  // [rows]; 0 for an all-zero row
};

// Errors name `name` and say which dimension is wrong (empty or non-finite input). With `gram`
// (E[x xᵀ] of the layer input, [columns, columns]) the codes come from GPTQ (quant/gptq.h): the
// same row scales, the codes chosen column by column so that the layer's output error rather than
// the weights' own is minimised.
Result<Int8Matrix> quantize_int8_per_row(const float* values, int64_t rows, int64_t columns,
                                         const std::string& name, const float* gram = nullptr);
std::vector<float> dequantize_int8(const Int8Matrix& matrix);

// One value's code for a given scale (round half away from zero, clamped to ±127).
int8_t quantize_int8_value(float value, float inv_scale);
// The scale that maps `absmax` to 127 (0 stays 0: an all-zero row needs no scale).
float int8_scale_for_absmax(float absmax);

// Asymmetric activation codes, for inputs with a known floor (the GELU output): codes 0..255 of
// x / divisor + offset[k], offset[k] = -floor / divisor[k] >= 0, about twice the resolution of
// symmetric codes. x · Wᵀ = scale · Σk code[k] · W[n, k] - Σk offset[k] · W[n, k]: the second term
// is one constant per output column, folded into the bias.
inline constexpr int kInt8AsymmetricMaxCode = 255;
// The lowest value of GELU (erf: -0.16997 at x = -0.7518; the tanh form -0.17004), slightly
// rounded down so that no GELU output falls below it.
inline constexpr float kGeluFloor = -0.1701f;
// The offsets of an input with `floor` (<= 0) after division by `divisor` ([columns], or empty).
std::vector<float> asymmetric_input_offsets(float floor, const std::vector<float>& divisor,
                                            int64_t columns);
// The calibrated scale of asymmetric codes whose input (after division) reaches `absmax` at most.
float int8_asymmetric_scale(float absmax, const std::vector<float>& offsets);
// What the offsets add to a layer with per-row weight codes `codes` ([out_features, in_features])
// and `scales` ([out_features]): -scales[n] · Σ_k offsets[k] · codes[n, k], per output column, to be
// added to its bias.
std::vector<float> asymmetric_offset_bias(const int8_t* codes, const float* scales,
                                          int64_t out_features, int64_t in_features,
                                          const std::vector<float>& offsets);

}  // namespace justnews
