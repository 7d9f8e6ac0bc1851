// Linear layers on the CPU: output = act(input · weightᵀ + bias) through OpenBLAS sgemm, with the
// weight kept in PyTorch's [out_features, in_features] layout (sgemm's transpose flag, no copy).
#pragma once

#include <cstdint>

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

}  // namespace justnews
