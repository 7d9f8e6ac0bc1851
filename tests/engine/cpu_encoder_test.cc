// The whole CPU encoder against the naive double-precision encoder on random weights: every
// architecture, activation, head and pooling mode; packing invariance; and every bad input the
// engine must refuse with an error instead of crashing.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/cpu/cpu_encoder.h"
#include "naive_encoder.h"

namespace justnews {
namespace {

using testing::max_abs_diff;
using testing::naive_forward;
using testing::random_batch;
using testing::random_weights;
using testing::tiny_config;

constexpr double kTolerance = 1e-4;

struct Variant {
  const char* name;
  Architecture architecture;
  Activation activation;
  HeadKind head;
  PoolingConfig pooling;
  ProblemType problem_type = ProblemType::kSingleLabel;
};

// gtest would otherwise dump the struct's raw bytes, padding included.
void PrintTo(const Variant& variant, std::ostream* os) { *os << variant.name; }

EncoderConfig variant_config(const Variant& variant) {
  EncoderConfig config = tiny_config(variant.architecture);
  config.activation = variant.activation;
  config.head = variant.head;
  if (variant.head != HeadKind::kNone) config.id2label = {"a", "b", "c"};
  config.pooling = variant.pooling;
  config.problem_type = variant.problem_type;
  return config;
}

class CpuEncoderVsNaive : public ::testing::TestWithParam<Variant> {};

TEST_P(CpuEncoderVsNaive, HiddenLogitsAndEmbeddingsMatch) {
  const EncoderConfig config = variant_config(GetParam());
  const EncoderWeights weights = random_weights(config, 7);
  PackedBatch batch = random_batch(config, {1, 9, 30, 4, 17}, 3);
  if (config.architecture == Architecture::kRoberta)
    batch.token_ids[12] = static_cast<int32_t>(config.pad_token_id);
  const auto expected = naive_forward(config, weights, batch);
  ThreadPool pool(2);
  for (ThreadPool* maybe_pool : {static_cast<ThreadPool*>(nullptr), &pool}) {
    auto encoder = make_cpu_encoder(config, weights, maybe_pool);
    ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
    ForwardRequest request{true, config.head != HeadKind::kNone, true};
    auto result = (*encoder)->forward(batch, request);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    ASSERT_EQ(result->hidden_states.shape(), (Shape{batch.total_tokens(), config.hidden_size}));
    EXPECT_LT(max_abs_diff(result->hidden_states.data_as<float>(), expected.hidden_states),
              kTolerance);
    if (request.logits) {
      const int64_t rows = config.head == HeadKind::kTokenClassification ? batch.total_tokens()
                                                                         : batch.num_sequences();
      ASSERT_EQ(result->logits.shape(), (Shape{rows, 3}));
      EXPECT_LT(max_abs_diff(result->logits.data_as<float>(), expected.logits), kTolerance);
    }
    ASSERT_EQ(result->embeddings.shape(), (Shape{batch.num_sequences(), config.hidden_size}));
    EXPECT_LT(max_abs_diff(result->embeddings.data_as<float>(), expected.embeddings), kTolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, CpuEncoderVsNaive,
    ::testing::Values(
        Variant{"bert_gelu_mean", Architecture::kBert, Activation::kGeluErf, HeadKind::kNone, {}},
        Variant{"bert_gelu_tanh_cls",
                Architecture::kBert,
                Activation::kGeluTanh,
                HeadKind::kNone,
                {true, PoolingMode::kCls, false}},
        Variant{"bert_seqcls_max_norm",
                Architecture::kBert,
                Activation::kGeluErf,
                HeadKind::kSequenceClassification,
                {true, PoolingMode::kMax, true}},
        Variant{"bert_tokcls",
                Architecture::kBert,
                Activation::kGeluErf,
                HeadKind::kTokenClassification,
                {true, PoolingMode::kMean, true}},
        Variant{"roberta_seqcls",
                Architecture::kRoberta,
                Activation::kGeluErf,
                HeadKind::kSequenceClassification,
                {}},
        Variant{"distilbert_relu_tokcls",
                Architecture::kDistilBert,
                Activation::kRelu,
                HeadKind::kTokenClassification,
                {}},
        Variant{"distilbert_gelu_seqcls",
                Architecture::kDistilBert,
                Activation::kGeluErf,
                HeadKind::kSequenceClassification,
                {}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CpuEncoder, PackedBatchEqualsSequencesOneByOne) {
  const EncoderConfig config = tiny_config(Architecture::kBert);
  const EncoderWeights weights = random_weights(config, 9);
  ThreadPool pool(2);
  auto encoder = make_cpu_encoder(config, weights, &pool);
  ASSERT_TRUE(encoder.ok());
  const std::vector<int> lengths = {5, 33, 2, 12};
  const PackedBatch batch = random_batch(config, lengths, 5);
  auto packed = (*encoder)->forward(batch, {true, false, false});
  ASSERT_TRUE(packed.ok());
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    PackedBatch single;
    const auto begin = batch.seq_offsets[s], end = batch.seq_offsets[s + 1];
    single.append({batch.token_ids.begin() + begin, batch.token_ids.begin() + end},
                  {batch.type_ids.begin() + begin, batch.type_ids.begin() + end});
    auto alone = (*encoder)->forward(single, {true, false, false});
    ASSERT_TRUE(alone.ok());
    for (int64_t i = 0; i < (end - begin) * config.hidden_size; ++i)
      ASSERT_NEAR(alone->hidden_states.data_as<float>()[i],
                  packed->hidden_states.data_as<float>()[begin * config.hidden_size + i], 1e-5)
          << "sequence " << s;
  }
}

TEST(CpuEncoder, HalfPrecisionWeightsAreConvertedOnce) {
  const EncoderConfig config = tiny_config(Architecture::kBert);
  EncoderWeights weights = random_weights(config, 11);
  // Round every layer weight through BF16; the naive reference sees the rounded float32 values.
  auto to_bf16 = [](Tensor& tensor) {
    Tensor half = Tensor::zeros(DType::kBF16, tensor.shape());
    Tensor rounded = Tensor::zeros(DType::kF32, tensor.shape());
    for (int64_t i = 0; i < tensor.numel(); ++i) {
      half.mutable_data_as<uint16_t>()[i] = f32_to_bf16(tensor.data_as<float>()[i]);
      rounded.mutable_data_as<float>()[i] = bf16_to_f32(half.data_as<uint16_t>()[i]);
    }
    tensor = rounded;
    return half;
  };
  EncoderWeights half_weights = weights;
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    half_weights.layers[l].query_weight = to_bf16(weights.layers[l].query_weight);
    half_weights.layers[l].ffn_in_weight = to_bf16(weights.layers[l].ffn_in_weight);
  }
  const PackedBatch batch = random_batch(config, {6, 11}, 2);
  auto encoder = make_cpu_encoder(config, half_weights, nullptr);
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  auto result = (*encoder)->forward(batch, {true, false, false});
  ASSERT_TRUE(result.ok());
  EXPECT_LT(max_abs_diff(result->hidden_states.data_as<float>(),
                         naive_forward(config, weights, batch).hidden_states),
            kTolerance);
}

TEST(CpuEncoder, EmptyBatchGivesEmptyOutputs) {
  const EncoderConfig config = tiny_config(Architecture::kBert);
  auto encoder = make_cpu_encoder(config, random_weights(config, 1), nullptr);
  ASSERT_TRUE(encoder.ok());
  PackedBatch batch;
  batch.seq_offsets = {0};
  auto result = (*encoder)->forward(batch, {true, false, true});
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->hidden_states.shape(), (Shape{0, config.hidden_size}));
  EXPECT_EQ(result->embeddings.shape(), (Shape{0, config.hidden_size}));
}

class CpuEncoderBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = tiny_config(Architecture::kBert);
    auto encoder = make_cpu_encoder(config_, random_weights(config_, 1), nullptr);
    ASSERT_TRUE(encoder.ok());
    encoder_ = std::move(*encoder);
  }
  Status forward_status(const PackedBatch& batch, ForwardRequest request = {true, false, false}) {
    auto result = encoder_->forward(batch, request);
    return result.ok() ? ok_status() : result.status();
  }
  EncoderConfig config_;
  std::unique_ptr<Encoder> encoder_;
};

TEST_F(CpuEncoderBadInput, TokenIdOutsideVocabulary) {
  PackedBatch batch;
  batch.append({0, 3, 50});
  const Status status = forward_status(batch);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("id 50"), std::string::npos) << status.message();
  batch.token_ids[2] = -1;
  EXPECT_EQ(forward_status(batch).code(), StatusCode::kOutOfRange);
}

