// Quantised CPU linear layers against a float64 reference GEMM, with tolerances derived from each
// format: INT8 W8A8 within Σk (|x|·sw/2 + |w|·sx/2 + sx·sw/4) per output, BF16 within 2^-8·Σ|x||w|,
// weight-only formats equal to the GEMM with their own dequantised weights. The VNNI and BF16 SIMD
// kernels must agree with their scalar twins, on shapes that exercise every tile edge.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "engine/cpu/linear_bf16_cpu.h"
#include "engine/cpu/linear_int8_cpu.h"
#include "engine/cpu/quantized_linear_cpu.h"
#include "quant/activation_stats.h"
#include "quant/int4_quant.h"
#include "quant/int8_quant.h"

namespace justnews {
namespace {

struct Problem {
  int64_t rows, in, out;
  std::vector<float> input, weight, bias;
};

Problem make_problem(int64_t rows, int64_t in, int64_t out, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem problem{rows, in, out, {}, {}, {}};
  for (int64_t idx = 0; idx < rows * in; ++idx) problem.input.push_back(normal(generator));
  for (int64_t idx = 0; idx < out * in; ++idx) problem.weight.push_back(0.05f * normal(generator));
  for (int64_t idx = 0; idx < out; ++idx) problem.bias.push_back(normal(generator));
  return problem;
}

// output[r, n] = Σk input[r, k] · weight[n, k] + bias[n], in float64.
std::vector<double> reference_gemm(const Problem& problem, const std::vector<float>& weight) {
  std::vector<double> output(static_cast<size_t>(problem.rows * problem.out));
  for (int64_t row = 0; row < problem.rows; ++row)
    for (int64_t col = 0; col < problem.out; ++col) {
      double sum = problem.bias[static_cast<size_t>(col)];
      for (int64_t k = 0; k < problem.in; ++k)
        sum += static_cast<double>(problem.input[static_cast<size_t>(row * problem.in + k)]) *
               weight[static_cast<size_t>(col * problem.in + k)];
      output[static_cast<size_t>(row * problem.out + col)] = sum;
    }
  return output;
}

float row_absmax(const float* values, int64_t count) {
  float absmax = 0.0f;
  for (int64_t idx = 0; idx < count; ++idx) absmax = std::max(absmax, std::fabs(values[idx]));
  return absmax;
}

class Int8LinearTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(Int8LinearTest, WithinTheFormatBoundOfFp32AndSimdEqualsScalar) {
  const auto [rows, in, out] = GetParam();
  const Problem problem = make_problem(rows, in, out, 11);
  auto weights = prepare_int8_linear(problem.weight.data(), out, in, nullptr, 0.0f, "w");
  ASSERT_TRUE(weights.ok()) << weights.status().to_string();
  ThreadPool pool(2);
  std::vector<float> simd(static_cast<size_t>(rows * out)), scalar(simd.size());
  linear_int8_cpu(problem.input.data(), rows, *weights, problem.bias.data(), Epilogue::kNone,
                  simd.data(), &pool, true);
  linear_int8_cpu(problem.input.data(), rows, *weights, problem.bias.data(), Epilogue::kNone,
                  scalar.data(), nullptr, false);
  const std::vector<double> exact = reference_gemm(problem, problem.weight);
  for (int64_t row = 0; row < rows; ++row) {
    const float sx = row_absmax(&problem.input[static_cast<size_t>(row * in)], in) / 127.0f;
    for (int64_t col = 0; col < out; ++col) {
      const float sw = row_absmax(&problem.weight[static_cast<size_t>(col * in)], in) / 127.0f;
      double bound = 0.0;
      for (int64_t k = 0; k < in; ++k)
        bound += std::fabs(problem.input[static_cast<size_t>(row * in + k)]) * sw / 2 +
                 std::fabs(problem.weight[static_cast<size_t>(col * in + k)]) * sx / 2 +
                 sx * sw / 4;
      const size_t idx = static_cast<size_t>(row * out + col);
      EXPECT_LE(std::fabs(simd[idx] - exact[idx]), bound * 1.001 + 1e-5) << row << "," << col;
      EXPECT_NEAR(simd[idx], scalar[idx], 1e-4 * (1 + std::fabs(scalar[idx])));
    }
  }
}

// Rows and columns off every tile boundary (4 rows, 64 columns), in_features not a multiple of 4.
INSTANTIATE_TEST_SUITE_P(Shapes, Int8LinearTest,
                         ::testing::Values(std::tuple<int64_t, int64_t, int64_t>{1, 64, 16},
                                           std::tuple<int64_t, int64_t, int64_t>{7, 130, 70},
                                           std::tuple<int64_t, int64_t, int64_t>{200, 384, 1152},
                                           std::tuple<int64_t, int64_t, int64_t>{37, 1536, 384},
                                           std::tuple<int64_t, int64_t, int64_t>{5, 3, 2}));

TEST(Int8Linear, SmoothQuantShrinksTheErrorOfAnOutlierChannel) {
  Problem problem = make_problem(64, 256, 128, 12);
  for (int64_t row = 0; row < problem.rows; ++row)
    problem.input[static_cast<size_t>(row * 256 + 17)] *= 60.0f;
  std::vector<float> channel_absmax(256, 0.0f);
  for (int64_t row = 0; row < problem.rows; ++row)
    for (int64_t k = 0; k < 256; ++k)
      channel_absmax[static_cast<size_t>(k)] =
          std::max(channel_absmax[static_cast<size_t>(k)],
                   std::fabs(problem.input[static_cast<size_t>(row * 256 + k)]));
  const std::vector<float> factors =
      smoothing_factors(channel_absmax, problem.weight.data(), 128, 256, 0.5f);
  auto plain = prepare_int8_linear(problem.weight.data(), 128, 256, nullptr, 0.0f, "w");
  auto smooth = prepare_int8_linear(problem.weight.data(), 128, 256, factors.data(), 0.0f, "w");
  ASSERT_TRUE(plain.ok() && smooth.ok());
  std::vector<float> plain_out(64 * 128), smooth_out(64 * 128);
  linear_int8_cpu(problem.input.data(), 64, *plain, problem.bias.data(), Epilogue::kNone,
                  plain_out.data(), nullptr);
  linear_int8_cpu(problem.input.data(), 64, *smooth, problem.bias.data(), Epilogue::kNone,
                  smooth_out.data(), nullptr);
  const std::vector<double> exact = reference_gemm(problem, problem.weight);
  double plain_error = 0.0, smooth_error = 0.0;
  for (size_t idx = 0; idx < exact.size(); ++idx) {
    plain_error += std::pow(plain_out[idx] - exact[idx], 2);
    smooth_error += std::pow(smooth_out[idx] - exact[idx], 2);
  }
  EXPECT_LT(smooth_error, 0.5 * plain_error);
}

// GELU outputs (floor -0.17) through asymmetric codes (0..255 over [floor, max]) against symmetric
// ones (+-127): per token and with a calibrated scale, plain and with SmoothQuant-like factors. The
// step is about half as large, so the activations' share of the squared error (measured against
// the GEMM with the same int8 weights, dequantised) about a quarter; SIMD equals scalar.
TEST(Int8Linear, AsymmetricCodesShrinkTheErrorOfAGeluOutput) {
  Problem problem = make_problem(48, 384, 96, 15);
  float largest = 0.0f;
  for (float& value : problem.input) {
    value = 0.5f * value * (1.0f + std::erf(value / std::sqrt(2.0f)));
    largest = std::max(largest, value);
  }
  std::mt19937 generator(16);
  std::uniform_real_distribution<float> exponent(-1.0f, 1.0f);
  std::vector<float> factors(384);
  for (float& factor : factors) factor = std::exp2(exponent(generator));
  for (const bool smooth : {false, true}) {
    // x · Wᵀ = (x / s) · (W s)ᵀ: the weights the kernel quantises, rounded as it rounds them.
    std::vector<float> scaled = problem.weight;
    for (size_t idx = 0; idx < scaled.size(); ++idx)
      if (smooth) scaled[idx] *= factors[idx % 384];
    auto matrix = quantize_int8_per_row(scaled.data(), 96, 384, "w");
    ASSERT_TRUE(matrix.ok());
    std::vector<float> dequantised = dequantize_int8(*matrix);
    for (size_t idx = 0; idx < dequantised.size(); ++idx)
      if (smooth) dequantised[idx] /= factors[idx % 384];
    const std::vector<double> exact = reference_gemm(problem, dequantised);
    for (const float static_absmax : {0.0f, smooth ? largest * 2.0f : largest}) {
      const float* smoothing = smooth ? factors.data() : nullptr;
      auto symmetric =
          prepare_int8_linear(problem.weight.data(), 96, 384, smoothing, static_absmax, "w");
      auto asymmetric = prepare_int8_linear(problem.weight.data(), 96, 384, smoothing,
                                            static_absmax, "w", nullptr, kGeluFloor);
      ASSERT_TRUE(symmetric.ok() && asymmetric.ok());
      EXPECT_EQ(asymmetric->input_offset.size(), 384u);
      std::vector<float> symmetric_out(48 * 96), asymmetric_out(48 * 96), scalar_out(48 * 96);
      linear_int8_cpu(problem.input.data(), 48, *symmetric, problem.bias.data(), Epilogue::kNone,
                      symmetric_out.data(), nullptr);
      linear_int8_cpu(problem.input.data(), 48, *asymmetric, problem.bias.data(), Epilogue::kNone,
                      asymmetric_out.data(), nullptr);
      linear_int8_cpu(problem.input.data(), 48, *asymmetric, problem.bias.data(), Epilogue::kNone,
                      scalar_out.data(), nullptr, /*use_simd=*/false);
      double symmetric_error = 0.0, asymmetric_error = 0.0;
      for (size_t idx = 0; idx < exact.size(); ++idx) {
        symmetric_error += std::pow(symmetric_out[idx] - exact[idx], 2);
        asymmetric_error += std::pow(asymmetric_out[idx] - exact[idx], 2);
        EXPECT_NEAR(asymmetric_out[idx], scalar_out[idx], 1e-4 * (1 + std::fabs(scalar_out[idx])));
      }
      std::printf("%s, static absmax %.2f: asymmetric / symmetric squared error %.3f\n",
                  smooth ? "smoothed" : "plain", static_absmax, asymmetric_error / symmetric_error);
      EXPECT_LT(asymmetric_error, 0.4 * symmetric_error)
          << (smooth ? "smoothed" : "plain") << ", static absmax " << static_absmax;
    }
  }
  for (const float bad : {0.5f, -std::numeric_limits<float>::infinity()}) {
    auto refused = prepare_int8_linear(problem.weight.data(), 96, 384, nullptr, 0.0f, "w", nullptr,
                                       bad);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("input floor"), std::string::npos);
  }
}

TEST(Int8Linear, StaticScaleClipsBeyondTheCalibratedRange) {
  Problem problem = make_problem(4, 64, 64, 13);
  auto weights = prepare_int8_linear(problem.weight.data(), 64, 64, nullptr, 1.0f, "w");
  ASSERT_TRUE(weights.ok());
  EXPECT_FLOAT_EQ(weights->static_activation_scale, 1.0f / 127.0f);
  std::vector<float> clipped_input = problem.input;
  for (float& value : clipped_input) value = std::clamp(value, -1.0f, 1.0f);
  std::vector<float> from_raw(4 * 64), from_clipped(4 * 64);
  linear_int8_cpu(problem.input.data(), 4, *weights, nullptr, Epilogue::kNone, from_raw.data(),
                  nullptr);
  linear_int8_cpu(clipped_input.data(), 4, *weights, nullptr, Epilogue::kNone, from_clipped.data(),
                  nullptr);
  EXPECT_EQ(from_raw, from_clipped);
}

TEST(Bf16Linear, WithinTheFormatBoundOfFp32AndSimdEqualsScalar) {
  for (auto [rows, in, out] : {std::tuple<int64_t, int64_t, int64_t>{9, 131, 70},
                               std::tuple<int64_t, int64_t, int64_t>{130, 768, 256}}) {
    const Problem problem = make_problem(rows, in, out, 14);
    auto weights = prepare_bf16_linear(problem.weight.data(), out, in, "w");
    ASSERT_TRUE(weights.ok());
    ThreadPool pool(2);
    std::vector<float> simd(static_cast<size_t>(rows * out)), scalar(simd.size());
    linear_bf16_cpu(problem.input.data(), rows, *weights, problem.bias.data(), Epilogue::kNone,
                    simd.data(), &pool, true);
    linear_bf16_cpu(problem.input.data(), rows, *weights, problem.bias.data(), Epilogue::kNone,
                    scalar.data(), nullptr, false);
    const std::vector<double> exact = reference_gemm(problem, problem.weight);
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t col = 0; col < out; ++col) {
        double magnitude = 0.0;
        for (int64_t k = 0; k < in; ++k)
          magnitude += std::fabs(problem.input[static_cast<size_t>(row * in + k)] *
                                 problem.weight[static_cast<size_t>(col * in + k)]);
        const size_t idx = static_cast<size_t>(row * out + col);
        EXPECT_LE(std::fabs(simd[idx] - exact[idx]), magnitude * (std::pow(2.0, -8) + 1e-5) + 1e-6);
        EXPECT_NEAR(simd[idx], scalar[idx], 1e-4 * (1 + magnitude));
      }
  }
}

