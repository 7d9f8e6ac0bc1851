// Per-row (per-output-channel) quantisation shared by the 8-bit formats: one scale a row from its
// absmax, then codes by round to nearest or GPTQ (round_weights). Matrix: Int8Matrix, Fp8Matrix
// (rows, columns, codes, scales).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "quant/gptq.h"
#include "quant/row_absmax.h"

namespace justnews {

// scale_for_absmax(absmax) -> the row's scale; encode(value, scale) -> code; decode(code) -> the
// code's value before scaling (what GPTQ carries the error of).
template <class Matrix, class ScaleForAbsmax, class Encode, class Decode>
Result<Matrix> quantize_per_row_codes(const float* values, int64_t rows, int64_t columns,
                                      const float* gram, const std::string& format,
                                      const std::string& name,
                                      const ScaleForAbsmax& scale_for_absmax, const Encode& encode,
                                      const Decode& decode) {
  JN_ASSIGN_OR_RETURN(const std::vector<float> absmax_per_row,
                      row_absmax(values, rows, columns, format, name));
  Matrix matrix;
  matrix.rows = rows;
  matrix.columns = columns;
  matrix.codes.resize(static_cast<size_t>(rows * columns));
  matrix.scales.resize(static_cast<size_t>(rows));
  for (int64_t row_idx = 0; row_idx < rows; ++row_idx)
    matrix.scales[static_cast<size_t>(row_idx)] =
        scale_for_absmax(absmax_per_row[static_cast<size_t>(row_idx)]);
  const auto round = [&](int64_t row, int64_t col, float value) {
    const float scale = matrix.scales[static_cast<size_t>(row)];
    const auto code = encode(value, scale);
    matrix.codes[static_cast<size_t>(row * columns + col)] = code;
    return decode(code) * scale;
  };
  JN_RETURN_IF_ERROR(round_weights(values, rows, columns, gram, format, name, round));
  return matrix;
}

}  // namespace justnews
