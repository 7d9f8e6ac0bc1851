// Small reductions over float vectors (see vector_math.h).
#include "tensor/vector_math.h"

#include <cmath>

namespace justnews {

double cosine_similarity(const float* a, const float* b, int64_t count) {
  double dot = 0, norm_a = 0, norm_b = 0;
  for (int64_t idx = 0; idx < count; ++idx) {
    dot += static_cast<double>(a[idx]) * b[idx];
    norm_a += static_cast<double>(a[idx]) * a[idx];
    norm_b += static_cast<double>(b[idx]) * b[idx];
  }
  if (norm_a == 0 || norm_b == 0) return 0;
  return dot / std::sqrt(norm_a * norm_b);
}

}  // namespace justnews
