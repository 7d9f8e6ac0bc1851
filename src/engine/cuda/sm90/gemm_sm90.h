// Hopper GEMMs of our own (CUTLASS 3 warp-specialised TMA kernels, sm_90a) for the fusion cuBLASLt
// cannot do on the H200: FP8 / INT8 code GEMMs whose epilogue applies the per-token x per-channel
// scales and the bias before the one fp16 write (cuBLASLt refuses outer-vector FP8 scales there, so
// its output made a round trip through memory). Operands keep the encoder's layouts: activations
// [rows, depth] row-major, weights PyTorch's [cols, depth].
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/function_ref.h"
#include "core/status.h"
#include "engine/cuda/gemm_tuning.h"

namespace justnews::cuda {

// The input codes: E4M3 or INT8 activations with weights of the same format, or kUint8:
// unsigned (asymmetric, quant/int8_quant.h) activation codes with INT8 weights, whose calibrated
// scale the caller folds into col_scales and whose offset's share it folds into the bias.
enum class Sm90Codes { kFp8E4M3, kInt8, kUint8 };
// Which kernel runs: kTuned lets autotuning choose among the kind's candidates (below); the others
// force one, for tests and benches. Cooperative: a 256 x 128 tile shared by two warpgroups. Pingpong:
// a 128 x 128 tile per warpgroup, one's epilogue overlapping the other's MMAs. Small: ping-pong with
// 64 x 64 tiles, so that a few hundred rows still make tiles for most SMs (128 rows x 768 columns:
// 24 tiles, against 6 of 128 x 128). Alternative: the caller's own path (cuBLASLt).
// (A cooperative 128 x 256 tile was measured too and never won: within 1% of the 256 x 128 one.)
enum class Sm90Schedule { kTuned, kCooperative, kPingpong, kSmall, kAlternative };
// out[r, c] = acc[r, c] * row_scales[r] * col_scales[c] + bias[c] in fp16, where acc sums the
// products of the codes in fp32 (FP8, fast accumulation) or int32 (INT8). An input with one
// calibrated scale for every row has it folded into col_scales by the caller: row_scales null.
struct Sm90ScaledGemmArgs {
  Sm90Codes codes = Sm90Codes::kFp8E4M3;
  int64_t rows = 0, cols = 0, depth = 0;
  const void* input_codes = nullptr;   // [rows, depth]
  const void* weight_codes = nullptr;  // [cols, depth]
  const float* row_scales = nullptr;   // [rows], or null (folded; always for GELU codes)
  const float* col_scales = nullptr;   // [cols]
  const void* bias = nullptr;          // [cols] fp16, or null
  void* out = nullptr;                 // [rows, cols] fp16
  // GELU codes: `out` receives the next GEMM's input codes of gelu_erf(value) instead of fp16
  // values, in the input's format, when the next input has a calibrated scale. E4M3 takes that
  // scale (gelu_codes_scale, one device float; codes of gelu / scale, saturating). INT8 takes a
  // multiplier per column (gelu_code_multipliers, [cols]: 1 / (scale x SmoothQuant divisor[c]),
  // or 1 / scale without divisors; codes of gelu x multiplier rounded half away from zero, clamped
  // to +-127). The input then has a calibrated scale too, folded into col_scales: row_scales must
  // be null.
  const float* gelu_codes_scale = nullptr;       // kFp8E4M3 only
  const float* gelu_code_multipliers = nullptr;  // kInt8 only
  // kInt8 with gelu_code_multipliers: unsigned codes 0..255 of (gelu_erf(value) - kGeluFloor) x
  // multiplier instead (the next GEMM then runs as kUint8).
  bool gelu_codes_unsigned = false;
  Sm90Schedule schedule = Sm90Schedule::kTuned;  // kCooperative, kPingpong or kSmall when forced
};

enum class Sm90Element { kFp16, kBf16 };
// out[r, c] = sum_k input[r, k] * weight[c, k] + bias[c] in the element type, with gelu_erf applied
// when `gelu_erf` is set: the linear layers of fp16 / bf16 encoders. With GELU it is the FFN-in layer
// of erf-GELU models (BERT, MiniLM), whose 4x-wide activations are then written once (cuBLASLt only
// offers tanh-GELU; otherwise a separate pass reads and writes them again). The sums are fp32; bias
// (and GELU) apply before the one rounding.
struct Sm90BiasGemmArgs {
  Sm90Element element = Sm90Element::kFp16;
  bool gelu_erf = false;
  int64_t rows = 0, cols = 0, depth = 0;
  const void* input = nullptr;   // [rows, depth]
  const void* weight = nullptr;  // [cols, depth]
  const void* bias = nullptr;    // [cols]
  void* out = nullptr;           // [rows, cols]
  // Forced: kCooperative (GELU only), kPingpong or kSmall; kAlternative runs the caller's path.
  Sm90Schedule schedule = Sm90Schedule::kTuned;
};

// Whether these kernels can run on the current device (compute capability 9.0 exactly: sm_90a
// code runs nowhere else; callers check once, as the encoder does at construction, not per launch)
// and take a problem of this shape (depth and cols multiples of 16).
bool sm90_gemm_device_supported();
bool sm90_gemm_shape_supported(int64_t cols, int64_t depth);

// `workspace` (may be null when workspace_bytes is 0) is scratch the kernel may need; a Status
// names the shape when the kernel cannot take it. Candidates: cooperative, ping-pong, small. With
// `autotune`, the first call of a shape class outside a graph capture times them on its operands
// and keeps the fastest for the process; otherwise (and until then) ping-pong runs.
Status launch_sm90_scaled_gemm(const Sm90ScaledGemmArgs& args, void* workspace,
                               size_t workspace_bytes, cudaStream_t stream, bool autotune = true);

// `alternative` computes the same output another way (the encoder: cuBLASLt's GEMM with its bias
// epilogue; with GELU, cuBLASLt's GEMM then the bias + GELU pass). Candidates with GELU:
// cooperative, ping-pong, the alternative, small; without: the alternative, small, ping-pong.
// With kTuned and `autotune`, the first call of a shape class outside a graph capture times them and
// keeps the fastest; untimed, the alternative runs.
Status launch_sm90_bias_gemm(const Sm90BiasGemmArgs& args, FunctionRef<Status()> alternative,
                             void* workspace, size_t workspace_bytes, cudaStream_t stream,
                             bool autotune = true);

// The schedules chosen so far on `device`, for a timing cache (gemm_tuning.h), and their reuse:
// an imported shape class is not timed again.
std::vector<TunedSm90> sm90_tuned_schedules(int device);
void sm90_reuse_tuned_schedules(const std::vector<TunedSm90>& entries, int device);

}  // namespace justnews::cuda
