// Every CUDA op against a naive double-precision CPU loop written here, for fp32, fp16 and bf16,
// with fresh random inputs, poisoned outputs and per-precision tolerances; plus the shapes each
// launcher must refuse.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/gemm_cublaslt.h"

namespace justnews::testing {
namespace {

using cuda::Precision;

class CudaOpsTest : public ::testing::TestWithParam<Precision> {
 protected:
  void SetUp() override { JN_SKIP_WITHOUT_GPU(); }
  Precision precision() const { return GetParam(); }
  size_t element() const { return cuda::precision_size_bytes(GetParam()); }
};

std::vector<double> layer_norm_reference(const std::vector<double>& row, const std::vector<float>& gamma,
                                         const std::vector<float>& beta, double eps) {
  double mean = 0.0;
  for (double value : row) mean += value;
  mean /= row.size();
  double variance = 0.0;
  for (double value : row) variance += (value - mean) * (value - mean);
  variance /= row.size();
  std::vector<double> out(row.size());
  for (size_t col = 0; col < row.size(); ++col)
    out[col] = (row[col] - mean) / std::sqrt(variance + eps) * gamma[col] + beta[col];
  return out;
}

TEST_P(CudaOpsTest, EmbeddingsLayerNormMatchesCpu) {
  for (const bool with_types : {true, false}) {
    for (const int64_t hidden : {32, 64, 512, 768, 1024}) {
      const int64_t vocab = 50, positions = 40, types = 2, tokens = 37;
      const float eps = 1e-12f;
      std::vector<float> word = random_values(vocab * hidden, 1 + hidden, 0.f, 0.5f);
      std::vector<float> position = random_values(positions * hidden, 2 + hidden, 0.f, 0.5f);
      std::vector<float> token_type = random_values(types * hidden, 3 + hidden, 0.f, 0.5f);
      std::vector<float> gamma = random_values(hidden, 4, 1.f, 0.2f);
      std::vector<float> beta = random_values(hidden, 5, 0.f, 0.2f);
      std::vector<int32_t> ids(tokens), type_ids(tokens), position_ids(tokens);
      std::mt19937 rng(hidden);
      for (int64_t t = 0; t < tokens; ++t) {
        ids[t] = rng() % vocab;
        type_ids[t] = rng() % types;
        position_ids[t] = rng() % positions;
      }
      auto word_d = upload(word, precision());
      auto position_d = upload(position, precision());
      auto type_d = upload(token_type, precision());
      auto gamma_d = upload(gamma, precision());
      auto beta_d = upload(beta, precision());
      auto ids_d = upload_raw(ids), type_ids_d = upload_raw(type_ids), positions_d = upload_raw(position_ids);
      auto out_d = poisoned(tokens * hidden, element());
      ASSERT_TRUE(cuda::launch_embeddings_layer_norm(
                      precision(), ids_d.data_as<int32_t>(), type_ids_d.data_as<int32_t>(),
                      positions_d.data_as<int32_t>(), tokens, hidden, word_d.data(), position_d.data(),
                      with_types ? type_d.data() : nullptr, gamma_d.data(), beta_d.data(), eps,
                      out_d.data(), nullptr)
                      .ok());
      std::vector<double> reference;
      for (int64_t t = 0; t < tokens; ++t) {
        std::vector<double> row(hidden);
        for (int64_t col = 0; col < hidden; ++col)
          row[col] = double(word[ids[t] * hidden + col]) + position[position_ids[t] * hidden + col] +
                     (with_types ? token_type[type_ids[t] * hidden + col] : 0.0);
        const auto normed = layer_norm_reference(row, gamma, beta, eps);
        reference.insert(reference.end(), normed.begin(), normed.end());
      }
      EXPECT_LT(relative_error(download(out_d, precision(), tokens * hidden), reference),
                tolerance(precision()))
          << "hidden " << hidden << " with_types " << with_types;
    }
  }
}

// Every packs-a-lane count the kernels are compiled for: 1-4 in fp16 / bf16 (8 columns a pack),
// 1-8 in fp32 (4 a pack: 160, 544 and 864 give 2, 5 and 7), with partly filled last packs (264,
// 1016).
TEST_P(CudaOpsTest, AddLayerNormInPlaceMatchesCpu) {
  const int64_t rows = 33;
  for (const int64_t hidden : {32, 160, 264, 384, 512, 544, 768, 864, 1016, 1024}) {
    std::vector<float> input = random_values(rows * hidden, 11, 0.f, 2.f);
    std::vector<float> residual = random_values(rows * hidden, 12, 0.5f, 1.f);
    std::vector<float> gamma = random_values(hidden, 13, 1.f, 0.2f);
    std::vector<float> beta = random_values(hidden, 14, 0.f, 0.2f);
    auto input_d = upload(input, precision());
    auto residual_d = upload(residual, precision());
    auto gamma_d = upload(gamma, precision());
    auto beta_d = upload(beta, precision());
    // Output aliases the residual, as in the encoder.
    ASSERT_TRUE(cuda::launch_add_layer_norm(precision(), input_d.data(), residual_d.data(),
                                            gamma_d.data(), beta_d.data(), 1e-5f, rows, hidden,
                                            residual_d.data(), nullptr)
                    .ok());
    std::vector<double> reference;
    for (int64_t row = 0; row < rows; ++row) {
      std::vector<double> values(hidden);
      for (int64_t col = 0; col < hidden; ++col)
        values[col] = double(input[row * hidden + col]) + residual[row * hidden + col];
      const auto normed = layer_norm_reference(values, gamma, beta, 1e-5);
      reference.insert(reference.end(), normed.begin(), normed.end());
    }
    EXPECT_LT(relative_error(download(residual_d, precision(), rows * hidden), reference),
              tolerance(precision()))
        << "hidden " << hidden;
  }
}

TEST_P(CudaOpsTest, BiasGeluErfMatchesCpu) {
  const int64_t rows = 19, cols = 136;
  std::vector<float> data = random_values(rows * cols, 21, 0.f, 2.f);
  std::vector<float> bias = random_values(cols, 22, 0.f, 0.5f);
  auto data_d = upload(data, precision());
  auto bias_d = upload(bias, precision());
  ASSERT_TRUE(cuda::launch_bias_gelu_erf(precision(), data_d.data(), bias_d.data(), rows, cols, nullptr).ok());
  std::vector<double> reference(rows * cols);
  for (int64_t idx = 0; idx < rows * cols; ++idx) {
    const double x = double(data[idx]) + bias[idx % cols];
    reference[idx] = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  }
  EXPECT_LT(relative_error(download(data_d, precision(), rows * cols), reference), tolerance(precision()));
}

TEST_P(CudaOpsTest, LinearEpiloguesMatchCpu) {
  const int64_t rows = 70, in_features = 96, out_features = 136;
  std::vector<float> input = random_values(rows * in_features, 31);
  std::vector<float> weight = random_values(out_features * in_features, 32, 0.f, 0.1f);
  std::vector<float> bias = random_values(out_features, 33, 0.f, 0.5f);
  auto input_d = upload(input, precision());
  auto weight_d = upload(weight, precision());
  auto bias_d = upload(bias, precision());
  auto workspace = cuda::DeviceBuffer::allocate(4 << 20, "gemm workspace");
  ASSERT_TRUE(workspace.ok());
  auto runner = cuda::GemmRunner::create(precision(), workspace->data(), workspace->size_bytes());
  ASSERT_TRUE(runner.ok()) << runner.status().to_string();
  for (const auto epilogue : {cuda::GemmEpilogue::kNone, cuda::GemmEpilogue::kBias,
                              cuda::GemmEpilogue::kBiasGeluTanh, cuda::GemmEpilogue::kBiasRelu}) {
    auto out_d = poisoned(rows * out_features, element());
    const Status status = (*runner)->linear(input_d.data(), rows, in_features, weight_d.data(),
                                            bias_d.data(), out_features, epilogue, out_d.data(), nullptr);
    ASSERT_TRUE(status.ok()) << status.to_string();
    std::vector<double> reference(rows * out_features);
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t out = 0; out < out_features; ++out) {
        double sum = 0.0;
        for (int64_t k = 0; k < in_features; ++k)
          sum += double(input[row * in_features + k]) * weight[out * in_features + k];
        if (epilogue != cuda::GemmEpilogue::kNone) sum += bias[out];
        if (epilogue == cuda::GemmEpilogue::kBiasGeluTanh)
          sum = 0.5 * sum * (1.0 + std::tanh(0.7978845608028654 * (sum + 0.044715 * sum * sum * sum)));
        if (epilogue == cuda::GemmEpilogue::kBiasRelu) sum = std::max(sum, 0.0);
        reference[row * out_features + out] = sum;
      }
    }
    EXPECT_LT(relative_error(download(out_d, precision(), rows * out_features), reference),
              tolerance(precision()))
        << "epilogue " << static_cast<int>(epilogue);
  }
  auto out_d = poisoned(rows * out_features, element());
  EXPECT_EQ((*runner)->linear(input_d.data(), rows, in_features, weight_d.data(), nullptr, out_features,
                              cuda::GemmEpilogue::kBias, out_d.data(), nullptr).code(),
            StatusCode::kInvalidArgument);
}