// The shared work split (run_tiled_linear): one output tile on three threads splits rows, five
// tiles split tiles; 400 rows span several row chunks. Every split must give the single-thread
// result (INT8: exactly, its sums are integers; BF16: up to float rounding, AMX and vdpbf16ps
// accumulate in different orders), and the fused GELU must equal GELU applied to the plain output.
TEST(QuantizedLinear, WorkSplitsAndFusedEpilogueAgreeWithOneThread) {
  ThreadPool pool(3);
  for (const int64_t out : {40, 300}) {
    const int64_t rows = 400, in = 96;
    const Problem problem = make_problem(rows, in, out, 16);
    auto int8_weights = prepare_int8_linear(problem.weight.data(), out, in, nullptr, 0.0f, "w");
    auto bf16_weights = prepare_bf16_linear(problem.weight.data(), out, in, "w");
    ASSERT_TRUE(int8_weights.ok() && bf16_weights.ok());
    for (const bool bf16 : {false, true}) {
      auto run = [&](Epilogue epilogue, ThreadPool* threads) {
        std::vector<float> output(static_cast<size_t>(rows * out));
        if (bf16)
          linear_bf16_cpu(problem.input.data(), rows, *bf16_weights, problem.bias.data(), epilogue,
                          output.data(), threads);
        else
          linear_int8_cpu(problem.input.data(), rows, *int8_weights, problem.bias.data(), epilogue,
                          output.data(), threads);
        return output;
      };
      const std::vector<float> single = run(Epilogue::kNone, nullptr);
      const std::vector<float> pooled = run(Epilogue::kNone, &pool);
      const std::vector<float> gelu = run(Epilogue::kGeluErf, &pool);
      for (size_t idx = 0; idx < single.size(); ++idx) {
        const double value = single[idx];
        if (bf16)
          ASSERT_NEAR(pooled[idx], value, 1e-4 * (1.0 + std::fabs(value))) << "out " << out << ", " << idx;
        else
          ASSERT_EQ(pooled[idx], single[idx]) << "out " << out << ", " << idx;
        const double expected_gelu = 0.5 * value * (1.0 + std::erf(value / std::sqrt(2.0)));
        ASSERT_NEAR(gelu[idx], expected_gelu, 1e-3 * (1.0 + std::fabs(value)))
            << (bf16 ? "bf16" : "int8") << " out " << out << ", " << idx;
      }
    }
  }
}

