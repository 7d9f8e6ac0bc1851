// Linear layers: sgemm on blocks of the output, one block per pool thread, then a fused epilogue.
#include "engine/cpu/linear_cpu.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "engine/cpu/ops_cpu.h"

namespace justnews {
namespace {

// Below these block sizes sgemm's packing overhead outweighs another thread's help.
constexpr int64_t kMinRowsPerBlock = 16;
constexpr int64_t kMinColumnsPerBlock = 64;

void activate_row(float* values, int64_t count, Epilogue epilogue) {
  switch (epilogue) {
    case Epilogue::kNone:
      return;
    case Epilogue::kGeluErf:
      gelu_erf_cpu(values, count);
      return;
    case Epilogue::kGeluTanh:
      gelu_tanh_cpu(values, count);
      return;
    case Epilogue::kRelu:
      relu_cpu(values, count);
      return;
    case Epilogue::kTanh:
      for (int64_t i = 0; i < count; ++i) values[i] = std::tanh(values[i]);
      return;
  }
}

// output[row_begin:row_end, col_begin:col_end] for one block.
void linear_block(const float* input, int64_t in_features, const float* weight, const float* bias,
                  int64_t out_features, Epilogue epilogue, float* output, int64_t row_begin,
                  int64_t row_end, int64_t col_begin, int64_t col_end) {
  const int64_t block_rows = row_end - row_begin;
  const int64_t block_columns = col_end - col_begin;
  if (block_rows <= 0 || block_columns <= 0) return;
  float* block = output + row_begin * out_features + col_begin;
  // The bias goes in first and sgemm adds to it (beta 1): with beta 0 OpenBLAS clears the block
  // in a pass of its own, and the bias was another pass over a block long out of cache (perf: 6%
  // of a MiniLM FP32 forward).
  if (bias)
    for (int64_t row_idx = 0; row_idx < block_rows; ++row_idx)
      std::copy(bias + col_begin, bias + col_end, block + row_idx * out_features);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(block_rows),
              static_cast<int>(block_columns), static_cast<int>(in_features), 1.0f,
              input + row_begin * in_features, static_cast<int>(in_features),
              weight + col_begin * in_features, static_cast<int>(in_features), bias ? 1.0f : 0.0f,
              block, static_cast<int>(out_features));
  apply_epilogue(block, block_rows, block_columns, out_features, nullptr, epilogue);
}

}  // namespace

void apply_epilogue(float* block, int64_t rows, int64_t columns, int64_t row_stride,
                    const float* bias, Epilogue epilogue) {
  if (!bias && epilogue == Epilogue::kNone) return;
  for (int64_t row_idx = 0; row_idx < rows; ++row_idx) {
    float* row = block + row_idx * row_stride;
    if (bias)
      for (int64_t col_idx = 0; col_idx < columns; ++col_idx) row[col_idx] += bias[col_idx];
    activate_row(row, columns, epilogue);
  }
}

void run_tiled_linear(
    const TiledLinearShape& shape, Epilogue epilogue, float* output, ThreadPool* pool,
    const std::function<void(int64_t row_begin, int64_t row_end)>& convert_rows,
    const std::function<void(int64_t row_begin, int64_t row_end, int64_t tile_begin,
                             int64_t tile_end)>& multiply_block) {
  if (shape.rows <= 0 || shape.out_features <= 0) return;
  auto multiply = [&](int64_t row_begin, int64_t row_end, int64_t tile_begin, int64_t tile_end) {
    const int64_t col_begin = tile_begin * shape.tile_columns;
    const int64_t col_end = std::min(shape.out_features, tile_end * shape.tile_columns);
    for (int64_t chunk = row_begin; chunk < row_end; chunk += shape.row_chunk) {
      const int64_t chunk_end = std::min(row_end, chunk + shape.row_chunk);
      multiply_block(chunk, chunk_end, tile_begin, tile_end);
      apply_epilogue(output + chunk * shape.out_features + col_begin, chunk_end - chunk,
                     col_end - col_begin, shape.out_features, nullptr, epilogue);
    }
  };
  if (!pool || pool->num_threads() <= 1) {
    convert_rows(0, shape.rows);
    multiply(0, shape.rows, 0, shape.num_tiles);
    return;
  }
  pool->parallel_for(static_cast<size_t>(shape.rows), 16, [&](size_t begin, size_t end) {
    convert_rows(static_cast<int64_t>(begin), static_cast<int64_t>(end));
  });
  // Whole weight tiles per thread when they divide evenly enough (the activations' codes then stay
  // in L2 while the thread's tiles sweep them), otherwise row ranges: at 16 threads MiniLM's QKV
  // (18 tiles) and FFN-in (24) kept 16 threads busy for two tiles' time.
  const int64_t threads = static_cast<int64_t>(pool->num_threads());
  const int64_t tile_rounds = (shape.num_tiles + threads - 1) / threads;
  const double tile_balance =
      static_cast<double>(shape.num_tiles) / static_cast<double>(tile_rounds * threads);
  const bool split_tiles = shape.num_tiles >= threads && tile_balance >= 0.9;
  if (split_tiles) {
    pool->parallel_for(static_cast<size_t>(shape.num_tiles), 1, [&](size_t begin, size_t end) {
      multiply(0, shape.rows, static_cast<int64_t>(begin), static_cast<int64_t>(end));
    });
  } else {
    pool->parallel_for(static_cast<size_t>(shape.rows), static_cast<size_t>(shape.row_grain),
                       [&](size_t begin, size_t end) {
                         multiply(static_cast<int64_t>(begin), static_cast<int64_t>(end), 0,
                                  shape.num_tiles);
                       });
  }
}

void linear_cpu(const float* input, int64_t rows, int64_t in_features, const float* weight,
                const float* bias, int64_t out_features, Epilogue epilogue, float* output,
                ThreadPool* pool) {
  if (rows <= 0 || out_features <= 0) return;
  const size_t num_threads = pool ? pool->num_threads() : 1;
  if (num_threads <= 1) {
    linear_block(input, in_features, weight, bias, out_features, epilogue, output, 0, rows, 0,
                 out_features);
    return;
  }
  // Each block packs its whole share of the other operand: splitting rows re-packs the weight in
  // every thread, splitting columns re-packs the input. Split the larger of the two dimensions.
  if (rows >= out_features) {
    pool->parallel_for(static_cast<size_t>(rows), kMinRowsPerBlock, [&](size_t begin, size_t end) {
      linear_block(input, in_features, weight, bias, out_features, epilogue, output,
                   static_cast<int64_t>(begin), static_cast<int64_t>(end), 0, out_features);
    });
  } else {
    pool->parallel_for(
        static_cast<size_t>(out_features), kMinColumnsPerBlock, [&](size_t begin, size_t end) {
          linear_block(input, in_features, weight, bias, out_features, epilogue, output, 0, rows,
                       static_cast<int64_t>(begin), static_cast<int64_t>(end));
        });
  }
}

void accumulate_gram_cpu(const float* input, int64_t rows, int64_t columns, float* gram) {
  if (rows <= 0 || columns <= 0) return;
  const int n = static_cast<int>(columns);
  // One rank-k update of the upper triangle, then mirror it (the triangle ssyrk leaves alone).
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, static_cast<int>(rows), 1.0f, input, n, 1.0f,
              gram, n);
  for (int64_t row = 1; row < columns; ++row)
    for (int64_t col = 0; col < row; ++col) gram[row * columns + col] = gram[col * columns + row];
}

}  // namespace justnews
