// INT8 per-row quantisation.
#include "quant/int8_quant.h"
#include "quant/per_row_codes.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace justnews {

float int8_scale_for_absmax(float absmax) { return absmax / static_cast<float>(kInt8MaxCode); }

int8_t quantize_int8_value(float value, float inv_scale) {
  const float scaled = std::round(value * inv_scale);
  return static_cast<int8_t>(std::clamp(scaled, -127.0f, 127.0f));
}

Result<Int8Matrix> quantize_int8_per_row(const float* values, int64_t rows, int64_t columns,
                                         const std::string& name, const float* gram) {
  return quantize_per_row_codes<Int8Matrix>(
      values, rows, columns, gram, "int8", name, int8_scale_for_absmax,
      [](float value, float scale) {
        return scale > 0.0f ? quantize_int8_value(value, 1.0f / scale) : int8_t{0};
      },
      [](int8_t code) { return static_cast<float>(code); });
}

std::vector<float> dequantize_int8(const Int8Matrix& matrix) {
  std::vector<float> values(matrix.codes.size());
  for (int64_t row_idx = 0; row_idx < matrix.rows; ++row_idx)
    for (int64_t col_idx = 0; col_idx < matrix.columns; ++col_idx) {
      const size_t idx = static_cast<size_t>(row_idx * matrix.columns + col_idx);
      values[idx] =
          static_cast<float>(matrix.codes[idx]) * matrix.scales[static_cast<size_t>(row_idx)];
    }
  return values;
}

std::vector<float> asymmetric_input_offsets(float floor, const std::vector<float>& divisor,
                                            int64_t columns) {
  std::vector<float> offsets(static_cast<size_t>(columns));
  for (int64_t k = 0; k < columns; ++k)
    offsets[static_cast<size_t>(k)] =
        -floor / (divisor.empty() ? 1.0f : divisor[static_cast<size_t>(k)]);
  return offsets;
}

std::vector<float> asymmetric_offset_bias(const int8_t* codes, const float* scales,
                                          int64_t out_features, int64_t in_features,
                                          const std::vector<float>& offsets) {
  std::vector<float> result(static_cast<size_t>(out_features));
  for (int64_t col = 0; col < out_features; ++col) {
    double sum = 0.0;
    for (int64_t k = 0; k < in_features; ++k)
      sum += static_cast<double>(offsets[static_cast<size_t>(k)]) * codes[col * in_features + k];
    result[static_cast<size_t>(col)] = static_cast<float>(-sum * scales[col]);
  }
  return result;
}

float int8_asymmetric_scale(float absmax, const std::vector<float>& offsets) {
  float largest_offset = 0.0f;
  for (float offset : offsets) largest_offset = std::max(largest_offset, offset);
  return (absmax + largest_offset) / static_cast<float>(kInt8AsymmetricMaxCode);
}

}  // namespace justnews
