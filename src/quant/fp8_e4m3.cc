// FP8 E4M3 encode / decode and per-row quantisation.
#include "quant/fp8_e4m3.h"
#include "quant/per_row_codes.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace justnews {
namespace {

constexpr uint8_t kFp8NaN = 0x7F;
constexpr uint8_t kFp8MaxFinite = 0x7E;  // 0.1111.110 = 1.75 · 2^8 = 448
constexpr int kExponentBias = 7;
constexpr int kMinNormalExponent = 1 - kExponentBias;  // -6
constexpr int kMantissaBits = 3;

std::array<float, 256> make_decode_table() {
  std::array<float, 256> table{};
  for (int code = 0; code < 256; ++code) {
    const int exponent_field = (code >> kMantissaBits) & 0xF;
    const int mantissa = code & 0x7;
    float magnitude;
    if ((code & 0x7F) == kFp8NaN)
      magnitude = std::nanf("");
    else if (exponent_field == 0)
      magnitude = std::ldexp(static_cast<float>(mantissa), kMinNormalExponent - kMantissaBits);
    else
      magnitude =
          std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent_field - kExponentBias);
    table[static_cast<size_t>(code)] = (code & 0x80) ? -magnitude : magnitude;
  }
  return table;
}

const std::array<float, 256>& decode_table() {
  static const std::array<float, 256> table = make_decode_table();
  return table;
}

}  // namespace

uint8_t float_to_fp8_e4m3(float value) {
  if (std::isnan(value)) return kFp8NaN;
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float magnitude = std::fabs(value);
  if (magnitude >= kFp8E4M3Max) return sign | kFp8MaxFinite;
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = f · 2^exponent, f in [0.5, 1)
  exponent -= 1;                     // now magnitude = 1.m · 2^exponent
  if (magnitude == 0.0f || exponent < kMinNormalExponent) {
    // Subnormal grid of 2^-9; a result of 8 is exactly the smallest normal (code 0x08).
    const float steps = std::nearbyint(std::ldexp(magnitude, kMantissaBits - kMinNormalExponent));
    return sign | static_cast<uint8_t>(steps);
  }
  float mantissa = std::nearbyint((std::ldexp(magnitude, -exponent) - 1.0f) * 8.0f);
  if (mantissa >= 8.0f) {  // rounded up into the next binade
    mantissa = 0.0f;
    exponent += 1;
  }
  const int code = ((exponent + kExponentBias) << kMantissaBits) | static_cast<int>(mantissa);
  return sign | static_cast<uint8_t>(std::min(code, static_cast<int>(kFp8MaxFinite)));
}

float fp8_e4m3_to_float(uint8_t code) { return decode_table()[code]; }

float fp8_scale_for_absmax(float absmax) { return absmax > 0.0f ? absmax / kFp8E4M3Max : 1.0f; }

Result<Fp8Matrix> quantize_fp8_per_row(const float* values, int64_t rows, int64_t columns,
                                       const std::string& name, const float* gram) {
  return quantize_per_row_codes<Fp8Matrix>(
      values, rows, columns, gram, "fp8", name, fp8_scale_for_absmax,
      [](float value, float scale) { return float_to_fp8_e4m3(value / scale); }, fp8_e4m3_to_float);
}

std::vector<float> dequantize_fp8(const Fp8Matrix& matrix) {
  std::vector<float> values(matrix.codes.size());
  for (int64_t row_idx = 0; row_idx < matrix.rows; ++row_idx)
    for (int64_t col_idx = 0; col_idx < matrix.columns; ++col_idx) {
      const size_t idx = static_cast<size_t>(row_idx * matrix.columns + col_idx);
      values[idx] =
          fp8_e4m3_to_float(matrix.codes[idx]) * matrix.scales[static_cast<size_t>(row_idx)];
    }
  return values;
}

}  // namespace justnews
