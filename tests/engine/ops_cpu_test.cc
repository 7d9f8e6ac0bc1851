// CPU kernels against naive double-precision loops: activations, LayerNorm, softmax, linear,
// attention, embeddings and pooling, with and without a thread pool.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/cpu/attention_cpu.h"
#include "engine/cpu/embeddings_cpu.h"
#include "engine/cpu/fast_math_cpu.h"
#include "engine/cpu/linear_cpu.h"
#include "engine/cpu/ops_cpu.h"
#include "engine/cpu/pooling_cpu.h"
#include "naive_encoder.h"

namespace justnews {
namespace {

using testing::max_abs_diff;

std::vector<float> random_values(size_t count, uint32_t seed, float stddev = 1.0f,
                                 float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, stddev);
  std::vector<float> values(count);
  for (float& v : values) v = normal(rng);
  return values;
}

TEST(FastMathCpu, ExpIsWithinFewUlpOverTheFloatRange) {
  double worst_relative = 0.0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double expected = std::exp(static_cast<double>(x));
    worst_relative = std::max(worst_relative, std::abs(exp_fast(x) - expected) / expected);
  }
  EXPECT_LT(worst_relative, 5e-7);
  EXPECT_GT(exp_fast(-1e30f), 0.0f) << "clamped, never 0 or NaN";
  EXPECT_LT(exp_fast(-1e30f), 1e-37f);
  EXPECT_TRUE(std::isfinite(exp_fast(1e30f)));
  EXPECT_EQ(exp_fast(0.0f), 1.0f);
}

TEST(FastMathCpu, ErfIsWithin5e7Absolute) {
  double worst = 0.0;
  for (float x = -10.0f; x <= 10.0f; x += 0.001f)
    worst = std::max(worst, std::abs(erf_fast(x) - std::erf(static_cast<double>(x))));
  EXPECT_LT(worst, 5e-7);
  EXPECT_EQ(erf_fast(0.0f), 0.0f);
  EXPECT_EQ(erf_fast(-30.0f), -1.0f);
}

TEST(ActivationsCpu, GeluErfMatchesDoubleFormula) {
  std::vector<float> values;
  for (int i = -1200; i <= 1200; ++i) values.push_back(static_cast<float>(i) / 100.0f);
  std::vector<double> expected;
  for (float x : values) expected.push_back(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
  gelu_erf_cpu(values.data(), static_cast<int64_t>(values.size()));
  EXPECT_LT(max_abs_diff(values.data(), expected), 2e-6);
}

TEST(ActivationsCpu, GeluTanhMatchesDoubleFormula) {
  std::vector<float> values;
  for (int i = -1200; i <= 1200; ++i) values.push_back(static_cast<float>(i) / 100.0f);
  std::vector<double> expected;
  for (float x : values) {
    const double xd = x;
    expected.push_back(0.5 * xd *
                       (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd))));
  }
  gelu_tanh_cpu(values.data(), static_cast<int64_t>(values.size()));
  EXPECT_LT(max_abs_diff(values.data(), expected), 2e-6);
}

TEST(ActivationsCpu, ReluClampsNegatives) {
  std::vector<float> values = {-3.0f, -0.0f, 0.5f, 7.0f};
  relu_cpu(values.data(), 4);
  EXPECT_EQ(values, (std::vector<float>{0.0f, 0.0f, 0.5f, 7.0f}));
}

std::vector<double> naive_layer_norm(const std::vector<float>& x, int64_t rows, int64_t width,
                                     const std::vector<float>& gamma,
                                     const std::vector<float>& beta, double eps) {
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < width; ++i) mean += x[r * width + i];
    mean /= width;
    for (int64_t i = 0; i < width; ++i)
      var += (x[r * width + i] - mean) * (x[r * width + i] - mean);
    var /= width;
    for (int64_t i = 0; i < width; ++i)
      out[r * width + i] = (x[r * width + i] - mean) / std::sqrt(var + eps) * gamma[i] + beta[i];
  }
  return out;
}

TEST(LayerNormCpu, MatchesDoubleWithLargeMeanAndWithPool) {
  const int64_t rows = 37, width = 384;
  // A large common offset is where E[x²] - E[x]² would lose all precision.
  const auto input = random_values(rows * width, 1, 1.0f, 300.0f);
  const auto gamma = random_values(width, 2, 0.1f, 1.0f);
  const auto beta = random_values(width, 3, 0.1f);
  const auto expected = naive_layer_norm(input, rows, width, gamma, beta, 1e-12);
  ThreadPool pool(3);
  for (ThreadPool* maybe_pool : {static_cast<ThreadPool*>(nullptr), &pool}) {
    auto values = input;
    layer_norm_cpu(values.data(), rows, width, gamma.data(), beta.data(), 1e-12f, maybe_pool);
    EXPECT_LT(max_abs_diff(values.data(), expected), 5e-4) << "pool " << (maybe_pool != nullptr);
  }
}

