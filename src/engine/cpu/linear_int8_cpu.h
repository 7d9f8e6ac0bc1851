// INT8 W8A8 linear layers on the CPU: output = act((Xq · Wqᵀ) · sx · sw + bias) with int8 weights
// (per output channel scale sw) and activations quantised on the fly to uint8 = int8 + 128 (per
// token, or one calibrated scale for the tensor). The AVX-512 VNNI kernel (vpdpbusd: u8 × s8,
// four products summed into an int32 lane) needs the unsigned activations; the +128 shift is
// removed with a per-column correction 128 · Σk Wq[n, k] computed once at preparation. Optional
// SmoothQuant factors divide the activations while they are quantised (the weights were multiplied
// by them at preparation). Where AMX is available (amx_cpu.h) blocks of 32 rows run on the tile
// unit (tdpbusd, same u8 × s8 products and packed layout); without VNNI at run time a scalar
// kernel does the same integer math.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/cpu/linear_cpu.h"
#include "quant/int8_quant.h"

namespace justnews {

// prepare_int8_linear's input_floor when the input has none (symmetric codes).
inline constexpr float kNoInputFloor = std::numeric_limits<float>::quiet_NaN();

struct Int8LinearWeights {
  int64_t out_features = 0, in_features = 0;
  int64_t padded_in = 0;                  // in_features rounded up to 64 (one AMX tile row)
  int64_t padded_out = 0;                 // out_features rounded up to 64 (one kernel tile)
  std::vector<int8_t> packed;             // [padded_out/64][padded_in/4][4][16][4]
  std::vector<float> weight_scales;       // [padded_out]
  std::vector<int32_t> shift_correction;  // [padded_out]: 128 · Σk Wq[n, k]
  std::vector<float> inv_smoothing;       // [in_features] or empty
  float static_activation_scale = 0.0f;   // > 0: per-tensor activations; 0: per-token
  // Asymmetric codes (an input with a known floor, e.g. the GELU output): the codes are of
  // x / s + input_offset[k] >= 0 over [0, 255] (twice the resolution of symmetric codes), no +128
  // shift (shift_correction is zero), and offset_bias = -sw[n] · Σk input_offset[k] · Wq[n, k]
  // is added to the bias. Both empty for symmetric codes.
  std::vector<float> input_offset;        // [in_features]
  std::vector<float> offset_bias;         // [out_features]
  int64_t memory_bytes() const;           // codes + scales + correction + smoothing + offsets
};

// weight: [out_features, in_features] float32. smoothing: SmoothQuant factors [in_features] or
// null. static_activation_absmax > 0 selects a calibrated per-tensor activation scale (of the
// input after smoothing; values beyond it clip). gram: E[x xᵀ] of the input ([in, in], before
// smoothing) or null; with it the codes come from GPTQ. input_floor (<= 0, or NaN for none): the
// lowest value the input takes (GELU: kGeluFloor, quant/int8_quant.h; ReLU: 0); with it the
// activation codes are asymmetric (Int8LinearWeights::input_offset). Errors name `name`.
Result<Int8LinearWeights> prepare_int8_linear(const float* weight, int64_t out_features,
                                              int64_t in_features, const float* smoothing,
                                              float static_activation_absmax,
                                              const std::string& name,
                                              const float* gram = nullptr,
                                              float input_floor = kNoInputFloor);

// input [rows, in_features] → output [rows, out_features] (row-major, contiguous). `use_simd`
// false forces the scalar kernel (tests compare the two).
void linear_int8_cpu(const float* input, int64_t rows, const Int8LinearWeights& weights,
                     const float* bias, Epilogue epilogue, float* output, ThreadPool* pool,
                     bool use_simd = true);

// Whether this CPU runs the VNNI kernel (AVX-512 F/BW/VNNI).
bool cpu_has_avx512_vnni();

}  // namespace justnews
