// Precision names and parsing.
#include "quant/precision.h"

namespace justnews {

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
    case Precision::kInt8WeightOnly:
      return "int8-weight-only";
    case Precision::kFp8:
      return "fp8";
    case Precision::kInt4:
      return "int4";
    case Precision::kNf4:
      return "nf4";
  }
  return "unknown";
}

std::vector<Precision> all_precisions() {
  return {Precision::kFp32, Precision::kBf16, Precision::kInt8, Precision::kInt8WeightOnly,
          Precision::kFp8,  Precision::kInt4, Precision::kNf4};
}

Result<Precision> parse_precision(std::string_view name) {
  std::string known;
  for (Precision precision : all_precisions()) {
    if (name == precision_name(precision)) return precision;
    known += known.empty() ? "" : ", ";
    known += precision_name(precision);
  }
  return invalid_argument("precision '" + std::string(name) + "' is unknown; expected one of " +
                          known);
}

}  // namespace justnews
