// Per-row absolute maxima of a row-major matrix: the statistic every per-channel quantizer scales
// by. Empty shapes and non-finite elements are refused with the format and tensor named.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

Result<std::vector<float>> row_absmax(const float* values, int64_t rows, int64_t columns,
                                      const std::string& format, const std::string& name);

}  // namespace justnews
