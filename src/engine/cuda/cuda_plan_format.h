// What the CUDA plan builder (cuda_plan_builder.cc) and the encoder that loads its plans
// (cuda_encoder.cc) must agree on: tensor names, alignment, the configuration check, and the
// activation workspace a plan's batch limits imply. Internal to src/engine/cuda.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "engine/cuda/cuda_encoder.h"
#include "model/encoder_config.h"
#include "quant/activation_stats.h"

namespace justnews::cuda_plan {

// Tensors in a plan's weights section, and regions of the device workspace, start at multiples of
// this (the widest vector load).
inline constexpr size_t kAlignBytes = 256;
inline size_t align_up(size_t value, size_t alignment = kAlignBytes) {
  return (value + alignment - 1) / alignment * alignment;
}

inline bool is_w8a8(cuda::LinearFormat format) {
  return format == cuda::LinearFormat::kFp8 || format == cuda::LinearFormat::kInt8;
}
inline bool is_int4(cuda::LinearFormat format) {
  return format == cuda::LinearFormat::kInt4 || format == cuda::LinearFormat::kNf4;
}
// Formats whose weights are decoded into the activation precision before (large-batch) GEMMs.
inline bool is_weight_only(cuda::LinearFormat format) {
  return is_int4(format) || format == cuda::LinearFormat::kInt8WeightOnly;
}

// Whether the model and build options allow the encoder's calibrated codes path, where attention
// and the FFN-in GEMM write the next GEMM's input codes themselves: a W8A8 format, erf-GELU (not
// approximated by tanh) and head dims 32 / 64 / 128. The encoder also needs an attention kernel
// that writes codes and calibrated scales at every layer; the plan builder writes what only that
// path reads (the FFN-out input's floor for asymmetric codes) where this holds.
inline bool model_allows_codes_path(const EncoderConfig& config, const CudaEncoderOptions& options) {
  const int64_t head_dim = config.head_dim();
  return is_w8a8(options.linear_format) && config.activation == Activation::kGeluErf &&
         !options.gelu_erf_as_tanh && (head_dim == 32 || head_dim == 64 || head_dim == 128);
}

// Whether a plan's weight codes come from GPTQ: a code format, `gptq` on, and a calibration that
// holds the layer inputs' Gram matrices. Part of the plan key.
inline bool uses_gptq(const CudaEncoderOptions& options) {
  return options.linear_format != cuda::LinearFormat::kNative && options.gptq &&
         options.calibration && !options.calibration->layers.empty() &&
         !options.calibration->site(0, LinearSite::kQkv).gram.empty();
}

// The model and options the CUDA encoder can run, or a Status naming the field that it cannot.
Status check_config(const EncoderConfig& config, const CudaEncoderOptions& options);

// Per-layer tensor names in a plan: "layer.<idx>.<role>"; a linear layer's tensors are its role
// ("qkv", "attention_output", "ffn_in", "ffn_out") plus a suffix ("_weight", "_weight_scale", ...).
std::string layer_tensor(size_t layer_idx, const char* role);
std::string site_tensor(int64_t layer_idx, LinearSite site, const char* suffix);

// Bytes of the encoder's device workspace for the options' batch limits (cuda_encoder.cc).
size_t workspace_bytes(const EncoderConfig& config, const CudaEncoderOptions& options);

}  // namespace justnews::cuda_plan
