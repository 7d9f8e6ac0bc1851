// Quantizer formats against references derived from the formats themselves: exactly representable
// values survive a round trip, every other value lands within half a quantisation step, FP8 codes
// decode to the values the E4M3 definition gives, NF4 picks the nearest codebook entry, double
// quantisation never stores a scale below the true one, and bad shapes / group sizes are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "quant/activation_stats.h"
#include "quant/fp8_e4m3.h"
#include "quant/gptq.h"
#include "quant/int4_quant.h"
#include "quant/int8_quant.h"
#include "quant/precision.h"
#include "quant/weight_memory.h"

namespace justnews {
namespace {

std::vector<float> random_values(int64_t count, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& value : values) value = normal(generator);
  return values;
}

TEST(Int8Quant, ErrorIsAtMostHalfAScalePerRow) {
  const int64_t rows = 7, columns = 300;
  std::vector<float> values = random_values(rows * columns, 1);
  values[5] = 40.0f;  // an outlier widens row 0's scale only
  auto matrix = quantize_int8_per_row(values.data(), rows, columns, "w");
  ASSERT_TRUE(matrix.ok()) << matrix.status().to_string();
  const std::vector<float> restored = dequantize_int8(*matrix);
  for (int64_t row = 0; row < rows; ++row) {
    float absmax = 0.0f;
    for (int64_t col = 0; col < columns; ++col)
      absmax = std::max(absmax, std::fabs(values[row * columns + col]));
    const float scale = matrix->scales[static_cast<size_t>(row)];
    EXPECT_FLOAT_EQ(scale, absmax / 127.0f);
    for (int64_t col = 0; col < columns; ++col) {
      const size_t idx = static_cast<size_t>(row * columns + col);
      EXPECT_LE(std::fabs(restored[idx] - values[idx]), scale / 2 * (1 + 1e-6f));
      EXPECT_GE(matrix->codes[idx], -127);
    }
  }
}

TEST(Int8Quant, RepresentableValuesRoundTripExactly) {
  const float scale = 0.03125f;  // a power of two: code · scale is exact in float
  std::vector<float> values;
  for (int code = -127; code <= 127; ++code) values.push_back(static_cast<float>(code) * scale);
  auto matrix = quantize_int8_per_row(values.data(), 1, static_cast<int64_t>(values.size()), "w");
  ASSERT_TRUE(matrix.ok());
  EXPECT_EQ(dequantize_int8(*matrix), values);
}

TEST(Int8Quant, RefusesEmptyAndNonFinite) {
  std::vector<float> values = {1.0f, std::numeric_limits<float>::infinity()};
  auto bad = quantize_int8_per_row(values.data(), 1, 2, "layer 3 ffn_in_weight");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer 3 ffn_in_weight"), std::string::npos);
  EXPECT_NE(bad.status().message().find("[0, 1]"), std::string::npos);
  EXPECT_FALSE(quantize_int8_per_row(values.data(), 0, 2, "w").ok());
}

// E4M3 from its definition: bias 7, 3 mantissa bits, subnormals below 2^-6, S.1111.111 = NaN.
float e4m3_reference(int code) {
  const int exponent = (code >> 3) & 0xF, mantissa = code & 7;
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  if (exponent == 0) return sign * static_cast<float>(mantissa) / 8.0f * std::pow(2.0f, -6.0f);
  return sign * (1.0f + static_cast<float>(mantissa) / 8.0f) *
         std::pow(2.0f, static_cast<float>(exponent - 7));
}

TEST(Fp8E4M3, EveryCodeDecodesAndRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(static_cast<uint8_t>(code))));
      continue;
    }
    const float value = fp8_e4m3_to_float(static_cast<uint8_t>(code));
    EXPECT_EQ(value, e4m3_reference(code)) << "code " << code;
    if (code == 0x80) continue;  // -0 encodes back to 0x80 too, but compare values
    EXPECT_EQ(float_to_fp8_e4m3(value), code) << "code " << code;
  }
  EXPECT_EQ(fp8_e4m3_to_float(0x7E), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x01), std::pow(2.0f, -9.0f));
}

