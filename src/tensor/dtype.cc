// DType tables and IEEE half conversions.
#include "tensor/dtype.h"

#include <cmath>

namespace justnews {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
  bool is_float;
};

constexpr DTypeInfo kInfos[] = {
    {DType::kF32, "F32", 4, true},    {DType::kF16, "F16", 2, true},
    {DType::kBF16, "BF16", 2, true},  {DType::kF64, "F64", 8, true},
    {DType::kI64, "I64", 8, false},   {DType::kI32, "I32", 4, false},
    {DType::kI16, "I16", 2, false},   {DType::kI8, "I8", 1, false},
    {DType::kU8, "U8", 1, false},     {DType::kBool, "BOOL", 1, false},
    {DType::kF8E4M3, "F8_E4M3", 1, true}, {DType::kF8E5M2, "F8_E5M2", 1, true},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& entry : kInfos)
    if (entry.dtype == dtype) return entry;
  return kInfos[0];  // unreachable: every enumerator is in the table
}

}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
std::string_view dtype_name(DType dtype) { return info(dtype).name; }
bool dtype_is_float(DType dtype) { return info(dtype).is_float; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& entry : kInfos)
    if (entry.name == name) return entry.dtype;
  return std::nullopt;
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = (bits >> 15) & 1u;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // subnormal
  } else if (exponent == 31) {
    magnitude = mantissa ? std::nanf("") : INFINITY;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

uint16_t f32_to_f16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof(word));
  const uint32_t sign = (word >> 16) & 0x8000u;
  const uint32_t abs_word = word & 0x7fffffffu;
  if (abs_word > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs_word >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs_word < 0x38800000u) {  // subnormal or zero in half precision
    float abs_value;
    std::memcpy(&abs_value, &abs_word, sizeof(abs_value));
    const float scaled = abs_value * 16777216.0f;  // 2^24: one half-subnormal ulp becomes 1.0
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  // Normal: rebias exponent (127 -> 15) and round mantissa 23 -> 10 bits to nearest even.
  uint32_t rounded = abs_word + 0xfffu + ((abs_word >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

}  // namespace justnews