TEST(LayerNormCpu, AddLayerNormAddsResidualFirst) {
  const int64_t rows = 20, width = 64;
  const auto update = random_values(rows * width, 4);
  const auto residual = random_values(rows * width, 5);
  const auto gamma = random_values(width, 6, 0.1f, 1.0f);
  const auto beta = random_values(width, 7, 0.1f);
  std::vector<float> sum(update.size());
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = update[i] + residual[i];
  const auto expected = naive_layer_norm(sum, rows, width, gamma, beta, 1e-5);
  ThreadPool pool(2);
  auto values = residual;
  add_layer_norm_cpu(update.data(), values.data(), rows, width, gamma.data(), beta.data(), 1e-5f,
                     &pool);
  EXPECT_LT(max_abs_diff(values.data(), expected), 1e-5);
}

TEST(SoftmaxCpu, StableForLargeLogitsAndSumsToOne) {
  std::vector<float> row = {1000.0f, 1001.0f, 999.0f, -1e30f};
  std::vector<double> expected(4);
  const double denom = std::exp(-1.0) + 1.0 + std::exp(-2.0);
  expected = {std::exp(-1.0) / denom, 1.0 / denom, std::exp(-2.0) / denom, 0.0};
  softmax_row_cpu(row.data(), 4);
  EXPECT_LT(max_abs_diff(row.data(), expected), 1e-6);
}

struct LinearCase {
  int64_t rows, in_features, out_features;
  Epilogue epilogue;
  bool with_bias;
};

TEST(LinearCpu, MatchesDoubleForEverySplitAndEpilogue) {
  const std::vector<LinearCase> cases = {
      {1, 32, 10, Epilogue::kNone, true},       {7, 64, 300, Epilogue::kGeluErf, true},
      {300, 48, 20, Epilogue::kGeluTanh, true}, {129, 96, 129, Epilogue::kRelu, false},
      {33, 40, 700, Epilogue::kTanh, true},     {513, 16, 64, Epilogue::kNone, false}};
  ThreadPool pool2(2), pool3(3);
  for (const LinearCase& c : cases) {
    const auto input = random_values(c.rows * c.in_features, 11);
    const auto weight = random_values(c.out_features * c.in_features, 12, 0.2f);
    const auto bias = random_values(c.out_features, 13);
    std::vector<double> expected(c.rows * c.out_features);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t o = 0; o < c.out_features; ++o) {
        double sum = c.with_bias ? bias[o] : 0.0;
        for (int64_t i = 0; i < c.in_features; ++i)
          sum += static_cast<double>(input[r * c.in_features + i]) * weight[o * c.in_features + i];
        switch (c.epilogue) {
          case Epilogue::kNone:
            break;
          case Epilogue::kGeluErf:
            sum = 0.5 * sum * (1 + std::erf(sum / std::sqrt(2.0)));
            break;
          case Epilogue::kGeluTanh:
            sum = 0.5 * sum *
                  (1 + std::tanh(std::sqrt(2 / M_PI) * (sum + 0.044715 * sum * sum * sum)));
            break;
          case Epilogue::kRelu:
            sum = std::max(sum, 0.0);
            break;
          case Epilogue::kTanh:
            sum = std::tanh(sum);
            break;
        }
        expected[r * c.out_features + o] = sum;
      }
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
      std::vector<float> output(c.rows * c.out_features, NAN);
      linear_cpu(input.data(), c.rows, c.in_features, weight.data(),
                 c.with_bias ? bias.data() : nullptr, c.out_features, c.epilogue, output.data(),
                 pool);
      EXPECT_LT(max_abs_diff(output.data(), expected), 2e-4)
          << "rows " << c.rows << " in " << c.in_features << " out " << c.out_features
          << " threads " << (pool ? pool->num_threads() : 1);
    }
  }
}