TEST(Fp8E4M3, RoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(float_to_fp8_e4m3(1e6f), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3(-1e6f), 0xFE);
  EXPECT_EQ(float_to_fp8_e4m3(1.0f + 1.0f / 16.0f), float_to_fp8_e4m3(1.0f));  // tie → even (1.000)
  EXPECT_EQ(float_to_fp8_e4m3(1.0f + 3.0f / 16.0f),
            float_to_fp8_e4m3(1.25f));                         // tie → even (1.010)
  EXPECT_EQ(float_to_fp8_e4m3(std::pow(2.0f, -10.0f)), 0x00);  // half the smallest subnormal → 0
  // Brute force: the chosen code is a nearest representable value.
  for (float value : random_values(20000, 2, 30.0f)) {
    const float decoded = fp8_e4m3_to_float(float_to_fp8_e4m3(value));
    float best = std::numeric_limits<float>::infinity();
    for (int code = 0; code < 256; ++code) {
      if ((code & 0x7F) == 0x7F) continue;
      best = std::min(best, std::fabs(e4m3_reference(code) - std::clamp(value, -448.0f, 448.0f)));
    }
    EXPECT_EQ(std::fabs(decoded - std::clamp(value, -448.0f, 448.0f)), best) << value;
  }
}

TEST(Fp8E4M3, ActivationScaleMapsTheCalibratedAbsmaxTo448) {
  EXPECT_EQ(fp8_scale_for_absmax(448.0f), 1.0f);
  EXPECT_EQ(fp8_scale_for_absmax(896.0f), 2.0f);
  EXPECT_EQ(fp8_scale_for_absmax(0.0f), 1.0f);  // an all-zero tensor must not divide by zero
  EXPECT_EQ(float_to_fp8_e4m3(200.0f / fp8_scale_for_absmax(200.0f)), 0x7E);
}

TEST(Fp8E4M3, PerRowScalesKeepRelativeErrorWithinHalfAnUlp) {
  const int64_t rows = 5, columns = 256;
  const std::vector<float> values = random_values(rows * columns, 3);
  auto matrix = quantize_fp8_per_row(values.data(), rows, columns, "w");
  ASSERT_TRUE(matrix.ok());
  const std::vector<float> restored = dequantize_fp8(*matrix);
  for (size_t idx = 0; idx < values.size(); ++idx) {
    const float scale = matrix->scales[idx / static_cast<size_t>(columns)];
    // Normal range: half an ulp is 2^-4 relative; subnormals: 2^-10 absolute (in scaled units).
    const float bound = std::max(std::fabs(values[idx]) / 16.0f, scale * std::pow(2.0f, -10.0f));
    EXPECT_LE(std::fabs(restored[idx] - values[idx]), bound * (1 + 1e-5f));
  }
}

// Squared error of one group quantised with `scale` (reference arithmetic, independent of the
// quantiser): int4 codes round-to-nearest in [-7, 7], NF4 the nearest codebook value.
double group_error(const float* group, int64_t size, float scale, Int4Format format) {
  double error = 0.0;
  for (int64_t idx = 0; idx < size; ++idx) {
    float best = std::numeric_limits<float>::infinity();
    if (format == Int4Format::kInt4) {
      const float code = std::clamp(std::round(group[idx] / scale), -7.0f, 7.0f);
      best = std::fabs(code * scale - group[idx]);
    } else {
      for (float code_value : kNf4Codebook) best = std::min(best, std::fabs(code_value * scale - group[idx]));
    }
    error += static_cast<double>(best) * best;
  }
  return error;
}

