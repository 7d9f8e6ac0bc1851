// The shape class that GEMM tuning is keyed by: rows rounded up to a power of two (at least 64).
// Batches in the analyze pipeline almost never repeat a token count, so a choice timed once per
// class, not per exact row count, is what keeps tuning off the hot path.
#pragma once

#include <cstdint>

namespace justnews::cuda {

inline int64_t gemm_row_class(int64_t rows) {
  int64_t row_class = 64;
  while (row_class < rows) row_class *= 2;
  return row_class;
}

}  // namespace justnews::cuda
