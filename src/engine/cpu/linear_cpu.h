// Linear layers on the CPU: output = act(input · weightᵀ + bias) through OpenBLAS sgemm, with the
// weight kept in PyTorch's [out_features, in_features] layout (sgemm's transpose flag, no copy).
#pragma once

#include <cstdint>
#include <functional>

#include "core/thread_pool.h"

namespace justnews {

// What is applied to each output element after the bias, while the block is still in cache.
enum class Epilogue { kNone, kGeluErf, kGeluTanh, kRelu, kTanh };

// input [rows, in_features], weight [out_features, in_features], bias [out_features] or null,
// output [rows, out_features]; all row-major and contiguous. The work is split across `pool`
// (null: the calling thread only) by rows or by output columns, whichever duplicates less packing.
void linear_cpu(const float* input, int64_t rows, int64_t in_features, const float* weight,
                const float* bias, int64_t out_features, Epilogue epilogue, float* output,
                ThreadPool* pool);

// gram[columns, columns] += inputᵀ · input (row-major input [rows, columns]; both triangles), for
// GPTQ calibration statistics.
void accumulate_gram_cpu(const float* input, int64_t rows, int64_t columns, float* gram);

// Applies bias + epilogue to a [rows, columns] block whose rows are `row_stride` floats apart.
void apply_epilogue(float* block, int64_t rows, int64_t columns, int64_t row_stride,
                    const float* bias, Epilogue epilogue);

// The work split of the linears whose weights are packed in tiles of output columns (BF16, INT8).
// Each call first converts the activations row by row (`convert_rows`: rounding, quantisation),
// then multiplies blocks of rows x tiles (`multiply_block`, which writes the block's output columns
// with the bias added). With more than one pool thread, conversion is split by rows; the products
// by tiles when there are at least as many tiles as threads, else (a small head) by rows in grains
// of `row_grain`. Blocks run in chunks of at most `row_chunk` rows, whose activations stay in L2
// while the tiles sweep them; each chunk gets the epilogue while its output is still in cache.
struct TiledLinearShape {
  int64_t rows = 0;
  int64_t out_features = 0;
  int64_t tile_columns = 0;  // output columns per packed weight tile
  int64_t num_tiles = 0;
  int64_t row_chunk = 0;
  int64_t row_grain = 0;
};
// The packed linears (BF16, INT8) keep their weights in tiles of kPackedTileColumns output columns.
// In a tile, `k_group` consecutive k (the dot-product instruction's width: 2 for vdpbf16ps, 4 for
// vpdpbusd) of 16 columns lie side by side, four such 16-column blocks a group.
inline constexpr int64_t kPackedTileColumns = 64;
inline int64_t packed_weight_index(int64_t column, int64_t k, int64_t padded_in, int64_t k_group) {
  const int64_t tile = column / kPackedTileColumns, lane_block = (column % kPackedTileColumns) / 16;
  const int64_t lane = column % 16, group = k / k_group, within = k % k_group;
  return (((tile * (padded_in / k_group) + group) * 4 + lane_block) * 16 + lane) * k_group + within;
}
inline int64_t round_up_to(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

void run_tiled_linear(
    const TiledLinearShape& shape, Epilogue epilogue, float* output, ThreadPool* pool,
    const std::function<void(int64_t row_begin, int64_t row_end)>& convert_rows,
    const std::function<void(int64_t row_begin, int64_t row_end, int64_t tile_begin,
                             int64_t tile_end)>& multiply_block);

}  // namespace justnews