// Scales are searched per group (clipping a lone outlier can lower the error): every group's error
// is at most the plain absmax scale's (up to the double quantisation rounding the scale up), and
// weights inside the stored range are within half a step.
TEST(Int4Quant, ClippingSearchNeverLosesToTheAbsmaxScale) {
  for (const Int4Format format : {Int4Format::kInt4, Int4Format::kNf4}) {
    for (int64_t group_size : {64, 128}) {
      const int64_t rows = 12, columns = 384;
      std::vector<float> values = random_values(rows * columns, 4, 0.05f);
      for (size_t idx = 0; idx < values.size(); idx += 97) values[idx] *= 6.0f;  // outliers
      auto matrix = quantize_int4(values.data(), rows, columns, group_size, format, "w");
      ASSERT_TRUE(matrix.ok()) << matrix.status().to_string();
      const std::vector<float> restored = dequantize_int4(*matrix);
      double total_ours = 0.0, total_absmax = 0.0;
      int clipped_groups = 0;
      for (int64_t group = 0; group < rows * columns / group_size; ++group) {
        const float* first = values.data() + group * group_size;
        const float stored = matrix->scales.scale(group);
        float absmax = 0.0f;
        for (int64_t idx = 0; idx < group_size; ++idx) absmax = std::max(absmax, std::fabs(first[idx]));
        const float full = format == Int4Format::kInt4 ? absmax / 7.0f : absmax;
        EXPECT_GE(stored, 0.6f * full * (1 - 1e-5f)) << "the search stops at 0.6 of the absmax scale";
        EXPECT_LE(stored, full * 1.1f + 1e-6f);
        clipped_groups += stored < full * (1 - 1e-4f);
        double ours = 0.0;
        for (int64_t idx = 0; idx < group_size; ++idx) {
          const size_t at = static_cast<size_t>(group * group_size + idx);
          const double difference = restored[at] - values[at];
          ours += difference * difference;
          const float range = format == Int4Format::kInt4 ? 7.0f * stored : stored;
          if (format == Int4Format::kInt4 && std::fabs(values[at]) <= range)
            EXPECT_LE(std::fabs(restored[at] - values[at]), stored / 2 * (1 + 1e-5f));
        }
        const double plain = group_error(first, group_size, full, format);
        // The stored scale is the chosen one rounded up by at most one second-level step.
        EXPECT_LE(ours, plain * 1.05 + 1e-9) << "group " << group;
        total_ours += ours;
        total_absmax += plain;
      }
      EXPECT_GT(clipped_groups, 0) << "outlier groups should clip";
      EXPECT_LT(total_ours, total_absmax) << "the search must lower the total error";
    }
  }
}

// Output error of a quantised layer on inputs X: sum over rows of |X (W - Ŵ)ᵀ|².
double output_error(const std::vector<float>& inputs, int64_t samples, int64_t in,
                    const std::vector<float>& weights, const std::vector<float>& restored, int64_t out) {
  double error = 0.0;
  for (int64_t sample = 0; sample < samples; ++sample)
    for (int64_t row = 0; row < out; ++row) {
      double dot = 0.0;
      for (int64_t col = 0; col < in; ++col)
        dot += static_cast<double>(inputs[sample * in + col]) * (weights[row * in + col] - restored[row * in + col]);
      error += dot * dot;
    }
  return error;
}

// x = z A with a random mixing A: strongly correlated input channels, like a LayerNorm's output;
// and their second moment E[x xᵀ], GPTQ's statistics.
struct CorrelatedInputs {
  std::vector<float> inputs, gram;
};
CorrelatedInputs correlated_inputs(int64_t samples, int64_t in) {
  const std::vector<float> z = random_values(samples * in, 21, 1.0f);
  const std::vector<float> mixing = random_values(in * in, 22, 0.3f);
  CorrelatedInputs result;
  result.inputs.assign(static_cast<size_t>(samples * in), 0.0f);
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t k = 0; k < in; ++k)
      for (int64_t j = 0; j < in; ++j) result.inputs[s * in + j] += z[s * in + k] * mixing[k * in + j];
  result.gram.assign(static_cast<size_t>(in * in), 0.0f);
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < in; ++j)
        result.gram[i * in + j] += result.inputs[s * in + i] * result.inputs[s * in + j] / samples;
  return result;
}

