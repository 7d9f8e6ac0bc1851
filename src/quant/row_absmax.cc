// row_absmax implementation.
#include "quant/row_absmax.h"

#include <algorithm>
#include <cmath>

namespace justnews {

Result<std::vector<float>> row_absmax(const float* values, int64_t rows, int64_t columns,
                                      const std::string& format, const std::string& name) {
  const std::string what = format + " quantisation of " + name;
  if (rows <= 0 || columns <= 0)
    return invalid_argument(what + ": shape [" + std::to_string(rows) + ", " +
                            std::to_string(columns) + "] is empty; expected rows, columns > 0");
  std::vector<float> absmax(static_cast<size_t>(rows), 0.0f);
  for (int64_t row_idx = 0; row_idx < rows; ++row_idx) {
    const float* row = values + row_idx * columns;
    for (int64_t col_idx = 0; col_idx < columns; ++col_idx) {
      if (!std::isfinite(row[col_idx]))
        return invalid_argument(what + ": element [" + std::to_string(row_idx) + ", " +
                                std::to_string(col_idx) + "] is not finite");
      absmax[static_cast<size_t>(row_idx)] =
          std::max(absmax[static_cast<size_t>(row_idx)], std::fabs(row[col_idx]));
    }
  }
  return absmax;
}

}  // namespace justnews