std::vector<double> attention_reference(const std::vector<float>& qkv, const std::vector<int32_t>& offsets,
                                        int64_t heads, int64_t head_dim) {
  const int64_t hidden = heads * head_dim;
  const int64_t tokens = offsets.back();
  std::vector<double> out(tokens * hidden);
  const double scale = 1.0 / std::sqrt(double(head_dim));
  for (size_t seq = 0; seq + 1 < offsets.size(); ++seq) {
    for (int64_t head = 0; head < heads; ++head) {
      for (int32_t query = offsets[seq]; query < offsets[seq + 1]; ++query) {
        std::vector<double> scores;
        for (int32_t key = offsets[seq]; key < offsets[seq + 1]; ++key) {
          double dot = 0.0;
          for (int64_t d = 0; d < head_dim; ++d)
            dot += double(qkv[query * 3 * hidden + head * head_dim + d]) *
                   qkv[key * 3 * hidden + hidden + head * head_dim + d];
          scores.push_back(dot * scale);
        }
        const double max_score = *std::max_element(scores.begin(), scores.end());
        double sum = 0.0;
        for (double& score : scores) sum += (score = std::exp(score - max_score));
        for (int64_t d = 0; d < head_dim; ++d) {
          double value = 0.0;
          for (size_t key = 0; key < scores.size(); ++key)
            value += scores[key] / sum * qkv[(offsets[seq] + key) * 3 * hidden + 2 * hidden + head * head_dim + d];
          out[query * hidden + head * head_dim + d] = value;
        }
      }
    }
  }
  return out;
}