// GPTQ minimises the layer's output error on correlated inputs, which round-to-nearest ignores.
TEST(Int4Quant, GptqLowersOutputErrorOnCorrelatedInputs) {
  const int64_t samples = 1500, in = 128, out = 48;
  const auto [inputs, gram] = correlated_inputs(samples, in);
  const std::vector<float> weights = random_values(out * in, 23, 0.05f);
  for (const Int4Format format : {Int4Format::kInt4, Int4Format::kNf4}) {
    auto plain = quantize_int4(weights.data(), out, in, 64, format, "w");
    auto gptq = quantize_int4_gptq(weights.data(), out, in, 64, format, gram.data(), 0.01f, "w");
    ASSERT_TRUE(plain.ok() && gptq.ok()) << gptq.status().to_string();
    const double plain_error = output_error(inputs, samples, in, weights, dequantize_int4(*plain), out);
    const double gptq_error = output_error(inputs, samples, in, weights, dequantize_int4(*gptq), out);
    std::printf("%s: output error gptq / round-to-nearest = %.3f\n",
                format == Int4Format::kInt4 ? "int4" : "nf4", gptq_error / plain_error);
    EXPECT_LT(gptq_error, 0.8 * plain_error);
    EXPECT_EQ(gptq->packed.size(), plain->packed.size());
  }
  EXPECT_FALSE(quantize_int4_gptq(weights.data(), out, in, 64, Int4Format::kInt4, nullptr, 0.01f, "w").ok());
  std::vector<float> bad_gram(static_cast<size_t>(in * in), 0.0f);
  bad_gram[1] = 5.0f;  // zero diagonal with off-diagonal mass: not positive definite
  bad_gram[in] = 5.0f;
  const auto refused = quantize_int4_gptq(weights.data(), out, in, 64, Int4Format::kInt4, bad_gram.data(), 0.0f, "w");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("positive definite"), std::string::npos) << refused.status().message();
}

// The 8-bit formats through the same sweep: codes on each row's absmax grid (the scales are
// round-to-nearest's), a lower output error, and the same refusals.
TEST(Int8AndFp8Quant, GptqLowersOutputErrorOnCorrelatedInputs) {
  const int64_t samples = 1500, in = 128, out = 48;
  const auto [inputs, gram] = correlated_inputs(samples, in);
  std::vector<float> weights = random_values(out * in, 23, 0.05f);
  weights[5] = 0.4f;  // an outlier: its row's grid is coarse, where the error gets pushed matters
  {
    auto plain = quantize_int8_per_row(weights.data(), out, in, "w");
    auto gptq = quantize_int8_per_row(weights.data(), out, in, "w", gram.data());
    ASSERT_TRUE(plain.ok() && gptq.ok()) << gptq.status().to_string();
    EXPECT_EQ(gptq->scales, plain->scales);
    for (const int8_t code : gptq->codes) EXPECT_GE(code, -127);
    const double plain_error = output_error(inputs, samples, in, weights, dequantize_int8(*plain), out);
    const double gptq_error = output_error(inputs, samples, in, weights, dequantize_int8(*gptq), out);
    std::printf("int8: output error gptq / round-to-nearest = %.3f\n", gptq_error / plain_error);
    EXPECT_LT(gptq_error, 0.8 * plain_error);
  }
  {
    auto plain = quantize_fp8_per_row(weights.data(), out, in, "w");
    auto gptq = quantize_fp8_per_row(weights.data(), out, in, "w", gram.data());
    ASSERT_TRUE(plain.ok() && gptq.ok()) << gptq.status().to_string();
    EXPECT_EQ(gptq->scales, plain->scales);
    for (const uint8_t code : gptq->codes) EXPECT_NE(code & 0x7F, 0x7F) << "no NaN codes";
    const double plain_error = output_error(inputs, samples, in, weights, dequantize_fp8(*plain), out);
    const double gptq_error = output_error(inputs, samples, in, weights, dequantize_fp8(*gptq), out);
    std::printf("fp8: output error gptq / round-to-nearest = %.3f\n", gptq_error / plain_error);
    EXPECT_LT(gptq_error, 0.8 * plain_error);
  }
  std::vector<float> not_positive_definite(static_cast<size_t>(in * in), 0.0f);
  not_positive_definite[1] = not_positive_definite[in] = 5.0f;  // zero diagonal, off-diagonal mass
  const auto refused =
      quantize_int8_per_row(weights.data(), out, in, "w.q", not_positive_definite.data());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("w.q"), std::string::npos);
  EXPECT_NE(refused.status().message().find("positive definite"), std::string::npos);
  std::vector<float> with_nan = weights;
  with_nan[7] = std::nanf("");
  EXPECT_FALSE(quantize_fp8_per_row(with_nan.data(), out, in, "w", gram.data()).ok());
}

