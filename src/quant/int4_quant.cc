// Group-wise INT4 / NF4 quantisation with double-quantised scales, and nibble packing.
#include "quant/int4_quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "quant/gptq.h"

namespace justnews {
namespace {

// Index of the codebook entry nearest to `normalized` (ties go to the lower entry): a binary search
// over the midpoints between neighbouring entries.
uint8_t nearest_nf4_code(float normalized) {
  static const std::array<float, 15> kMidpoints = [] {
    std::array<float, 15> midpoints{};
    for (size_t idx = 0; idx < midpoints.size(); ++idx)
      midpoints[idx] = 0.5f * (kNf4Codebook[idx] + kNf4Codebook[idx + 1]);
    return midpoints;
  }();
  // lower_bound: a value exactly on a midpoint goes to the lower entry.
  return static_cast<uint8_t>(std::lower_bound(kMidpoints.begin(), kMidpoints.end(), normalized) -
                              kMidpoints.begin());
}

// Stored nibble for a symmetric code in [-7, 7]: code + 8 (nibble 0 unused).
uint8_t int4_nibble(float value, float inv_scale) {
  const float code = std::clamp(std::round(value * inv_scale), -7.0f, 7.0f);
  return static_cast<uint8_t>(static_cast<int>(code) + 8);
}

float decoded_value(uint8_t nibble, Int4Format format) {
  return format == Int4Format::kInt4 ? static_cast<float>(static_cast<int>(nibble) - 8)
                                     : kNf4Codebook[nibble];
}

// The group scale with the smallest squared rounding error among clipping ratios 1.0, 0.975, ...,
// 0.6 of the absmax scale: 16 levels spend their range better when a lone outlier is clipped
// (the search llama.cpp and AWQ make per group). Ratio 1 wins ties, so groups that lose nothing to
// rounding keep the plain absmax scale.
float mse_optimal_scale(const float* group, int64_t group_size, float absmax, Int4Format format) {
  const float full =
      format == Int4Format::kInt4 ? absmax / static_cast<float>(kInt4MaxCode) : absmax;
  if (absmax == 0.0f) return 0.0f;
  float best_scale = full;
  double best_error = -1.0;
  for (int step = 0; step <= 16; ++step) {
    const float scale = full * (1.0f - 0.025f * static_cast<float>(step));
    const float inv_scale = 1.0f / scale;
    double error = 0.0;
    for (int64_t idx = 0; idx < group_size; ++idx) {
      const uint8_t nibble = format == Int4Format::kInt4 ? int4_nibble(group[idx], inv_scale)
                                                         : nearest_nf4_code(group[idx] * inv_scale);
      const double difference =
          static_cast<double>(group[idx]) - decoded_value(nibble, format) * scale;
      error += difference * difference;
    }
    if (best_error < 0.0 || error < best_error) {
      best_error = error;
      best_scale = scale;
    }
  }
  return best_scale;
}

}  // namespace

int64_t Int4Matrix::memory_bytes() const {
  return static_cast<int64_t>(packed.size() + scales.codes.size() +
                              scales.block_scales.size() * sizeof(float) + sizeof(float));
}

Status check_group_size(int64_t group_size, int64_t columns, const std::string& name) {
  if (group_size <= 0 || group_size % 2 != 0)
    return invalid_argument("int4 quantisation of " + name + ": group size " +
                            std::to_string(group_size) +
                            " must be a positive even number (64 or 128)");
  if (group_size > columns)
    return invalid_argument("int4 quantisation of " + name + ": group size " +
                            std::to_string(group_size) + " is larger than the row (" +
                            std::to_string(columns) + " input features)");
  if (columns % group_size != 0)
    return invalid_argument("int4 quantisation of " + name + ": group size " +
                            std::to_string(group_size) + " does not divide the row length " +
                            std::to_string(columns));
  return ok_status();
}

DoubleQuantizedScales double_quantize_scales(const std::vector<float>& scales) {
  DoubleQuantizedScales result;
  if (scales.empty()) return result;
  result.offset = static_cast<float>(std::accumulate(scales.begin(), scales.end(), 0.0) /
                                     static_cast<double>(scales.size()));
  result.codes.resize(scales.size());
  const size_t num_blocks = (scales.size() + kScaleBlockSize - 1) / kScaleBlockSize;
  result.block_scales.resize(num_blocks);
  for (size_t block_idx = 0; block_idx < num_blocks; ++block_idx) {
    const size_t begin = block_idx * kScaleBlockSize;
    const size_t end = std::min(scales.size(), begin + kScaleBlockSize);
    float max_deviation = 0.0f;
    for (size_t idx = begin; idx < end; ++idx)
      max_deviation = std::max(max_deviation, std::fabs(scales[idx] - result.offset));
    // One spare step above the largest deviation leaves room for rounding up.
    const float block_scale = max_deviation > 0.0f ? max_deviation / 126.0f : 1.0f;
    result.block_scales[block_idx] = block_scale;
    for (size_t idx = begin; idx < end; ++idx) {
      float code = std::ceil((scales[idx] - result.offset) / block_scale);
      code = std::clamp(code, -127.0f, 127.0f);
      // Float rounding may leave the stored scale a hair below the true one: step up once more.
      if (result.offset + code * block_scale < scales[idx] && code < 127.0f) code += 1.0f;
      result.codes[idx] = static_cast<int8_t>(code);
    }
  }
  return result;
}

namespace {

Status check_shape(int64_t rows, int64_t columns, int64_t group_size, const std::string& name) {
  if (rows <= 0 || columns <= 0)
    return invalid_argument("int4 quantisation of " + name + ": shape [" + std::to_string(rows) +
                            ", " + std::to_string(columns) +
                            "] is empty; expected rows, columns > 0");
  return check_group_size(group_size, columns, name);
}

Status check_finite(const float* values, int64_t rows, int64_t columns, const std::string& name) {
  for (int64_t idx = 0; idx < rows * columns; ++idx)
    if (!std::isfinite(values[idx]))
      return invalid_argument("int4 quantisation of " + name + ": element [" +
                              std::to_string(idx / columns) + ", " + std::to_string(idx % columns) +
                              "] is not finite");
  return ok_status();
}

float group_absmax(const float* group, int64_t size) {
  float absmax = 0.0f;
  for (int64_t idx = 0; idx < size; ++idx) absmax = std::max(absmax, std::fabs(group[idx]));
  return absmax;
}

// Double-quantises `group_scales` and encodes every weight with its group's stored scale.
Int4Matrix encode(const float* values, int64_t rows, int64_t columns, int64_t group_size,
                  Int4Format format, const std::vector<float>& group_scales) {
  Int4Matrix matrix;
  matrix.format = format;
  matrix.rows = rows;
  matrix.columns = columns;
  matrix.group_size = group_size;
  matrix.scales = double_quantize_scales(group_scales);
  std::vector<uint8_t> nibbles(static_cast<size_t>(rows * columns));
  for (int64_t group_idx = 0; group_idx < static_cast<int64_t>(group_scales.size()); ++group_idx) {
    const float scale = matrix.scales.scale(group_idx);
    const float inv_scale = scale > 0.0f ? 1.0f / scale : 0.0f;
    const float* group = values + group_idx * group_size;
    uint8_t* out = nibbles.data() + group_idx * group_size;
    for (int64_t idx = 0; idx < group_size; ++idx)
      out[idx] = format == Int4Format::kInt4 ? int4_nibble(group[idx], inv_scale)
                                             : nearest_nf4_code(group[idx] * inv_scale);
  }
  matrix.packed = pack_nibbles(nibbles);
  return matrix;
}

}  // namespace

Result<Int4Matrix> quantize_int4(const float* values, int64_t rows, int64_t columns,
                                 int64_t group_size, Int4Format format, const std::string& name) {
  JN_RETURN_IF_ERROR(check_shape(rows, columns, group_size, name));
  JN_RETURN_IF_ERROR(check_finite(values, rows, columns, name));
  const int64_t groups = rows * (columns / group_size);
  std::vector<float> group_scales(static_cast<size_t>(groups));
  for (int64_t group_idx = 0; group_idx < groups; ++group_idx) {
    const float* group = values + group_idx * group_size;
    group_scales[static_cast<size_t>(group_idx)] =
        mse_optimal_scale(group, group_size, group_absmax(group, group_size), format);
  }
  return encode(values, rows, columns, group_size, format, group_scales);
}

Result<Int4Matrix> quantize_int4_gptq(const float* values, int64_t rows, int64_t columns,
                                      int64_t group_size, Int4Format format, const float* gram,
                                      float damping, const std::string& name) {
  JN_RETURN_IF_ERROR(check_shape(rows, columns, group_size, name));
  JN_RETURN_IF_ERROR(check_finite(values, rows, columns, name));
  const int64_t groups_per_row = columns / group_size;
  std::vector<float> group_scales(static_cast<size_t>(rows * groups_per_row));
  const auto scale_of = [&](int64_t row, int64_t col) -> float& {
    return group_scales[static_cast<size_t>(row * groups_per_row + col / group_size)];
  };
  // Static groups: every scale from the original weights (MSE search), then the sweep (act order).
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < columns; col += group_size) {
      const float* group = values + row * columns + col;
      scale_of(row, col) =
          mse_optimal_scale(group, group_size, group_absmax(group, group_size), format);
    }
  std::vector<float> work(values, values + rows * columns);
  JN_RETURN_IF_ERROR(gptq_sweep(
      work, rows, columns, gram, damping, format == Int4Format::kInt4 ? "int4" : "nf4", name,
      [&](int64_t row, int64_t col, float value) {
        const float scale = scale_of(row, col);
        if (scale <= 0.0f) return 0.0f;
        const uint8_t nibble = format == Int4Format::kInt4 ? int4_nibble(value, 1.0f / scale)
                                                           : nearest_nf4_code(value / scale);
        return decoded_value(nibble, format) * scale;
      },
      /*act_order=*/true));
  // `work` now holds, column by column, the values GPTQ quantised: encode them with the scales it
  // chose (double quantisation may round a scale up by a fraction of a step).
  return encode(work.data(), rows, columns, group_size, format, group_scales);
}