void check_attention(Precision precision, int64_t heads, int64_t head_dim, const std::vector<int32_t>& lengths,
                     cuda::AttentionKernel kernel, uint32_t seed) {
  std::vector<int32_t> offsets{0};
  for (int32_t length : lengths) offsets.push_back(offsets.back() + length);
  const int64_t tokens = offsets.back();
  const int64_t hidden = heads * head_dim;
  // Scores of a few units, as in trained models, so the softmax is neither flat nor one-hot.
  std::vector<float> qkv = random_values(tokens * 3 * hidden, seed, 0.f, 1.5f / std::pow(head_dim, 0.25f));
  auto qkv_d = upload(qkv, precision);
  auto offsets_d = upload_raw(offsets);
  auto out_d = poisoned(tokens * hidden, cuda::precision_size_bytes(precision));
  const int64_t max_length = *std::max_element(lengths.begin(), lengths.end());
  const Status status = cuda::launch_attention(precision, qkv_d.data(), offsets_d.data_as<int32_t>(),
                                               lengths.size(), max_length, heads, head_dim, out_d.data(),
                                               nullptr, kernel);
  ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_LT(relative_error(download(out_d, precision, tokens * hidden),
                           attention_reference(qkv, offsets, heads, head_dim)),
            tolerance(precision))
      << "heads " << heads << " head_dim " << head_dim << " kernel " << static_cast<int>(kernel);
}

TEST_P(CudaOpsTest, AttentionMatchesCpuForEveryHeadDim) {
  const std::vector<int32_t> lengths{1, 17, 64, 65, 130, 7};
  uint32_t seed = 40;
  for (const int64_t head_dim : {8, 16, 32, 64, 128}) {
    check_attention(precision(), 3, head_dim, lengths, cuda::AttentionKernel::kAuto, ++seed);
    check_attention(precision(), 2, head_dim, lengths, cuda::AttentionKernel::kScalar, ++seed);
    if (precision() != Precision::kFp32 && head_dim >= 32) {
      check_attention(precision(), 2, head_dim, lengths, cuda::AttentionKernel::kTensorCore, ++seed);
      check_attention(precision(), 2, head_dim, lengths, cuda::AttentionKernel::kMma, ++seed);
      check_attention(precision(), 2, head_dim, lengths, cuda::AttentionKernel::kMmaWide, ++seed);
    }
  }
}

