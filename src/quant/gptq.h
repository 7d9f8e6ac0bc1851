// GPTQ's column sweep (Frantar et al. 2023), shared by every weight format: columns are quantised
// one after another and each one's rounding error is pushed onto the columns not yet quantised,
// weighted by the inverse of `gram` = E[x xᵀ] over calibration inputs ([columns, columns], the layer
// input's second moment). What gets minimised is the layer's *output* error on inputs like the
// calibration set, not the weights' own error. The format is the caller's: it rounds each value
// with scales it chose before the sweep. With `act_order` the columns go by falling E[x²] (the most
// influential first, while the most columns remain to absorb their error): for the group-wise
// 4-bit formats, with their scales fixed up front ("static groups"), this measured better than
// choosing each group's scale when the sweep reached it (MiniLM, AG News titles: int4 cosine
// 0.9791 vs 0.9761, nf4 0.9859 vs 0.9854, worst titles 0.955 / 0.973 vs 0.945 / 0.961). At 8 bits
// it moved the report within its noise (int8 weight-only 0.99981 vs 0.99979), so those keep the
// matrix's column order, the codes the H200 figures were measured with.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews {

// Added to the Hessian's diagonal as a fraction of its mean (1% as in the paper).
inline constexpr float kGptqDamping = 0.01f;

// Rounds weights[row, column] (= value; `column` in the matrix's own order) in the caller's format:
// stores the code wherever the caller keeps it and returns the value the code stands for.
using GptqRound = std::function<float(int64_t row, int64_t column, float value)>;

// `weights` ([rows, columns] row-major) is updated in place; afterwards each entry is the value the
// sweep rounded (not yet rounded itself). Weights of inputs that never fired (a zero diagonal) are
// zeroed: no calibration input can say what they should be. Errors name `format` and `name`.
Status gptq_sweep(std::vector<float>& weights, int64_t rows, int64_t columns, const float* gram,
                  float damping, const std::string& format, const std::string& name,
                  const GptqRound& round, bool act_order = false);

// Every weight through `round` (a GptqRound), for formats whose scales are fixed before rounding:
// via the GPTQ sweep (kGptqDamping, the matrix's column order) when `gram` is given, else each
// value as it is (round to nearest, `round` called directly: the CPU backends quantise at load).
// `values`: [rows, columns] row-major.
template <class Round>
Status round_weights(const float* values, int64_t rows, int64_t columns, const float* gram,
                     const std::string& format, const std::string& name, const Round& round) {
  if (gram) {
    std::vector<float> work(values, values + rows * columns);
    return gptq_sweep(work, rows, columns, gram, kGptqDamping, format, name, round);
  }
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < columns; ++col) round(row, col, values[row * columns + col]);
  return ok_status();
}

// The second moment of the smoothed input x / s (SmoothQuant divides the input by `smoothing` and
// multiplies the weights by it): diag(1/s) · gram · diag(1/s), [n, n].
std::vector<float> gram_after_smoothing(const float* gram, const float* smoothing, int64_t n);

}  // namespace justnews
