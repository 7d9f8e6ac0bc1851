// probabilities(): softmax, sigmoid and identity against double-precision formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/encoder.h"

namespace justnews {
namespace {

Tensor make_logits(const std::vector<float>& values, Shape shape) {
  Tensor tensor = Tensor::zeros(DType::kF32, std::move(shape));
  std::copy(values.begin(), values.end(), tensor.mutable_data_as<float>());
  return tensor;
}

TEST(Probabilities, SoftmaxPerRowIsStableForLargeLogits) {
  const std::vector<float> values = {1.0f, 2.0f, 3.0f, 1000.0f, 1000.0f, -1000.0f};
  const Tensor logits = make_logits(values, {2, 3});
  const Tensor probs = probabilities(logits, ProblemType::kSingleLabel);
  ASSERT_EQ(probs.shape(), (Shape{2, 3}));
  for (int row = 0; row < 2; ++row) {
    double denom = 0;
    const double top = *std::max_element(values.begin() + row * 3, values.begin() + row * 3 + 3);
    for (int c = 0; c < 3; ++c) denom += std::exp(values[row * 3 + c] - top);
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR(probs.data_as<float>()[row * 3 + c], std::exp(values[row * 3 + c] - top) / denom,
                  1e-7);
  }
  EXPECT_EQ(logits.data_as<float>()[0], 1.0f) << "input must be left untouched";
}

TEST(Probabilities, SigmoidForMultiLabel) {
  const std::vector<float> values = {-30.0f, -1.0f, 0.0f, 2.5f};
  const Tensor probs = probabilities(make_logits(values, {1, 4}), ProblemType::kMultiLabel);
  for (int c = 0; c < 4; ++c)
    EXPECT_NEAR(probs.data_as<float>()[c], 1.0 / (1.0 + std::exp(-static_cast<double>(values[c]))),
                1e-7);
}

TEST(Probabilities, RegressionIsIdentity) {
  const std::vector<float> values = {-3.5f, 0.25f};
  const Tensor probs = probabilities(make_logits(values, {2, 1}), ProblemType::kRegression);
  EXPECT_EQ(probs.data_as<float>()[0], -3.5f);
  EXPECT_EQ(probs.data_as<float>()[1], 0.25f);
}

TEST(Probabilities, EmptyLogitsStayEmpty) {
  EXPECT_TRUE(probabilities(Tensor(), ProblemType::kSingleLabel).empty());
}

}  // namespace
}  // namespace justnews
