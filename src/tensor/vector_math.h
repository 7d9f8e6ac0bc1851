// Small reductions over float vectors that several modules score with (accuracy reports, topics,
// parity tests): accumulated in double so that a cosine near 1 keeps its last digits.
#pragma once

#include <cstdint>

namespace justnews {

// Cosine similarity of a[0, count) and b[0, count); 0 when either vector is all zeros.
double cosine_similarity(const float* a, const float* b, int64_t count);

}  // namespace justnews