TEST_P(CudaOpsTest, AttentionHandlesLongSequences) {
  check_attention(precision(), 2, 64, {512, 300, 3}, cuda::AttentionKernel::kAuto, 77);
  if (precision() != Precision::kFp32) {
    // Every tile boundary of the double-buffered v3 kernel: lengths around multiples of 64.
    check_attention(precision(), 2, 64, {512, 511, 449, 192, 129, 128, 63, 1},
                    cuda::AttentionKernel::kMma, 78);
    check_attention(precision(), 1, 128, {512, 257}, cuda::AttentionKernel::kMma, 79);
    check_attention(precision(), 4, 32, {384, 65}, cuda::AttentionKernel::kMma, 80);
    check_attention(precision(), 2, 64, {512, 511, 449, 192, 129, 128, 127, 63, 1},
                    cuda::AttentionKernel::kMmaWide, 81);
    check_attention(precision(), 1, 128, {512, 257}, cuda::AttentionKernel::kMmaWide, 82);
    check_attention(precision(), 4, 32, {384, 65, 16}, cuda::AttentionKernel::kMmaWide, 83);
  }
}

TEST_P(CudaOpsTest, AttentionAutoPicksMatchCpuOnManyShortSequences) {
  // 12 heads x 16 sequences of up to 128 tokens: on an H200 (132 SMs) kAuto runs v4 here.
  std::vector<int32_t> lengths;
  for (int32_t idx = 0; idx < 16; ++idx) lengths.push_back(128 - 7 * idx);
  check_attention(precision(), 12, 64, lengths, cuda::AttentionKernel::kAuto, 84);
}

TEST(AttentionKernelChoice, WideKernelWhenItsBlocksFillTheDevice) {
  using cuda::AttentionKernel;
  using cuda::auto_attention_kernel;
  // head_dim 64 beyond 128 tokens: v4 whatever the batch.
  EXPECT_EQ(auto_attention_kernel(64, 512, 1, 12, 132), AttentionKernel::kMmaWide);
  EXPECT_EQ(auto_attention_kernel(64, 129, 1, 1, 132), AttentionKernel::kMmaWide);
  // 65 to 128 tokens: v4 once sequences x heads blocks reach the SMs.
  EXPECT_EQ(auto_attention_kernel(64, 128, 32, 12, 132), AttentionKernel::kMmaWide);
  EXPECT_EQ(auto_attention_kernel(64, 65, 11, 12, 132), AttentionKernel::kMmaWide);  // 132 blocks
  EXPECT_EQ(auto_attention_kernel(64, 128, 10, 12, 132), AttentionKernel::kMma);     // 120 blocks
  EXPECT_EQ(auto_attention_kernel(64, 128, 1, 12, 132), AttentionKernel::kMma);
  // 64 tokens and below, and the other head dims: v3.
  EXPECT_EQ(auto_attention_kernel(64, 64, 128, 12, 132), AttentionKernel::kMma);
  EXPECT_EQ(auto_attention_kernel(32, 512, 32, 12, 132), AttentionKernel::kMma);
  EXPECT_EQ(auto_attention_kernel(128, 512, 32, 12, 132), AttentionKernel::kMma);
}

