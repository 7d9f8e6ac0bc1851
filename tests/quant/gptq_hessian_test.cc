// GPTQ's inverse-Hessian factor U (Uᵀ U = H⁻¹, upper-triangular) from LAPACK, checked against a
// hand-derived 2x2 case and, on random correlated Hessians of odd sizes, against the definition
// itself (Uᵀ U H = I) and against a plain-loop reference (factorise H, invert, factorise the
// inverse); matrices that are not positive definite are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "quant/gptq_hessian.h"

namespace justnews {
namespace {

// E[x xᵀ] of `samples` correlated inputs (a shared component on every channel) plus a little
// damping, as GPTQ sees it.
std::vector<double> random_hessian(int64_t n, uint32_t seed) {
  const int64_t samples = 3 * n;
  std::mt19937 generator(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> inputs(static_cast<size_t>(samples * n));
  for (int64_t sample_idx = 0; sample_idx < samples; ++sample_idx) {
    const double shared = normal(generator);
    for (int64_t col = 0; col < n; ++col)
      inputs[sample_idx * n + col] = normal(generator) + 0.8 * shared;
  }
  std::vector<double> hessian(static_cast<size_t>(n * n), 0.0);
  for (int64_t sample_idx = 0; sample_idx < samples; ++sample_idx)
    for (int64_t row = 0; row < n; ++row)
      for (int64_t col = 0; col < n; ++col)
        hessian[row * n + col] += inputs[sample_idx * n + row] * inputs[sample_idx * n + col] / samples;
  for (int64_t idx = 0; idx < n; ++idx) hessian[idx * n + idx] += 0.01;
  return hessian;
}

// Lower Cholesky factor by the textbook loops.
std::vector<double> reference_cholesky_lower(const std::vector<double>& a, int64_t n) {
  std::vector<double> lower(static_cast<size_t>(n * n), 0.0);
  for (int64_t col = 0; col < n; ++col) {
    double diagonal = a[col * n + col];
    for (int64_t k = 0; k < col; ++k) diagonal -= lower[col * n + k] * lower[col * n + k];
    lower[col * n + col] = std::sqrt(diagonal);
    for (int64_t row = col + 1; row < n; ++row) {
      double sum = a[row * n + col];
      for (int64_t k = 0; k < col; ++k) sum -= lower[row * n + k] * lower[col * n + k];
      lower[row * n + col] = sum / lower[col * n + col];
    }
  }
  return lower;
}

// The GPTQ paper's route: H⁻¹ from H's factor by forward / back substitution, then U = chol(H⁻¹)ᵀ.
std::vector<double> reference_upper_factor(const std::vector<double>& hessian, int64_t n) {
  const std::vector<double> lower = reference_cholesky_lower(hessian, n);
  std::vector<double> inverse(static_cast<size_t>(n * n), 0.0);
  for (int64_t unit = 0; unit < n; ++unit) {
    std::vector<double> y(static_cast<size_t>(n), 0.0);  // L y = e_unit
    for (int64_t row = 0; row < n; ++row) {
      double sum = row == unit ? 1.0 : 0.0;
      for (int64_t k = 0; k < row; ++k) sum -= lower[row * n + k] * y[k];
      y[row] = sum / lower[row * n + row];
    }
    for (int64_t row = n - 1; row >= 0; --row) {  // Lᵀ x = y
      double sum = y[row];
      for (int64_t k = row + 1; k < n; ++k) sum -= lower[k * n + row] * inverse[k * n + unit];
      inverse[row * n + unit] = sum / lower[row * n + row];
    }
  }
  const std::vector<double> inverse_lower = reference_cholesky_lower(inverse, n);
  std::vector<double> upper(static_cast<size_t>(n * n), 0.0);
  for (int64_t row = 0; row < n; ++row)
    for (int64_t col = row; col < n; ++col) upper[row * n + col] = inverse_lower[col * n + row];
  return upper;
}

TEST(GptqHessian, TwoByTwoMatchesTheHandDerivedFactor) {
  // H = [[4, 2], [2, 3]]: H⁻¹ = [[3, -2], [-2, 4]] / 8, so u00² = 3/8, u00 u01 = -2/8,
  // u01² + u11² = 4/8.
  std::vector<double> hessian = {4.0, 2.0, 2.0, 3.0};
  ASSERT_TRUE(gptq_inverse_upper_factor(hessian, 2));
  const double u00 = std::sqrt(3.0 / 8.0), u01 = -0.25 / u00;
  const double u11 = std::sqrt(0.5 - u01 * u01);
  EXPECT_NEAR(hessian[0], u00, 1e-14);
  EXPECT_NEAR(hessian[1], u01, 1e-14);
  EXPECT_EQ(hessian[2], 0.0);
  EXPECT_NEAR(hessian[3], u11, 1e-14);
}

TEST(GptqHessian, FactorInvertsRandomCorrelatedHessians) {
  for (const int64_t n : {1, 7, 64, 193}) {
    const std::vector<double> hessian = random_hessian(n, static_cast<uint32_t>(n));
    std::vector<double> upper = hessian;
    ASSERT_TRUE(gptq_inverse_upper_factor(upper, n)) << "n = " << n;
    // Uᵀ U H = I, and U is upper-triangular with a positive diagonal.
    std::vector<double> gram_of_upper(static_cast<size_t>(n * n), 0.0);
    for (int64_t row = 0; row < n; ++row)
      for (int64_t col = 0; col < n; ++col)
        for (int64_t k = 0; k <= std::min(row, col); ++k)
          gram_of_upper[row * n + col] += upper[k * n + row] * upper[k * n + col];
    double worst = 0.0;
    for (int64_t row = 0; row < n; ++row) {
      EXPECT_GT(upper[row * n + row], 0.0);
      for (int64_t col = 0; col < row; ++col) EXPECT_EQ(upper[row * n + col], 0.0);
      for (int64_t col = 0; col < n; ++col) {
        double product = 0.0;
        for (int64_t k = 0; k < n; ++k) product += gram_of_upper[row * n + k] * hessian[k * n + col];
        worst = std::max(worst, std::fabs(product - (row == col ? 1.0 : 0.0)));
      }
    }
    EXPECT_LT(worst, 1e-9) << "n = " << n;
    const std::vector<double> reference = reference_upper_factor(hessian, n);
    for (int64_t idx = 0; idx < n * n; ++idx)
      ASSERT_NEAR(upper[idx], reference[idx], 1e-9 * std::fabs(reference[idx]) + 1e-12)
          << "n = " << n << ", element " << idx;
  }
}

TEST(GptqHessian, RefusesMatricesThatAreNotPositiveDefinite) {
  std::vector<double> indefinite = {1.0, 2.0, 2.0, 1.0};  // eigenvalues 3 and -1
  EXPECT_FALSE(gptq_inverse_upper_factor(indefinite, 2));
  std::vector<double> singular = {1.0, 1.0, 1.0, 1.0};
  EXPECT_FALSE(gptq_inverse_upper_factor(singular, 2));
  std::vector<double> wrong_size = {1.0, 0.0, 0.0};
  EXPECT_FALSE(gptq_inverse_upper_factor(wrong_size, 2));
  std::vector<double> empty;
  EXPECT_FALSE(gptq_inverse_upper_factor(empty, 0));
}

}  // namespace
}  // namespace justnews