// Double-precision attention of every (sequence, head) of a packed batch.
std::vector<double> naive_attention(const std::vector<float>& qkv,
                                    const std::vector<int32_t>& offsets, AttentionShape shape) {
  const int64_t hidden = shape.hidden();
  const int64_t num_sequences = static_cast<int64_t>(offsets.size()) - 1;
  std::vector<double> expected(offsets.back() * hidden, 0.0);
  for (int64_t s = 0; s < num_sequences; ++s)
    for (int64_t head = 0; head < shape.num_heads; ++head)
      for (int64_t t = offsets[s]; t < offsets[s + 1]; ++t) {
        std::vector<double> scores;
        for (int64_t u = offsets[s]; u < offsets[s + 1]; ++u) {
          double dot = 0;
          for (int64_t d = 0; d < shape.head_dim; ++d)
            dot += static_cast<double>(qkv[t * 3 * hidden + head * shape.head_dim + d]) *
                   qkv[u * 3 * hidden + hidden + head * shape.head_dim + d];
          scores.push_back(dot / std::sqrt(static_cast<double>(shape.head_dim)));
        }
        const double top = *std::max_element(scores.begin(), scores.end());
        double total = 0;
        for (double& x : scores) total += (x = std::exp(x - top));
        for (int64_t u = offsets[s]; u < offsets[s + 1]; ++u)
          for (int64_t d = 0; d < shape.head_dim; ++d)
            expected[t * hidden + head * shape.head_dim + d] +=
                scores[u - offsets[s]] / total *
                qkv[u * 3 * hidden + 2 * hidden + head * shape.head_dim + d];
      }
  return expected;
}

TEST(AttentionCpu, MatchesNaivePerSequenceAttention) {
  const AttentionShape shape{4, 8};
  const std::vector<int32_t> offsets = {0, 1, 6, 23, 87, 90};
  const int64_t num_sequences = static_cast<int64_t>(offsets.size()) - 1;
  const int64_t tokens = offsets.back();
  const auto qkv = random_values(tokens * 3 * shape.hidden(), 21);
  const std::vector<double> expected = naive_attention(qkv, offsets, shape);
  const auto order = longest_first_order(offsets.data(), num_sequences);
  EXPECT_EQ(order, (std::vector<int32_t>{3, 2, 1, 4, 0}));
  ThreadPool pool(3);
  for (ThreadPool* maybe_pool : {static_cast<ThreadPool*>(nullptr), &pool}) {
    for (const int32_t* maybe_order : {static_cast<const int32_t*>(nullptr), order.data()}) {
      std::vector<float> context(tokens * shape.hidden(), NAN);
      attention_cpu(qkv.data(), offsets.data(), num_sequences, maybe_order, shape, context.data(),
                    maybe_pool);
      EXPECT_LT(max_abs_diff(context.data(), expected), 1e-5);
    }
  }
}

// The real models' head sizes (16-128), at lengths around multiples of 8 and 16 (the blocks of the
// fused AVX-512 kernel at head sizes 32 and 64: 16-key chunks, 4 or 8 query rows) and of 64.
TEST(AttentionCpu, ModelHeadSizesMatchNaiveAttention) {
  const std::vector<int32_t> offsets = {0, 1, 8, 17, 33, 48, 178, 185, 249, 377, 382};
  const int64_t num_sequences = static_cast<int64_t>(offsets.size()) - 1;
  const int64_t tokens = offsets.back();
  ThreadPool pool(2);
  for (const int64_t head_dim : {16, 32, 48, 64, 128}) {
    const AttentionShape shape{3, head_dim};
    const auto qkv = random_values(tokens * 3 * shape.hidden(), 40 + static_cast<int>(head_dim));
    const std::vector<double> expected = naive_attention(qkv, offsets, shape);
    std::vector<float> context(tokens * shape.hidden(), NAN);
    attention_cpu(qkv.data(), offsets.data(), num_sequences, nullptr, shape, context.data(), &pool);
    EXPECT_LT(max_abs_diff(context.data(), expected), 1e-5) << "head_dim " << head_dim;
  }
}

