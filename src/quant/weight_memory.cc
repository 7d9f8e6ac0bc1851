// Weight memory per precision (matches what the quantisers in this module allocate).
#include "quant/weight_memory.h"

#include "quant/int4_quant.h"

namespace justnews {

WeightMemory linear_weight_memory(Precision precision, int64_t out_features, int64_t in_features,
                                  int64_t group_size) {
  const int64_t count = out_features * in_features;
  WeightMemory memory;
  switch (precision) {
    case Precision::kFp32:
      memory.code_bytes = 4 * count;
      break;
    case Precision::kBf16:
      memory.code_bytes = 2 * count;
      break;
    case Precision::kInt8:
    case Precision::kInt8WeightOnly:
    case Precision::kFp8:
      memory.code_bytes = count;
      memory.scale_bytes = 4 * out_features;
      break;
    case Precision::kInt4:
    case Precision::kNf4: {
      const int64_t groups = group_size > 0 ? count / group_size : 0;
      const int64_t blocks = (groups + kScaleBlockSize - 1) / kScaleBlockSize;
      memory.code_bytes = (count + 1) / 2;
      memory.scale_bytes = groups + 4 * blocks + 4;
      break;
    }
  }
  return memory;
}

}  // namespace justnews