// SmoothQuant divides the input by s: the second moment GPTQ must see is that of x / s.
TEST(GptqStatistics, GramAfterSmoothingIsTheSmoothedInputsSecondMoment) {
  const int64_t samples = 200, in = 16;
  const auto [inputs, gram] = correlated_inputs(samples, in);
  std::vector<float> smoothing(static_cast<size_t>(in));
  for (int64_t k = 0; k < in; ++k) smoothing[k] = 0.5f + 0.25f * static_cast<float>(k);
  const std::vector<float> smoothed = gram_after_smoothing(gram.data(), smoothing.data(), in);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < in; ++j) {
      double expected = 0.0;
      for (int64_t s = 0; s < samples; ++s)
        expected += (inputs[s * in + i] / smoothing[i]) * (inputs[s * in + j] / smoothing[j]) / samples;
      EXPECT_NEAR(smoothed[i * in + j], expected, 1e-4 * (1.0 + std::fabs(expected))) << i << "," << j;
    }
}

TEST(Int4Quant, Nf4PicksTheNearestCodebookValue) {
  // The bitsandbytes table has 16 sorted values from -1 to 1 with 0 at index 7.
  EXPECT_EQ(kNf4Codebook.front(), -1.0f);
  EXPECT_EQ(kNf4Codebook.back(), 1.0f);
  EXPECT_EQ(kNf4Codebook[7], 0.0f);
  for (size_t idx = 1; idx < kNf4Codebook.size(); ++idx)
    EXPECT_LT(kNf4Codebook[idx - 1], kNf4Codebook[idx]);
  const int64_t rows = 4, columns = 128;
  const std::vector<float> values = random_values(rows * columns, 5);
  auto matrix = quantize_int4(values.data(), rows, columns, 64, Int4Format::kNf4, "w");
  ASSERT_TRUE(matrix.ok());
  const std::vector<float> restored = dequantize_int4(*matrix);
  for (size_t idx = 0; idx < values.size(); ++idx) {
    const float scale = matrix->scales.scale(static_cast<int64_t>(idx) / 64);
    float best = std::numeric_limits<float>::infinity();
    for (float code_value : kNf4Codebook)
      best = std::min(best, std::fabs(code_value * scale - values[idx]));
    EXPECT_NEAR(std::fabs(restored[idx] - values[idx]), best, 1e-6f);
  }
}

TEST(Int4Quant, CodebookValuesRoundTripExactly) {
  // One group holding every NF4 value times 0.5 (the group's absmax is 0.5 = its scale).
  std::vector<float> values;
  for (int repeat = 0; repeat < 4; ++repeat)
    for (float code_value : kNf4Codebook) values.push_back(code_value * 0.5f);
  auto matrix = quantize_int4(values.data(), 1, 64, 64, Int4Format::kNf4, "w");
  ASSERT_TRUE(matrix.ok());
  EXPECT_EQ(matrix->scales.scale(0), 0.5f);
  EXPECT_EQ(dequantize_int4(*matrix), values);
}

TEST(Int4Quant, BadGroupSizesNameTheTensorAndSizes) {
  const std::vector<float> values(2 * 96, 1.0f);
  auto too_large =
      quantize_int4(values.data(), 2, 96, 128, Int4Format::kInt4, "layer 0 qkv_weight");
  ASSERT_FALSE(too_large.ok());
  EXPECT_NE(too_large.status().message().find("larger than the row"), std::string::npos);
  EXPECT_NE(too_large.status().message().find("layer 0 qkv_weight"), std::string::npos);
  auto not_dividing = quantize_int4(values.data(), 2, 96, 64, Int4Format::kNf4, "w");
  ASSERT_FALSE(not_dividing.ok());
  EXPECT_NE(not_dividing.status().message().find("does not divide"), std::string::npos);
  EXPECT_FALSE(quantize_int4(values.data(), 2, 96, 0, Int4Format::kInt4, "w").ok());
  EXPECT_FALSE(quantize_int4(values.data(), 2, 96, 3, Int4Format::kInt4, "w").ok());
}