TEST(QuantizedLinear, WeightOnlyFormatsEqualTheGemmOfTheirDequantisedWeights) {
  const Problem problem = make_problem(33, 256, 200, 15);
  Tensor weight = Tensor::zeros(DType::kF32, {200, 256});
  std::copy(problem.weight.begin(), problem.weight.end(), weight.mutable_data_as<float>());
  ThreadPool pool(2);
  for (Precision precision :
       {Precision::kInt8WeightOnly, Precision::kFp8, Precision::kInt4, Precision::kNf4}) {
    auto linear = QuantizedLinearCpu::prepare(weight, precision, LinearQuantOptions{}, "w");
    ASSERT_TRUE(linear.ok()) << precision_name(precision);
    std::vector<float> dequantised;
    if (precision == Precision::kInt8WeightOnly)
      dequantised = dequantize_int8(*quantize_int8_per_row(problem.weight.data(), 200, 256, "w"));
    else if (precision == Precision::kFp8)
      dequantised = dequantize_fp8(*quantize_fp8_per_row(problem.weight.data(), 200, 256, "w"));
    else
      dequantised = dequantize_int4(*quantize_int4(
          problem.weight.data(), 200, 256, 64,
          precision == Precision::kInt4 ? Int4Format::kInt4 : Int4Format::kNf4, "w"));
    const std::vector<double> expected = reference_gemm(problem, dequantised);
    std::vector<float> output(33 * 200);
    linear->run(problem.input.data(), 33, problem.bias.data(), Epilogue::kNone, output.data(),
                &pool);
    for (size_t idx = 0; idx < output.size(); ++idx)
      ASSERT_NEAR(output[idx], expected[idx], 1e-4 * (1 + std::fabs(expected[idx])))
          << precision_name(precision);
  }
}

TEST(QuantizedLinear, BadGroupSizeAndSmoothingLengthAreErrors) {
  Tensor weight = Tensor::zeros(DType::kF32, {8, 96});
  LinearQuantOptions options;
  options.group_size = 128;
  auto too_large =
      QuantizedLinearCpu::prepare(weight, Precision::kInt4, options, "layer 2 ffn_out_weight");
  ASSERT_FALSE(too_large.ok());
  EXPECT_NE(too_large.status().message().find("layer 2 ffn_out_weight"), std::string::npos);
  std::vector<float> factors(95, 1.0f);
  LinearQuantOptions smoothing;
  smoothing.smoothing = &factors;
  EXPECT_FALSE(QuantizedLinearCpu::prepare(weight, Precision::kInt8, smoothing, "w").ok());
}

}  // namespace
}  // namespace justnews
