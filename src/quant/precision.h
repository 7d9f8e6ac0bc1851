// Precision: the numeric formats an encoder's linear layers can run in, with their CLI names.
// Device-neutral: a backend says which of these it implements.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace justnews {

enum class Precision {
  kFp32,            // reference
  kBf16,            // weights and activations rounded to bfloat16, float32 accumulation
  kInt8,            // W8A8: per-channel int8 weights, per-token (or calibrated) int8 activations
  kInt8WeightOnly,  // per-channel int8 weights, float32 activations
  kFp8,             // FP8 E4M3 per-channel weights (weight-only where no FP8 units exist)
  kInt4,            // group-wise symmetric int4 weights, double-quantised scales
  kNf4,             // group-wise NF4 weights (bitsandbytes codebook), double-quantised scales
};

// "fp32", "bf16", "int8", "int8-weight-only", "fp8", "int4", "nf4".
const char* precision_name(Precision precision);
Result<Precision> parse_precision(std::string_view name);
// Every precision, in the order above.
std::vector<Precision> all_precisions();

}  // namespace justnews