TEST(Int4Quant, DoubleQuantisedScalesStayWithinOneStep) {
  std::vector<float> scales;
  std::mt19937 generator(6);
  std::uniform_real_distribution<float> uniform(0.001f, 0.2f);
  for (int idx = 0; idx < 1000; ++idx) scales.push_back(uniform(generator));
  const DoubleQuantizedScales quantized = double_quantize_scales(scales);
  ASSERT_EQ(quantized.block_scales.size(), 4u);  // ceil(1000 / 256)
  for (size_t idx = 0; idx < scales.size(); ++idx) {
    const float stored = quantized.scale(static_cast<int64_t>(idx));
    EXPECT_GE(stored, scales[idx]);
    EXPECT_LE(stored - scales[idx], quantized.block_scales[idx / 256] * 1.001f);
  }
}

TEST(Int4Quant, PackUnpackRoundTrips) {
  std::vector<uint8_t> codes;
  for (int idx = 0; idx < 33; ++idx) codes.push_back(static_cast<uint8_t>((idx * 7) % 16));
  const std::vector<uint8_t> packed = pack_nibbles(codes);
  ASSERT_EQ(packed.size(), 17u);
  EXPECT_EQ(packed[0], (codes[1] << 4) | codes[0]);
  EXPECT_EQ(unpack_nibbles(packed, 33), codes);
}

TEST(WeightMemory, MeetsTheRatiosAgainstFp16) {
  for (auto [out, in] : {std::pair<int64_t, int64_t>{768, 768}, {3072, 768}, {384, 1536}}) {
    const double fp16 = static_cast<double>(fp16_weight_bytes(out, in));
    EXPECT_LE(linear_weight_memory(Precision::kInt8, out, in, 0).total_bytes() / fp16, 0.52);
    EXPECT_LE(linear_weight_memory(Precision::kInt4, out, in, 64).total_bytes() / fp16, 0.30);
    EXPECT_LE(linear_weight_memory(Precision::kNf4, out, in, 64).total_bytes() / fp16, 0.30);
  }
  // The accounting matches what the quantiser allocates.
  const std::vector<float> values = random_values(384 * 1536, 7);
  auto matrix = quantize_int4(values.data(), 384, 1536, 64, Int4Format::kNf4, "w");
  ASSERT_TRUE(matrix.ok());
  EXPECT_EQ(matrix->memory_bytes(),
            linear_weight_memory(Precision::kNf4, 384, 1536, 64).total_bytes());
}

TEST(Precision, NamesParseBackAndUnknownNamesAreListed) {
  for (Precision precision : all_precisions()) {
    auto parsed = parse_precision(precision_name(precision));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, precision);
  }
  auto bad = parse_precision("int3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("int8-weight-only"), std::string::npos);
}

TEST(ActivationStats, PercentilesAndChannelMaxima) {
  ActivationStatsRecorder recorder(1);
  std::vector<float> rows(100 * 4);
  for (int row = 0; row < 100; ++row)
    for (int col = 0; col < 4; ++col)
      rows[static_cast<size_t>(row * 4 + col)] =
          (col == 2 ? -1.0f : 0.5f) * static_cast<float>(row + 1);
  for (int site = 0; site < kNumLinearSites; ++site)
    recorder.observe(0, static_cast<LinearSite>(site), rows.data(), 100, 4);
  auto calibration = recorder.finish(99.0f);
  ASSERT_TRUE(calibration.ok()) << calibration.status().to_string();
  const SiteCalibration& site = calibration->site(0, LinearSite::kFfnIn);
  EXPECT_EQ(site.absmax, 100.0f);
  EXPECT_EQ(site.clipped_absmax, 99.0f);
  EXPECT_EQ(site.channel_absmax, (std::vector<float>{50.0f, 50.0f, 100.0f, 50.0f}));
  EXPECT_EQ(calibration->num_tokens, 100);
  EXPECT_FALSE(ActivationStatsRecorder(2).finish(99.0f).ok());  // nothing observed
  EXPECT_FALSE(recorder.finish(0.0f).ok());
}

