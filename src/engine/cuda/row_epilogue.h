// The row-wise passes of the quantised (FP8 / INT8) layers: one kernel that takes a GEMM's scaled
// fp16 output row (the sm90 GEMMs already applied scales and bias) and applies, in order, the
// activation and residual add + LayerNorm, then writes the row in the activation precision and/or
// quantised for the next GEMM (FP8 E4M3 or INT8 codes and one scale per row). Per-token codes need
// the whole row's absmax, which no GEMM tile sees, so this pass rides along with the LayerNorm /
// GELU pass that exists anyway.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"
#include "engine/cuda/cuda_ops.h"

namespace justnews::cuda {

enum class RowCodes { kNone, kFp8E4M3, kInt8 };

enum class RowActivation { kNone, kGeluErf, kGeluTanh, kRelu };

// The widest row the kernels take (BERT-large's intermediate size).
inline constexpr int64_t kMaxRowEpilogueColumns = 4096;

struct RowEpilogueArgs {
  int64_t rows = 0, cols = 0;
  const void* input = nullptr;  // [rows, cols] in the activation precision (a GEMM's scaled output)
  RowActivation activation = RowActivation::kNone;
  // Residual add + LayerNorm when `residual` is set: x = LayerNorm(x + residual) * gamma + beta.
  const void* residual = nullptr;  // [rows, cols]
  const void* gamma = nullptr;
  const void* beta = nullptr;
  float eps = 1e-12f;
  // Outputs: `out` in the activation precision (may alias `input` or `residual`), and/or codes.
  void* out = nullptr;
  RowCodes codes_format = RowCodes::kNone;
  void* codes = nullptr;         // [rows, cols] int8 or E4M3 bytes
  float* code_scales = nullptr;  // [rows]: value ≈ code * scale
  // Calibrated per-tensor scale (one device float); null quantises each row by its own absmax.
  const float* static_scale = nullptr;
  // SmoothQuant: the codes quantise x / divisor[c] (the weights were multiplied by it); the
  // activation-precision output is not divided. Null for none.
  const float* channel_divisor = nullptr;
};

// Needs cols % 8 == 0 and cols <= kMaxRowEpilogueColumns, and at most 1024 columns (the widest
// hidden size the encoder takes) for a LayerNorm row; any other misuse is a Status.
Status launch_row_epilogue(Precision precision, const RowEpilogueArgs& args, cudaStream_t stream);

}  // namespace justnews::cuda