TEST(EmbeddingsCpu, RobertaPositionsSkipPadTokensLikeHuggingFace) {
  const int64_t hidden = 4, vocab = 6, max_positions = 10;
  const auto word = random_values(vocab * hidden, 31);
  const auto position = random_values(max_positions * hidden, 32);
  const std::vector<float> gamma(hidden, 1.0f), beta(hidden, 0.0f);
  PackedBatch batch;
  batch.append({0, 3, 1, 4});  // pad id 1 in the middle
  batch.append({0, 5});
  EmbeddingTables tables{word.data(), position.data(), nullptr, gamma.data(),
                         beta.data(), hidden,          1e-5f};
  PositionScheme scheme{2, true, 1};
  std::vector<float> output(batch.total_tokens() * hidden);
  embed_tokens_cpu(batch, tables, scheme, output.data(), nullptr);
  // HF: positions = cumsum(ids != pad) * (ids != pad) + pad -> [2, 3, 1, 4] and [2, 3].
  const std::vector<int> expected_positions = {2, 3, 1, 4, 2, 3};
  std::vector<float> sums;
  for (size_t t = 0; t < expected_positions.size(); ++t)
    for (int64_t i = 0; i < hidden; ++i)
      sums.push_back(word[batch.token_ids[t] * hidden + i] +
                     position[expected_positions[t] * hidden + i]);
  const auto expected = naive_layer_norm(sums, batch.total_tokens(), hidden, gamma, beta, 1e-5);
  EXPECT_LT(max_abs_diff(output.data(), expected), 1e-5);
}

TEST(EmbeddingsCpu, BertAddsTokenTypesAndRestartsPositionsPerSequence) {
  const int64_t hidden = 8, vocab = 9, max_positions = 6;
  const auto word = random_values(vocab * hidden, 41);
  const auto position = random_values(max_positions * hidden, 42);
  const auto types = random_values(2 * hidden, 43);
  const auto gamma = random_values(hidden, 44, 0.1f, 1.0f);
  const auto beta = random_values(hidden, 45, 0.1f);
  PackedBatch batch;
  batch.append({2, 3, 4}, {0, 0, 1});
  batch.append({5, 1}, {1, 1});
  EmbeddingTables tables{word.data(), position.data(), types.data(), gamma.data(),
                         beta.data(), hidden,          1e-12f};
  ThreadPool pool(2);
  std::vector<float> output(batch.total_tokens() * hidden);
  embed_tokens_cpu(batch, tables, PositionScheme{}, output.data(), &pool);
  const std::vector<int> positions = {0, 1, 2, 0, 1};
  std::vector<float> sums;
  for (size_t t = 0; t < positions.size(); ++t)
    for (int64_t i = 0; i < hidden; ++i)
      sums.push_back(word[batch.token_ids[t] * hidden + i] + position[positions[t] * hidden + i] +
                     types[batch.type_ids[t] * hidden + i]);
  const auto expected = naive_layer_norm(sums, batch.total_tokens(), hidden, gamma, beta, 1e-12);
  EXPECT_LT(max_abs_diff(output.data(), expected), 1e-5);
}

TEST(PoolingCpu, ClsMeanMaxAndNormalizeMatchDouble) {
  const int64_t width = 16;
  const std::vector<int32_t> offsets = {0, 1, 5, 12};
  const auto hidden = random_values(offsets.back() * width, 51);
  for (PoolingMode mode : {PoolingMode::kCls, PoolingMode::kMean, PoolingMode::kMax}) {
    std::vector<double> expected;
    for (size_t s = 0; s + 1 < offsets.size(); ++s) {
      for (int64_t i = 0; i < width; ++i) {
        double value = mode == PoolingMode::kMax ? -INFINITY : 0.0;
        for (int32_t t = offsets[s]; t < offsets[s + 1]; ++t) {
          const double x = hidden[t * width + i];
          if (mode == PoolingMode::kMax) value = std::max(value, x);
          if (mode == PoolingMode::kMean) value += x / (offsets[s + 1] - offsets[s]);
        }
        if (mode == PoolingMode::kCls) value = hidden[offsets[s] * width + i];
        expected.push_back(value);
      }
    }
    std::vector<float> output(3 * width, NAN);
    pool_sequences_cpu(hidden.data(), offsets.data(), 3, width, mode, output.data());
    EXPECT_LT(max_abs_diff(output.data(), expected), 1e-6);
    for (int64_t s = 0; s < 3; ++s) {
      double norm = 0;
      for (int64_t i = 0; i < width; ++i) norm += expected[s * width + i] * expected[s * width + i];
      for (int64_t i = 0; i < width; ++i) expected[s * width + i] /= std::sqrt(norm);
    }
    l2_normalize_rows_cpu(output.data(), 3, width);
    EXPECT_LT(max_abs_diff(output.data(), expected), 1e-6);
  }
}

TEST(PoolingCpu, NormalizingAZeroRowKeepsItFinite) {
  std::vector<float> row(8, 0.0f);
  l2_normalize_rows_cpu(row.data(), 1, 8);
  for (float x : row) EXPECT_EQ(x, 0.0f);
}

}  // namespace
}  // namespace justnews
