// The whole CUDA encoder: against the CPU reference encoder on random-weight models (every head
// dim path, activation, head and pooling mode), against Hugging Face outputs on the fixtures under
// tests/fixtures, graph replay against eager runs, and the inputs it must refuse.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "engine/cpu/cpu_encoder.h"
#include "engine/cuda/cuda_encoder.h"
#include "engine/cuda/dependent_launch.h"
#include "model/model_dir.h"
#include "model/weight_file.h"
#include "random_model.h"

namespace justnews::testing {
namespace {

namespace fs = std::filesystem;
using cuda::Precision;

const fs::path kFixturesDir = fs::path(JUSTNEWS_SOURCE_DIR) / "tests" / "fixtures";

// Cosine of the whole output and the worst cosine of a single row, against a float32 reference.
struct Agreement {
  double cosine = 0.0;
  double min_row_cosine = 0.0;
  double max_abs_diff = 0.0;
};

Agreement agreement(const Tensor& actual, const Tensor& expected) {
  Agreement result;
  if (actual.shape() != expected.shape() || expected.rank() != 2) return result;
  const int64_t rows = expected.dim(0), width = expected.dim(1);
  const float* a = actual.data_as<float>();
  const float* b = expected.data_as<float>();
  double dot = 0, norm_a = 0, norm_b = 0;
  result.min_row_cosine = 1.0;
  for (int64_t row = 0; row < rows; ++row) {
    double row_dot = 0, row_a = 0, row_b = 0;
    for (int64_t col = 0; col < width; ++col) {
      const double x = a[row * width + col], y = b[row * width + col];
      row_dot += x * y;
      row_a += x * x;
      row_b += y * y;
      result.max_abs_diff = std::max(result.max_abs_diff, std::abs(x - y));
      if (std::isnan(x)) result.max_abs_diff = INFINITY;
    }
    const double row_cosine = row_dot / std::sqrt(std::max(row_a * row_b, 1e-60));
    if (!(row_cosine >= result.min_row_cosine)) result.min_row_cosine = row_cosine;
    dot += row_dot;
    norm_a += row_a;
    norm_b += row_b;
  }
  result.cosine = dot / std::sqrt(std::max(norm_a * norm_b, 1e-60));
  if (std::isnan(result.cosine) || std::isinf(result.max_abs_diff)) result.cosine = result.min_row_cosine = -1;
  return result;
}

// Whole-model cosine targets against the FP32 CPU encoder: 0.9999 for fp16/bf16 (the bar),
// and far tighter for fp32, which differs from the CPU only in summation order.
void expect_close(const Tensor& actual, const Tensor& expected, Precision precision, const std::string& what) {
  const Agreement result = agreement(actual, expected);
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  if (precision == Precision::kFp32) {
    EXPECT_LT(result.max_abs_diff, 2e-4) << what;
    EXPECT_GT(result.min_row_cosine, 0.999999) << what;
  } else {
    EXPECT_GT(result.cosine, 0.9999) << what;
    EXPECT_GT(result.min_row_cosine, precision == Precision::kBf16 ? 0.999 : 0.9995) << what;
  }
}

struct ModelCase {
  const char* name;
  RandomModelShape shape;
};

std::vector<ModelCase> model_cases() {
  std::vector<ModelCase> cases;
  RandomModelShape seqcls;  // head_dim 16: scalar attention
  seqcls.head = HeadKind::kSequenceClassification;
  seqcls.num_labels = 3;
  seqcls.pooling = {true, PoolingMode::kMean, true};
  cases.push_back({"hd16_erf_seqcls_mean_norm", seqcls});

  RandomModelShape tokcls;  // head_dim 64: tensor-core attention
  tokcls.hidden_size = 128;
  tokcls.num_heads = 2;
  tokcls.intermediate_size = 512;
  tokcls.activation = Activation::kGeluTanh;
  tokcls.head = HeadKind::kTokenClassification;
  tokcls.num_labels = 5;
  tokcls.pooling = {true, PoolingMode::kCls, false};
  cases.push_back({"hd64_tanh_tokcls_cls", tokcls});

  RandomModelShape relu;  // head_dim 32, ReLU FFN, DistilBERT-like head without pre-activation
  relu.hidden_size = 256;
  relu.num_heads = 8;
  relu.intermediate_size = 1024;
  relu.activation = Activation::kRelu;
  relu.head = HeadKind::kSequenceClassification;
  relu.num_labels = 2;
  relu.head_pre_activation = HeadActivation::kRelu;
  relu.pooling = {true, PoolingMode::kMax, true};
  relu.type_vocab_size = 0;
  cases.push_back({"hd32_relu_seqcls_max_norm", relu});

  RandomModelShape wide;  // head_dim 128
  wide.hidden_size = 256;
  wide.num_heads = 2;
  wide.intermediate_size = 1024;
  wide.num_layers = 3;
  cases.push_back({"hd128_erf_base", wide});

  RandomModelShape tiny;  // the fixtures' shape: hidden 32, head_dim 8
  tiny.hidden_size = 32;
  tiny.num_heads = 4;
  tiny.intermediate_size = 64;
  cases.push_back({"hd8_tiny", tiny});
  return cases;
}

struct EncoderCase {
  ModelCase model;
  Precision precision;
};

class CudaEncoderVsCpu : public ::testing::TestWithParam<EncoderCase> {
 protected:
  void SetUp() override { JN_SKIP_WITHOUT_GPU(); }
};

TEST_P(CudaEncoderVsCpu, MatchesCpuEncoder) {
  const RandomModel model = make_random_model(GetParam().model.shape, 1234);
  const PackedBatch batch = make_random_batch(model.config, {1, 5, 70, 130, 33, 200}, 99);
  auto cpu = make_cpu_encoder(model.config, model.weights, nullptr);
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  CudaEncoderOptions options;
  options.precision = GetParam().precision;
  options.max_batch_tokens = 1024;
  auto gpu = make_cuda_encoder(model.config, model.weights, options);
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  const ForwardRequest request{true, model.config.head != HeadKind::kNone, true};
  auto expected = (*cpu)->forward(batch, request);
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  // Three runs: eager, graph capture, graph replay; all must agree with the CPU.
  for (int run = 0; run < 3; ++run) {
    auto actual = (*gpu)->forward(batch, request);
    ASSERT_TRUE(actual.ok()) << actual.status().to_string();
    const std::string where = "run " + std::to_string(run);
    expect_close(actual->hidden_states, expected->hidden_states, options.precision, "hidden " + where);
    if (request.logits) expect_close(actual->logits, expected->logits, options.precision, "logits " + where);
    expect_close(actual->embeddings, expected->embeddings, options.precision, "embeddings " + where);
  }
}

std::vector<EncoderCase> encoder_cases() {
  std::vector<EncoderCase> cases;
  for (const ModelCase& model : model_cases())
    for (Precision precision : {Precision::kFp32, Precision::kFp16, Precision::kBf16})
      cases.push_back({model, precision});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Models, CudaEncoderVsCpu, ::testing::ValuesIn(encoder_cases()),
                         [](const auto& info) {
                           return std::string(info.param.model.name) + "_" +
                                  cuda::precision_name(info.param.precision);
                         });

TEST(CudaEncoderGraphs, ReplayMatchesEagerForNewInputsOfTheSameShape) {
  JN_SKIP_WITHOUT_GPU();
  RandomModelShape shape;
  shape.hidden_size = 128;
  shape.num_heads = 2;
  const RandomModel model = make_random_model(shape, 5);
  CudaEncoderOptions eager_options;
  eager_options.max_batch_tokens = 512;
  eager_options.use_cuda_graphs = false;
  CudaEncoderOptions graph_options = eager_options;
  graph_options.use_cuda_graphs = true;
  auto eager = make_cuda_encoder(model.config, model.weights, eager_options);
  auto graphed = make_cuda_encoder(model.config, model.weights, graph_options);
  ASSERT_TRUE(eager.ok() && graphed.ok());
  // Same shape key (tokens, sequences, length bucket) with different ids and split points.
  const std::vector<std::vector<int64_t>> layouts{{40, 60, 28}, {40, 60, 28}, {10, 100, 18}, {64, 32, 32}};
  for (size_t idx = 0; idx < layouts.size(); ++idx) {
    const PackedBatch batch = make_random_batch(model.config, layouts[idx], 100 + idx);
    auto expected = (*eager)->forward(batch, {true, false, true});
    auto actual = (*graphed)->forward(batch, {true, false, true});
    ASSERT_TRUE(expected.ok() && actual.ok());
    const std::vector<float> a(actual->hidden_states.data_as<float>(),
                               actual->hidden_states.data_as<float>() + actual->hidden_states.numel());
    const std::vector<float> b(expected->hidden_states.data_as<float>(),
                               expected->hidden_states.data_as<float>() + expected->hidden_states.numel());
    EXPECT_EQ(a, b) << "batch " << idx;
  }
}

// Dependent launches (PDL) let a kernel start while the previous one finishes; every kernel waits
// before touching memory, so the output must be the plain stream order's, bit for bit, eager and
// in graphs, for the native path and the code-GEMM paths (calibrated FP8 and INT8 included, whose
// GEMMs and attention write the next layer's codes). Big enough for kernels of several waves.
TEST(CudaEncoderDependentLaunch, MatchesPlainStreamOrderBitForBit) {
  JN_SKIP_WITHOUT_GPU();
  RandomModelShape shape;
  shape.hidden_size = 256;
  shape.num_heads = 4;
  shape.intermediate_size = 1024;
  const RandomModel model = make_random_model(shape, 17);
  auto calibration = calibrate_random_model(model);
  ASSERT_TRUE(calibration.ok()) << calibration.status().to_string();
  const PackedBatch batch = make_random_batch(model.config, std::vector<int64_t>(24, 128), 71);
  for (const char* precision : {"fp16", "fp8", "fp8-static", "int8", "int8-static"}) {
    CudaEncoderOptions options;
    const std::string name = precision;
    const bool calibrated = name.find("-static") != std::string::npos;
    ASSERT_TRUE(apply_precision_name(name.substr(0, name.find('-')), options).ok());
    if (calibrated) {
      options.calibration = &*calibration;
      options.static_activation_scales = true;
    }
    options.max_batch_tokens = 4096;
    options.dependent_launch_max_values = options.max_batch_tokens * model.config.hidden_size;
    options.autotune_gemms = false;  // both orders must run the same GEMM algorithms
    options.use_cuda_graphs = false;
    auto eager = make_cuda_encoder(model.config, model.weights, options);
    options.use_cuda_graphs = true;
    auto graphed = make_cuda_encoder(model.config, model.weights, options);
    ASSERT_TRUE(eager.ok() && graphed.ok()) << name;
    cuda::set_dependent_launch(false);
    auto expected = (*eager)->forward(batch, {true, false, true});
    cuda::set_dependent_launch(true);
    ASSERT_TRUE(expected.ok()) << name << ": " << expected.status().to_string();
    const std::vector<float> want(
        expected->hidden_states.data_as<float>(),
        expected->hidden_states.data_as<float>() + expected->hidden_states.numel());
    // Eager twice, then the graph's eager run, capture and replay.
    for (int run = 0; run < 5; ++run) {
      Encoder& encoder = run < 2 ? **eager : **graphed;
      auto actual = encoder.forward(batch, {true, false, true});
      ASSERT_TRUE(actual.ok()) << name << ": " << actual.status().to_string();
      const std::vector<float> got(
          actual->hidden_states.data_as<float>(),
          actual->hidden_states.data_as<float>() + actual->hidden_states.numel());
      EXPECT_EQ(got, want) << name << ", run " << run << (run < 2 ? " (eager)" : " (graphs)");
    }
  }
}

TEST(CudaEncoderErrors, RefusesBadInputWithoutCrashing) {
  JN_SKIP_WITHOUT_GPU();
  RandomModelShape shape;
  const RandomModel model = make_random_model(shape, 6);
  CudaEncoderOptions options;
  options.max_batch_tokens = 64;
  auto encoder = make_cuda_encoder(model.config, model.weights, options);
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();

  auto too_long = (*encoder)->forward(make_random_batch(model.config, {40, 40}, 1), {true, false, false});
  EXPECT_EQ(too_long.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(too_long.status().message().find("max_batch_tokens"), std::string::npos);

  PackedBatch bad_id = make_random_batch(model.config, {4}, 2);
  bad_id.token_ids[2] = static_cast<int32_t>(model.config.vocab_size);
  EXPECT_EQ((*encoder)->forward(bad_id, {true, false, false}).status().code(), StatusCode::kOutOfRange);

  EXPECT_EQ((*encoder)->forward(make_random_batch(model.config, {4}, 3), {false, true, false}).status().code(),
            StatusCode::kInvalidArgument);

  // The encoder still works after refusing.
  EXPECT_TRUE((*encoder)->forward(make_random_batch(model.config, {4, 9}, 4), {true, false, true}).ok());

  RandomModel bad_shape = make_random_model(shape, 7);
  bad_shape.weights.layers[1].ffn_in_weight = bad_shape.weights.layers[1].ffn_out_weight;
  auto refused = make_cuda_encoder(bad_shape.config, bad_shape.weights, options);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("layer.1.ffn_in_weight"), std::string::npos)
      << refused.status().message();

  RandomModelShape odd_heads;
  odd_heads.hidden_size = 48;
  odd_heads.num_heads = 4;  // head_dim 12
  const RandomModel odd = make_random_model(odd_heads, 8);
  EXPECT_EQ(make_cuda_encoder(odd.config, odd.weights, options).status().code(), StatusCode::kUnsupported);

  options.max_batch_tokens = 0;
  EXPECT_EQ(make_cuda_encoder(model.config, model.weights, options).status().code(),
            StatusCode::kInvalidArgument);
}

// ---- Hugging Face fixtures ------------------------------------------------------------------

std::vector<std::string> model_fixtures() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kFixturesDir, error)) {
    if (fs::exists(entry.path() / "reference.safetensors") && fs::exists(entry.path() / "config.json"))
      names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<int32_t>> read_ints(const WeightFile& file, const std::string& name) {
  JN_ASSIGN_OR_RETURN(Tensor tensor, file.tensor(name));
  if (tensor.dtype() != DType::kI32 || tensor.rank() != 1)
    return invalid_argument(file.path() + ": " + name + " must be a rank-1 I32 tensor");
  return std::vector<int32_t>(tensor.data_as<int32_t>(), tensor.data_as<int32_t>() + tensor.numel());
}

struct FixtureCase {
  std::string fixture;
  Precision precision;
};

class CudaEncoderVsTransformers : public ::testing::TestWithParam<FixtureCase> {
 protected:
  void SetUp() override { JN_SKIP_WITHOUT_GPU(); }
};

TEST_P(CudaEncoderVsTransformers, MatchesFixtureReference) {
  const fs::path dir = kFixturesDir / GetParam().fixture;
  auto file = open_safetensors((dir / "reference.safetensors").string());
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  PackedBatch batch;
  auto ids = read_ints(**file, "input_ids");
  auto types = read_ints(**file, "type_ids");
  auto offsets = read_ints(**file, "seq_offsets");
  ASSERT_TRUE(ids.ok() && types.ok() && offsets.ok());
  batch.token_ids = *ids;
  batch.type_ids = *types;
  batch.seq_offsets = *offsets;
  auto model = load_model_dir(dir.string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  CudaEncoderOptions options;
  options.precision = GetParam().precision;
  options.max_batch_tokens = 256;
  auto encoder = make_cuda_encoder(*model, options);
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  ForwardRequest request;
  request.hidden_states = (*file)->contains("hidden_states");
  request.logits = (*file)->contains("logits");
  request.embeddings = (*file)->contains("embeddings");
  auto result = (*encoder)->forward(batch, request);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  if (request.hidden_states)
    expect_close(result->hidden_states, *(*file)->tensor("hidden_states"), options.precision, "hidden");
  if (request.logits) expect_close(result->logits, *(*file)->tensor("logits"), options.precision, "logits");
  if (request.embeddings)
    expect_close(result->embeddings, *(*file)->tensor("embeddings"), options.precision, "embeddings");
}

std::vector<FixtureCase> fixture_cases() {
  std::vector<FixtureCase> cases;
  for (const std::string& name : model_fixtures())
    for (Precision precision : {Precision::kFp32, Precision::kFp16, Precision::kBf16})
      cases.push_back({name, precision});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaEncoderVsTransformers, ::testing::ValuesIn(fixture_cases()),
                         [](const auto& info) {
                           return info.param.fixture + "_" + cuda::precision_name(info.param.precision);
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CudaEncoderVsTransformers);

}  // namespace
}  // namespace justnews::testing
