// Weight memory accounting per precision: code bytes plus every scale that must be stored.
#pragma once

#include <cstdint>

#include "quant/precision.h"

namespace justnews {

struct WeightMemory {
  int64_t code_bytes = 0;   // the quantised (or plain) values
  int64_t scale_bytes = 0;  // per-channel / per-group scales, second-level scales, offsets
  int64_t total_bytes() const { return code_bytes + scale_bytes; }
};

// One [out_features, in_features] linear weight stored in `precision` (group_size is used by
// int4 / nf4 only). FP16 (2 bytes a value, no scales) is the baseline the goals are stated in.
WeightMemory linear_weight_memory(Precision precision, int64_t out_features, int64_t in_features,
                                  int64_t group_size);
inline int64_t fp16_weight_bytes(int64_t out_features, int64_t in_features) {
  return 2 * out_features * in_features;
}

}  // namespace justnews