TEST_F(CpuEncoderBadInput, TypeIdOutsideTable) {
  PackedBatch batch;
  batch.append({0, 3}, {0, 2});
  EXPECT_EQ(forward_status(batch).code(), StatusCode::kOutOfRange);
}

TEST_F(CpuEncoderBadInput, SequenceLongerThanPositions) {
  PackedBatch batch;
  batch.append(std::vector<int32_t>(static_cast<size_t>(config_.max_sequence_length() + 1), 3));
  const Status status = forward_status(batch);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("at most 40"), std::string::npos) << status.message();
}

TEST_F(CpuEncoderBadInput, BrokenOffsets) {
  PackedBatch batch;
  batch.append({0, 3, 4});
  batch.seq_offsets = {0, 2};  // does not cover all tokens
  EXPECT_EQ(forward_status(batch).code(), StatusCode::kInvalidArgument);
  batch.seq_offsets = {0, 3, 3};  // empty sequence
  EXPECT_EQ(forward_status(batch).code(), StatusCode::kInvalidArgument);
  batch.seq_offsets = {};
  EXPECT_EQ(forward_status(batch).code(), StatusCode::kInvalidArgument);
  batch.seq_offsets = {0, 3};
  batch.type_ids.pop_back();
  EXPECT_EQ(forward_status(batch).code(), StatusCode::kInvalidArgument);
}

