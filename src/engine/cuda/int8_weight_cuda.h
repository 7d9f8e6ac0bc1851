// Weight-only INT8 linear layers on the GPU (issue 5's "weight-only INT8 mode for memory"): the
// weights stay int8 codes with one float32 scale per output channel (quant/int8_quant.h, the CPU's
// format, GPTQ or round-to-nearest), half of fp16's bytes; before each GEMM the layer's weight is
// decoded into scratch memory in the activation precision and the ordinary GEMM runs on it. The
// decode costs a pass over the weights per call: memory is what this format buys, not speed.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"
#include "engine/cuda/cuda_ops.h"

namespace justnews::cuda {

// out[rows, columns] (row-major, fp16, bf16 or fp32, 16-byte aligned) = codes[r, c] · scales[r],
// the float32 product rounded once to the output type (what dequantize_int8 computes on the CPU).
// `columns` must be a multiple of 8 and `codes` 8-byte aligned. Does not synchronise.
Status launch_int8_dequantize(Precision precision, const int8_t* codes, const float* scales,
                              int64_t rows, int64_t columns, void* out, cudaStream_t stream);

}  // namespace justnews::cuda