// Observers on several threads at once: the Gram matrices of their batches are computed in
// parallel (the accumulator runs outside the recorder's lock) and merged into E[x xᵀ] over every row.
TEST(ActivationStats, GramOfConcurrentBatchesIsTheSecondMomentOfAllRows) {
  constexpr int kThreads = 4;
  const int64_t rows_per_batch = 50, columns = 24;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  const GramAccumulator plain_gram = [&](const float* input, int64_t rows, int64_t width, float* gram) {
    // Until two have overlapped, wait (bounded) for a second accumulator to run at the same time:
    // it can only if the recorder does not hold its lock here.
    inside.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!overlapped && inside.load() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    if (inside.load() >= 2) overlapped = true;
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t i = 0; i < width; ++i)
        for (int64_t j = 0; j < width; ++j) gram[i * width + j] += input[row * width + i] * input[row * width + j];
    inside.fetch_sub(1);
  };
  ActivationStatsRecorder recorder(1, plain_gram);
  std::vector<std::vector<float>> batches;
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx)
    batches.push_back(random_values(rows_per_batch * columns, 40 + thread_idx));
  std::vector<std::thread> threads;
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx)
    threads.emplace_back([&, thread_idx] {
      for (int site = 0; site < kNumLinearSites; ++site)
        recorder.observe(0, static_cast<LinearSite>(site), batches[thread_idx].data(), rows_per_batch, columns);
    });
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(overlapped) << "the Gram accumulators never ran concurrently";
  auto calibration = recorder.finish(100.0f);
  ASSERT_TRUE(calibration.ok()) << calibration.status().to_string();
  EXPECT_EQ(calibration->num_tokens, kThreads * rows_per_batch);
  for (int site = 0; site < kNumLinearSites; ++site) {
    const std::vector<float>& gram = calibration->site(0, static_cast<LinearSite>(site)).gram;
    ASSERT_EQ(gram.size(), static_cast<size_t>(columns * columns));
    for (int64_t i = 0; i < columns; ++i)
      for (int64_t j = 0; j < columns; ++j) {
        double expected = 0.0;
        for (const std::vector<float>& batch : batches)
          for (int64_t row = 0; row < rows_per_batch; ++row)
            expected += static_cast<double>(batch[row * columns + i]) * batch[row * columns + j];
        expected /= kThreads * rows_per_batch;
        ASSERT_NEAR(gram[i * columns + j], expected, 1e-5 * (1.0 + std::fabs(expected)))
            << "site " << site << " [" << i << ", " << j << "]";
      }
  }
  // Without an accumulator no Gram matrix is kept.
  ActivationStatsRecorder without_gram(1);
  for (int site = 0; site < kNumLinearSites; ++site)
    without_gram.observe(0, static_cast<LinearSite>(site), batches[0].data(), rows_per_batch, columns);
  auto plain = without_gram.finish(100.0f);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->site(0, LinearSite::kQkv).gram.empty());
}

TEST(ActivationStats, SmoothingFactorsFollowTheFormula) {
  const std::vector<float> activation = {8.0f, 0.5f};
  const std::vector<float> weight = {0.5f, -2.0f, 0.25f, 1.0f};  // [2 out, 2 in]
  const std::vector<float> factors = smoothing_factors(activation, weight.data(), 2, 2, 0.5f);
  EXPECT_FLOAT_EQ(factors[0], std::sqrt(8.0f) / std::sqrt(0.5f));
  EXPECT_FLOAT_EQ(factors[1], std::sqrt(0.5f) / std::sqrt(2.0f));
}

}  // namespace
}  // namespace justnews