TEST_F(CpuEncoderBadInput, LogitsWithoutHead) {
  PackedBatch batch;
  batch.append({0, 3});
  const Status status = forward_status(batch, {false, true, false});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("no classification head"), std::string::npos) << status.message();
}

TEST_F(CpuEncoderBadInput, RandomlyCorruptedBatchesAreRefusedOrRun) {
  // Every field mutated at random: each forward must either succeed with the right shapes or
  // return an error; never crash or read out of bounds.
  std::mt19937 rng(17);
  std::uniform_int_distribution<int32_t> any_value(-3, 60);
  int refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    PackedBatch batch = testing::random_batch(config_, {1 + trial % 7, 3, 1 + trial % 13}, trial);
    const int mutations = 1 + trial % 3;
    for (int m = 0; m < mutations; ++m) {
      const size_t num_tokens = batch.token_ids.size();
      switch (rng() % 4) {
        case 0:
          if (num_tokens) batch.token_ids[rng() % num_tokens] = any_value(rng);
          break;
        case 1:
          if (!batch.type_ids.empty())
            batch.type_ids[rng() % batch.type_ids.size()] = any_value(rng) % 4;
          break;
        case 2:
          batch.seq_offsets[rng() % batch.seq_offsets.size()] = any_value(rng);
          break;
        case 3:
          batch.token_ids.resize(rng() % (num_tokens + 1));
          break;
      }
    }
    auto result = encoder_->forward(batch, {true, false, true});
    if (!result.ok()) {
      ++refused;
      continue;
    }
    EXPECT_EQ(result->hidden_states.dim(0), batch.total_tokens());
    EXPECT_EQ(result->embeddings.dim(0), batch.num_sequences());
  }
  EXPECT_GT(refused, 100) << "most corruptions must be caught";
}

TEST(CpuEncoderWeights, WrongShapeIsNamed) {
  const EncoderConfig config = tiny_config(Architecture::kBert);
  EncoderWeights weights = random_weights(config, 1);
  weights.layers[1].ffn_out_weight =
      testing::random_tensor({config.intermediate_size, config.hidden_size}, 1);
  auto encoder = make_cpu_encoder(config, weights, nullptr);
  ASSERT_FALSE(encoder.ok());
  EXPECT_EQ(encoder.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(encoder.status().message().find(
                "layer 1 ffn_out_weight has shape [48, 32], expected [32, 48]"),
            std::string::npos)
      << encoder.status().message();
}

TEST(CpuEncoderWeights, MissingTensorsAndBadConfigAreRefused) {
  const EncoderConfig config = tiny_config(Architecture::kBert);
  EncoderWeights missing = random_weights(config, 1);
  missing.layers[0].key_bias = Tensor();
  auto encoder = make_cpu_encoder(config, missing, nullptr);
  ASSERT_FALSE(encoder.ok());
  EXPECT_NE(encoder.status().message().find("layer 0 key_bias is missing"), std::string::npos);

  EncoderWeights fewer = random_weights(config, 1);
  fewer.layers.pop_back();
  EXPECT_FALSE(make_cpu_encoder(config, fewer, nullptr).ok());

  EncoderConfig odd_heads = config;
  odd_heads.num_heads = 5;
  EXPECT_FALSE(make_cpu_encoder(odd_heads, random_weights(config, 1), nullptr).ok());

  EncoderConfig with_head = config;
  with_head.head = HeadKind::kSequenceClassification;
  with_head.id2label = {"x", "y"};
  EXPECT_FALSE(make_cpu_encoder(with_head, random_weights(config, 1), nullptr).ok())
      << "head weights are absent";

  EncoderWeights integer = random_weights(config, 1);
  integer.word_embeddings = Tensor::zeros(DType::kI32, {config.vocab_size, config.hidden_size});
  auto refused = make_cpu_encoder(config, integer, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace justnews