TEST(AttentionKernelNames, SelectKernelsAndRefuseOthers) {
  EXPECT_EQ(cuda::attention_kernel_from_name("auto"), cuda::AttentionKernel::kAuto);
  EXPECT_EQ(cuda::attention_kernel_from_name("v4"), cuda::AttentionKernel::kMmaWide);
  EXPECT_EQ(cuda::attention_kernel_from_name("v3"), cuda::AttentionKernel::kMma);
  EXPECT_EQ(cuda::attention_kernel_from_name("v2"), cuda::AttentionKernel::kTensorCore);
  EXPECT_EQ(cuda::attention_kernel_from_name("scalar"), cuda::AttentionKernel::kScalar);
  EXPECT_FALSE(cuda::attention_kernel_from_name("v5").has_value());
  EXPECT_FALSE(cuda::attention_kernel_from_name("").has_value());
  EXPECT_TRUE(cuda::attention_kernel_writes_codes(cuda::AttentionKernel::kAuto));
  EXPECT_TRUE(cuda::attention_kernel_writes_codes(cuda::AttentionKernel::kMmaWide));
  EXPECT_FALSE(cuda::attention_kernel_writes_codes(cuda::AttentionKernel::kTensorCore));
  EXPECT_FALSE(cuda::attention_kernel_writes_codes(cuda::AttentionKernel::kScalar));
}

