// Group-wise INT4 / NF4 quantisation with double-quantised scales, and nibble packing.
#include "quant/int4_quant.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace justnews {
namespace {

// Index of the codebook entry nearest to `normalized` (ties go to the lower entry).
uint8_t nearest_nf4_code(float normalized) {
  uint8_t best = 0;
  float best_distance = std::fabs(normalized - kNf4Codebook[0]);
  for (uint8_t code = 1; code < 16; ++code) {
    const float distance = std::fabs(normalized - kNf4Codebook[code]);
    if (distance < best_distance) {
      best = code;
      best_distance = distance;
    }
  }
  return best;
}

// Stored nibble for a symmetric code in [-7, 7]: code + 8 (nibble 0 unused).
uint8_t int4_nibble(float value, float inv_scale) {
  const float code = std::clamp(std::round(value * inv_scale), -7.0f, 7.0f);
  return static_cast<uint8_t>(static_cast<int>(code) + 8);
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

Result<Int4Matrix> quantize_int4(const float* values, int64_t rows, int64_t columns,
                                 int64_t group_size, Int4Format format, const std::string& name) {
  if (rows <= 0 || columns <= 0)
    return invalid_argument("int4 quantisation of " + name + ": shape [" + std::to_string(rows) +
                            ", " + std::to_string(columns) +
                            "] is empty; expected rows, columns > 0");
  JN_RETURN_IF_ERROR(check_group_size(group_size, columns, name));
  Int4Matrix matrix;
  matrix.format = format;
  matrix.rows = rows;
  matrix.columns = columns;
  matrix.group_size = group_size;
  const int64_t groups_per_row = columns / group_size;
  std::vector<float> group_scales(static_cast<size_t>(rows * groups_per_row));
  for (int64_t group_idx = 0; group_idx < rows * groups_per_row; ++group_idx) {
    const float* group = values + group_idx * group_size;
    float absmax = 0.0f;
    for (int64_t idx = 0; idx < group_size; ++idx) {
      if (!std::isfinite(group[idx]))
        return invalid_argument("int4 quantisation of " + name + ": element [" +
                                std::to_string(group_idx / groups_per_row) + ", " +
                                std::to_string((group_idx % groups_per_row) * group_size + idx) +
                                "] is not finite");
      absmax = std::max(absmax, std::fabs(group[idx]));
    }
    group_scales[static_cast<size_t>(group_idx)] =
        format == Int4Format::kInt4 ? absmax / static_cast<float>(kInt4MaxCode) : absmax;
  }
  matrix.scales = double_quantize_scales(group_scales);

  std::vector<uint8_t> nibbles(static_cast<size_t>(rows * columns));
  for (int64_t group_idx = 0; group_idx < rows * groups_per_row; ++group_idx) {
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
