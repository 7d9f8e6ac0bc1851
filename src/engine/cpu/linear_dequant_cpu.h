// Weight-only quantised linear layers on the CPU (int8 weight-only, FP8 E4M3, INT4, NF4): the
// layer's weight is dequantised to float32 into a per-thread scratch buffer just before the FP32
// linear uses it, so only the compressed weights stay resident (plus one layer's FP32 scratch).
// Activations stay float32. This saves memory, not time: the decode is extra work on every call
// and the CPU has no 4-bit or FP8 multiply units.
#pragma once

#include <cstdint>
#include <functional>

#include "core/thread_pool.h"
#include "engine/cpu/linear_cpu.h"

namespace justnews {

// Fills `output` ([row_end - row_begin, in_features]) with weight rows [row_begin, row_end).
using WeightRowDecoder = std::function<void(int64_t row_begin, int64_t row_end, float* output)>;

void linear_dequant_cpu(const float* input, int64_t rows, int64_t in_features,
                        const WeightRowDecoder& decode_weight_rows, const float* bias,
                        int64_t out_features, Epilogue epilogue, float* output, ThreadPool* pool);

}  // namespace justnews