TEST_P(CudaOpsTest, AttentionRefusesUnsupportedShapes) {
  auto buffer = poisoned(64, 4);
  EXPECT_EQ(cuda::launch_attention(precision(), buffer.data(), nullptr, 1, 4, 2, 12, buffer.data(), nullptr)
                .code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(cuda::launch_attention(precision(), buffer.data(), nullptr, 1, 4, 2, 8, buffer.data(), nullptr,
                                   cuda::AttentionKernel::kTensorCore)
                .code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(cuda::launch_attention(precision(), buffer.data(), nullptr, 1, 4, 2, 16, buffer.data(), nullptr,
                                   cuda::AttentionKernel::kMma)
                .code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(cuda::launch_attention(precision(), buffer.data(), nullptr, 1, 4, 2, 16, buffer.data(), nullptr,
                                   cuda::AttentionKernel::kMmaWide)
                .code(),
            StatusCode::kUnsupported);
}

TEST_P(CudaOpsTest, PoolingMatchesCpu) {
  const int64_t hidden = 96;
  const std::vector<int32_t> offsets{0, 1, 9, 40};
  const int64_t tokens = offsets.back();
  std::vector<float> states = random_values(tokens * hidden, 51);
  auto states_d = upload(states, precision());
  auto offsets_d = upload_raw(offsets);
  for (const PoolingMode mode : {PoolingMode::kCls, PoolingMode::kMean, PoolingMode::kMax}) {
    for (const bool normalize : {false, true}) {
      auto out_d = poisoned((offsets.size() - 1) * hidden, 4);
      ASSERT_TRUE(cuda::launch_pooling(precision(), states_d.data(), offsets_d.data_as<int32_t>(),
                                       offsets.size() - 1, hidden, mode, normalize,
                                       out_d.data_as<float>(), nullptr)
                      .ok());
      std::vector<double> reference;
      for (size_t seq = 0; seq + 1 < offsets.size(); ++seq) {
        std::vector<double> pooled(hidden, mode == PoolingMode::kMax ? -INFINITY : 0.0);
        for (int32_t token = offsets[seq]; token < offsets[seq + 1]; ++token) {
          for (int64_t col = 0; col < hidden; ++col) {
            const double value = states[token * hidden + col];
            if (mode == PoolingMode::kMax) pooled[col] = std::max(pooled[col], value);
            else if (mode == PoolingMode::kMean) pooled[col] += value / (offsets[seq + 1] - offsets[seq]);
            else if (token == offsets[seq]) pooled[col] = value;
          }
        }
        double norm = 0.0;
        for (double value : pooled) norm += value * value;
        for (double& value : pooled) value /= normalize ? std::sqrt(norm) : 1.0;
        reference.insert(reference.end(), pooled.begin(), pooled.end());
      }
      // fp32 reduction over the sequence: the inputs are exact, so fp32 tolerance applies.
      EXPECT_LT(relative_error(download_f32(out_d, reference.size()), reference), 1e-5)
          << "mode " << static_cast<int>(mode) << " normalize " << normalize;
    }
  }
}

TEST_P(CudaOpsTest, HeadOpsMatchCpu) {
  const int64_t hidden = 64, labels = 5;
  const std::vector<int32_t> offsets{0, 3, 4, 20};
  const int64_t sequences = offsets.size() - 1;
  std::vector<float> states = random_values(offsets.back() * hidden, 61);
  std::vector<float> weight = random_values(labels * hidden, 62, 0.f, 0.2f);
  std::vector<float> bias = random_values(labels, 63);
  auto states_d = upload(states, precision());
  auto weight_d = upload(weight, precision());
  auto bias_d = upload(bias, precision());
  auto offsets_d = upload_raw(offsets);
  auto cls_d = poisoned(sequences * hidden, element());
  ASSERT_TRUE(cuda::launch_gather_first_rows(precision(), states_d.data(), offsets_d.data_as<int32_t>(),
                                             sequences, hidden, cls_d.data(), nullptr)
                  .ok());
  const std::vector<float> cls = download(cls_d, precision(), sequences * hidden);
  for (int64_t seq = 0; seq < sequences; ++seq)
    for (int64_t col = 0; col < hidden; ++col)
      ASSERT_EQ(cls[seq * hidden + col], states[offsets[seq] * hidden + col]);

  for (const HeadActivation activation : {HeadActivation::kNone, HeadActivation::kTanh, HeadActivation::kRelu}) {
    auto logits_d = poisoned(sequences * labels, 4);
    ASSERT_TRUE(cuda::launch_small_linear(precision(), cls_d.data(), sequences, hidden, activation,
                                          weight_d.data(), bias_d.data(), labels, logits_d.data_as<float>(),
                                          nullptr)
                    .ok());
    std::vector<double> reference(sequences * labels);
    for (int64_t seq = 0; seq < sequences; ++seq) {
      for (int64_t label = 0; label < labels; ++label) {
        double sum = bias[label];
        for (int64_t col = 0; col < hidden; ++col) {
          double x = cls[seq * hidden + col];
          if (activation == HeadActivation::kTanh) x = std::tanh(x);
          if (activation == HeadActivation::kRelu) x = std::max(x, 0.0);
          sum += x * weight[label * hidden + col];
        }
        reference[seq * labels + label] = sum;
      }
    }
    const std::vector<float> logits = download_f32(logits_d, sequences * labels);
    EXPECT_LT(relative_error(logits, reference), 1e-5) << "activation " << static_cast<int>(activation);

    for (const ProblemType problem : {ProblemType::kSingleLabel, ProblemType::kMultiLabel}) {
      std::vector<float> host_logits = logits;
      auto probs_d = upload(host_logits, Precision::kFp32);
      ASSERT_TRUE(cuda::launch_probabilities(probs_d.data_as<float>(), sequences, labels, problem, nullptr).ok());
      std::vector<double> expected(sequences * labels);
      for (int64_t seq = 0; seq < sequences; ++seq) {
        double sum = 0.0;
        for (int64_t label = 0; label < labels; ++label) sum += std::exp(double(logits[seq * labels + label]));
        for (int64_t label = 0; label < labels; ++label) {
          const double x = logits[seq * labels + label];
          expected[seq * labels + label] =
              problem == ProblemType::kSingleLabel ? std::exp(x) / sum : 1.0 / (1.0 + std::exp(-x));
        }
      }
      EXPECT_LT(relative_error(download_f32(probs_d, sequences * labels), expected), 1e-6);
    }
  }
}

TEST_P(CudaOpsTest, ToFloatIsExact) {
  std::vector<float> values = random_values(1001, 71, 0.f, 10.f);
  auto values_d = upload(values, precision());
  auto out_d = poisoned(values.size(), 4);
  ASSERT_TRUE(cuda::launch_to_float(precision(), values_d.data(), values.size(), out_d.data_as<float>(), nullptr).ok());
  EXPECT_EQ(download_f32(out_d, values.size()), values);
}

TEST_P(CudaOpsTest, LayerNormRefusesUnsupportedHidden) {
  auto buffer = poisoned(64, 4);
  EXPECT_EQ(cuda::launch_add_layer_norm(precision(), buffer.data(), buffer.data(), buffer.data(),
                                        buffer.data(), 1e-5f, 1, 12, buffer.data(), nullptr)
                .code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(cuda::launch_add_layer_norm(precision(), buffer.data(), buffer.data(), buffer.data(),
                                        buffer.data(), 1e-5f, 1, 2048, buffer.data(), nullptr)
                .code(),
            StatusCode::kUnsupported);
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaOpsTest,
                         ::testing::Values(Precision::kFp32, Precision::kFp16, Precision::kBf16),
                         [](const auto& info) { return std::string(cuda::precision_name(info.param)); });

}  // namespace
}  // namespace justnews::testing