void dequantize_int4_rows(const Int4Matrix& matrix, int64_t row_begin, int64_t row_end,
                          float* output) {
  const int64_t groups_per_row = matrix.groups_per_row();
  std::array<float, 16> table{};
  for (int64_t row_idx = row_begin; row_idx < row_end; ++row_idx) {
    const uint8_t* packed = matrix.packed.data() + row_idx * (matrix.columns / 2);
    float* out = output + (row_idx - row_begin) * matrix.columns;
    for (int64_t group_in_row = 0; group_in_row < groups_per_row; ++group_in_row) {
      const float scale = matrix.scales.scale(row_idx * groups_per_row + group_in_row);
      for (int code = 0; code < 16; ++code)
        table[static_cast<size_t>(code)] =
            (matrix.format == Int4Format::kInt4 ? static_cast<float>(code - 8)
                                                : kNf4Codebook[static_cast<size_t>(code)]) *
            scale;
      const int64_t first = group_in_row * matrix.group_size;
      for (int64_t col_idx = first; col_idx < first + matrix.group_size; col_idx += 2) {
        const uint8_t byte = packed[col_idx / 2];
        out[col_idx] = table[byte & 0xF];
        out[col_idx + 1] = table[byte >> 4];
      }
    }
  }
}

std::vector<float> dequantize_int4(const Int4Matrix& matrix) {
  std::vector<float> values(static_cast<size_t>(matrix.rows * matrix.columns));
  dequantize_int4_rows(matrix, 0, matrix.rows, values.data());
  return values;
}

std::vector<uint8_t> pack_nibbles(const std::vector<uint8_t>& codes) {
  std::vector<uint8_t> packed((codes.size() + 1) / 2, 0);
  for (size_t idx = 0; idx < codes.size(); ++idx)
    packed[idx / 2] |= static_cast<uint8_t>((codes[idx] & 0xF) << ((idx % 2) * 4));
  return packed;
}

std::vector<uint8_t> unpack_nibbles(const std::vector<uint8_t>& packed, int64_t count) {
  std::vector<uint8_t> codes(static_cast<size_t>(count));
  for (size_t idx = 0; idx < codes.size(); ++idx)
    codes[idx] = static_cast<uint8_t>((packed[idx / 2] >> ((idx % 2) * 4)) & 0xF);
  return codes;
}

}  // namespace justnews
