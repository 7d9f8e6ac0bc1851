// 4-bit weight-only quantisation, group-wise along the input dimension (groups of 64 or 128
// consecutive weights of one output channel share a scale), in two codebooks:
//   kInt4: symmetric integers, value ≈ code · scale, code in [-7, 7], scale = absmax / 7;
//   kNf4:  bitsandbytes' NormalFloat4 codebook (16 quantiles of N(0,1) scaled to [-1, 1]),
//          value ≈ kNf4Codebook[code] · scale, scale = absmax.
// The per-group scales are themselves quantised ("double quantisation", as bitsandbytes does with
// compress_statistics=True): one float offset (the mean scale) for the whole matrix, then blocks of
// 256 scales store (scale - offset) as int8 codes with one float second-level scale per block.
// Each group's scale is the one with the smallest squared error among clipping ratios 1 to 0.6 of
// its absmax scale (a lone outlier may be clipped when that helps the other 63 weights). The
// second-level code is rounded *up*, so the stored scale never falls below the chosen one.
// Codes are packed two per byte, the even column in the low nibble.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "quant/gptq.h"

namespace justnews {

enum class Int4Format { kInt4, kNf4 };

// bitsandbytes' NF4 values (bitsandbytes/functional.py, get_4bit_type("nf4")).
inline constexpr std::array<float, 16> kNf4Codebook = {-1.0f,
                                                       -0.6961928009986877f,
                                                       -0.5250730514526367f,
                                                       -0.39491748809814453f,
                                                       -0.28444138169288635f,
                                                       -0.18477343022823334f,
                                                       -0.09105003625154495f,
                                                       0.0f,
                                                       0.07958029955625534f,
                                                       0.16093020141124725f,
                                                       0.24611230194568634f,
                                                       0.33791524171829224f,
                                                       0.44070982933044434f,
                                                       0.5626170039176941f,
                                                       0.7229568362236023f,
                                                       1.0f};

inline constexpr int64_t kScaleBlockSize = 256;  // group scales per second-level scale
inline constexpr int kInt4MaxCode = 7;

// Group scales after double quantisation: scale[g] = offset + codes[g] · block_scales[g / 256].
struct DoubleQuantizedScales {
  float offset = 0.0f;
  std::vector<int8_t> codes;        // one per group
  std::vector<float> block_scales;  // one per kScaleBlockSize groups
  float scale(int64_t group_idx) const {
    return offset + static_cast<float>(codes[static_cast<size_t>(group_idx)]) *
                        block_scales[static_cast<size_t>(group_idx / kScaleBlockSize)];
  }
};

struct Int4Matrix {
  Int4Format format = Int4Format::kInt4;
  int64_t rows = 0, columns = 0, group_size = 0;
  std::vector<uint8_t> packed;   // [rows, columns / 2]: two 4-bit codes per byte
  DoubleQuantizedScales scales;  // [rows, columns / group_size] groups, row-major
  int64_t groups_per_row() const { return columns / group_size; }
  // Bytes held: packed codes, scale codes, block scales and the offset.
  int64_t memory_bytes() const;
};

// Checks the group size against the row length: positive, even, at most `columns`, dividing it.
Status check_group_size(int64_t group_size, int64_t columns, const std::string& name);

// values: [rows, columns] row-major. Errors name `name` (shape, group size, non-finite values).
Result<Int4Matrix> quantize_int4(const float* values, int64_t rows, int64_t columns,
                                 int64_t group_size, Int4Format format, const std::string& name);
// GPTQ (quant/gptq.h) for the same format: every group's scale is chosen first (MSE search on the
// original weights), then the sweep rounds the columns in act order. `gram` is E[x xᵀ] of the
// layer input ([columns, columns]); `damping` is usually kGptqDamping.
Result<Int4Matrix> quantize_int4_gptq(const float* values, int64_t rows, int64_t columns,
                                      int64_t group_size, Int4Format format, const float* gram,
                                      float damping, const std::string& name);

// Rows [row_begin, row_end) as float32 into `output` ([row_end - row_begin, columns]).
void dequantize_int4_rows(const Int4Matrix& matrix, int64_t row_begin, int64_t row_end,
                          float* output);
std::vector<float> dequantize_int4(const Int4Matrix& matrix);

// Double quantisation of positive scales (exposed for tests): codes rounded up, see above.
DoubleQuantizedScales double_quantize_scales(const std::vector<float>& scales);

// Two 4-bit codes per byte, even index in the low nibble; an odd count pads the last high nibble
// with 0. Codes above 15 are a programmer error (masked).
std::vector<uint8_t> pack_nibbles(const std::vector<uint8_t>& codes);
std::vector<uint8_t> unpack_nibbles(const std::vector<uint8_t>& packed, int64_t count);

}  // namespace justnews
