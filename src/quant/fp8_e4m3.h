// FP8 E4M3 (the OCP "e4m3fn" variant that NVIDIA Hopper implements): 1 sign, 4 exponent bits (bias
// 7), 3 mantissa bits, no infinities, one NaN pattern (S.1111.111), largest finite ±448. Weights
// get one scale per output channel (absmax ↦ 448), activations one scale per tensor (calibrated).
// Conversion rounds to nearest, ties to even, and saturates to ±448 (like cvt.satfinite).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

inline constexpr float kFp8E4M3Max = 448.0f;

uint8_t float_to_fp8_e4m3(float value);
float fp8_e4m3_to_float(uint8_t code);

struct Fp8Matrix {
  int64_t rows = 0, columns = 0;
  std::vector<uint8_t> codes;  // [rows, columns] E4M3 bit patterns
  std::vector<float> scales;   // [rows]: value ≈ decode(code) · scale
};

// Per-row (per-output-channel) scales. Errors name `name` (empty shape, non-finite value). With
// `gram` (E[x xᵀ] of the layer input) the codes come from GPTQ, as in quantize_int8_per_row.
Result<Fp8Matrix> quantize_fp8_per_row(const float* values, int64_t rows, int64_t columns,
                                       const std::string& name, const float* gram = nullptr);
std::vector<float> dequantize_fp8(const Fp8Matrix& matrix);

// The scale that maps `absmax` to 448, for a weight row or a calibrated activation tensor (0 → 1 so
// nothing divides by 0).
float fp8_scale_for_absmax(float absmax);

}  // namespace justnews
