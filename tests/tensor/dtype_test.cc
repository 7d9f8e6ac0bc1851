#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tensor/tensor.h"

namespace justnews {
namespace {

TEST(DType, NamesRoundTrip) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kI64, DType::kBool}) {
    auto parsed = dtype_from_name(dtype_name(dtype));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, dtype);
  }
  EXPECT_FALSE(dtype_from_name("F12").has_value());
}

TEST(DType, HalfConversionsAreExactForRepresentableValues) {
  for (float value : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(f16_to_f32(f32_to_f16(value)), value) << value;
  }
  for (float value : {0.0f, 1.0f, -3.0f, 0x1p100f, -0x1.8p-100f}) {
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(value)), value) << value;
  }
}

TEST(DType, HalfConversionRoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1.0).
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + std::ldexp(1.0f, -11))), 1.0f);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);  // overflow to +inf
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(Tensor, ConvertsF16ToF32) {
  uint16_t halves[] = {f32_to_f16(1.5f), f32_to_f16(-0.25f)};
  Tensor view(DType::kF16, {2}, halves, nullptr);
  Tensor converted = view.to_f32();
  EXPECT_EQ(converted.dtype(), DType::kF32);
  EXPECT_EQ(converted.data_as<float>()[0], 1.5f);
  EXPECT_EQ(converted.data_as<float>()[1], -0.25f);
}

}  // namespace
}  // namespace justnews
