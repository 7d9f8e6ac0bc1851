// GPTQ's column sweep (Frantar et al. 2023), shared by every weight format: columns are quantised
// one after another and each one's rounding error is pushed onto the columns not yet quantised,
// weighted by the inverse of `gram` = E[x xᵀ] over calibration inputs ([columns, columns], the layer
// input's second moment). What gets minimised is the layer's *output* error on inputs like the
// calibration set, not the weights' own error. The format is the caller's: it rounds each value.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

// Added to the Hessian's diagonal as a fraction of its mean (1% as in the paper).
inline constexpr float kGptqDamping = 0.01f;

// Rounds weights[row, column] (= value) in the caller's format: stores the code wherever the caller
// keeps it and returns the value the code stands for.
using GptqRound = std::function<float(int64_t row, int64_t column, float value)>;
// Runs before column `column` is rounded, with the weights as the sweep has updated them (formats
// with group-wise scales choose a group's scale at its first column). May be empty.
using GptqBeforeColumn = std::function<void(int64_t column, const std::vector<float>& weights)>;

// `weights` ([rows, columns] row-major) is updated in place; afterwards each entry is the value the
// sweep rounded (not yet rounded itself). Weights of inputs that never fired (a zero diagonal) are
// zeroed: no calibration input can say what they should be. Errors name `format` and `name`.
Status gptq_sweep(std::vector<float>& weights, int64_t rows, int64_t columns, const float* gram,
                  float damping, const std::string& format, const std::string& name,
                  const GptqBeforeColumn& before_column, const GptqRound& round);

// The second moment of the smoothed input x / s (SmoothQuant divides the input by `smoothing` and
// multiplies the weights by it): diag(1/s) · gram · diag(1/s), [n, n].
std::vector<float> gram_after_smoothing(const float* gram, const float* smoothing, int64_t n);

}  // namespace justnews
