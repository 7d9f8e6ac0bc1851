// The quantised CPU encoder against the FP32 CPU encoder on every model fixture in tests/fixtures
// (their reference batches) and on the real all-MiniLM-L6-v2: per-token cosine of the last hidden
// state, top-1 agreement of the logits, and (MiniLM) cosine of the sentence embeddings. Bars per
// precision: BF16 essentially exact, the others at regression bars set a little below what they
// measure today (docs/benchmarks.md "Quantization (CPU)" records them against the goals: INT8
// mean cosine 0.999 and 4-bit 0.99 are not met yet on MiniLM).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/cpu/cpu_encoder.h"
#include "model/model_dir.h"
#include "model/weight_file.h"
#include "quant/activation_stats.h"
#include "tensor/vector_math.h"

namespace justnews {
namespace {

namespace fs = std::filesystem;
const fs::path kFixturesDir = fs::path(JUSTNEWS_SOURCE_DIR) / "tests" / "fixtures";
const fs::path kMiniLmDir = fs::path(JUSTNEWS_SOURCE_DIR) / "models" / "all-MiniLM-L6-v2";

struct Bars {
  Precision precision;
  double min_token_cosine;    // mean over tokens
  double min_top1_agreement;  // fraction of logit rows with the same argmax
};

// Random-weight fixtures are harsher than trained models (no outlier structure to exploit, tiny
// hidden sizes make every rounding error count), so the 4-bit bars are looser here than the
// goals stated for real models.
const Bars kBars[] = {{Precision::kBf16, 0.9999, 1.0},
                      {Precision::kInt8, 0.999, 0.9},
                      {Precision::kInt8WeightOnly, 0.9999, 1.0},
                      {Precision::kFp8, 0.998, 0.9},
                      {Precision::kInt4, 0.98, 0.75},
                      {Precision::kNf4, 0.98, 0.75}};

Result<std::vector<int32_t>> read_ints(const WeightFile& file, const std::string& name) {
  JN_ASSIGN_OR_RETURN(Tensor tensor, file.tensor(name));
  return std::vector<int32_t>(tensor.data_as<int32_t>(),
                              tensor.data_as<int32_t>() + tensor.numel());
}

Result<PackedBatch> reference_batch(const fs::path& path) {
  JN_ASSIGN_OR_RETURN(auto file, open_safetensors(path.string()));
  PackedBatch batch;
  JN_ASSIGN_OR_RETURN(batch.token_ids, read_ints(*file, "input_ids"));
  JN_ASSIGN_OR_RETURN(batch.type_ids, read_ints(*file, "type_ids"));
  JN_ASSIGN_OR_RETURN(batch.seq_offsets, read_ints(*file, "seq_offsets"));
  return batch;
}

double mean_cosine_similarity(const Tensor& a, const Tensor& b) {
  const int64_t rows = a.dim(0), columns = a.dim(1);
  double sum = 0;
  for (int64_t row = 0; row < rows; ++row)
    sum += cosine_similarity(a.data_as<float>() + row * columns, b.data_as<float>() + row * columns,
                             columns);
  return sum / static_cast<double>(rows);
}

double top1_agreement(const Tensor& a, const Tensor& b) {
  const int64_t rows = a.dim(0), columns = a.dim(1);
  int64_t same = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const float* ra = a.data_as<float>() + row * columns;
    const float* rb = b.data_as<float>() + row * columns;
    same += std::max_element(ra, ra + columns) - ra == std::max_element(rb, rb + columns) - rb;
  }
  return static_cast<double>(same) / static_cast<double>(rows);
}

std::vector<std::string> fixtures() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kFixturesDir, error))
    if (fs::exists(entry.path() / "reference.safetensors") &&
        fs::exists(entry.path() / "config.json"))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class QuantEncoderFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantEncoderFixture, StaysCloseToFp32) {
  const fs::path dir = kFixturesDir / GetParam();
  auto model = load_model_dir(dir.string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto batch = reference_batch(dir / "reference.safetensors");
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  ThreadPool pool(2);
  ForwardRequest request;
  request.hidden_states = true;
  request.logits = model->config.head != HeadKind::kNone;
  auto fp32 = make_cpu_encoder(*model, &pool);
  ASSERT_TRUE(fp32.ok()) << fp32.status().to_string();
  auto expected = (*fp32)->forward(*batch, request);
  ASSERT_TRUE(expected.ok());
  for (const Bars& bars : kBars) {
    CpuEncoderOptions options;
    options.precision = bars.precision;
    options.group_size = std::min<int64_t>(64, model->config.hidden_size);
    auto encoder = make_cpu_encoder(*model, &pool, options);
    ASSERT_TRUE(encoder.ok()) << precision_name(bars.precision) << ": "
                              << encoder.status().to_string();
    auto actual = (*encoder)->forward(*batch, request);
    ASSERT_TRUE(actual.ok());
    const double cosine = mean_cosine_similarity(expected->hidden_states, actual->hidden_states);
    EXPECT_GE(cosine, bars.min_token_cosine) << precision_name(bars.precision);
    if (request.logits)
      EXPECT_GE(top1_agreement(expected->logits, actual->logits), bars.min_top1_agreement)
          << precision_name(bars.precision);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QuantEncoderFixture, ::testing::ValuesIn(fixtures()));

TEST(QuantEncoderMiniLm, EmbeddingsMeetTheAccuracyGoals) {
  auto model = load_model_dir(kMiniLmDir.string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto batch = reference_batch(kFixturesDir / "minilm" / "reference.safetensors");
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  ThreadPool pool(2);
  ForwardRequest request;
  request.embeddings = true;
  ActivationStatsRecorder recorder(model->config.num_layers);
  CpuEncoderOptions observe;
  observe.observer = &recorder;
  auto fp32 = make_cpu_encoder(*model, &pool, observe);
  ASSERT_TRUE(fp32.ok());
  auto expected = (*fp32)->forward(*batch, request);
  ASSERT_TRUE(expected.ok());
  auto calibration = recorder.finish(99.9f);
  ASSERT_TRUE(calibration.ok()) << calibration.status().to_string();
  struct Case {
    Precision precision;
    float smoothquant_alpha;
    bool static_scales;
    bool ffn_out_bf16;
    double min_cosine;        // mean over the titles (the goal)
    double min_worst_cosine;  // the worst title
  };
  for (const Case& test_case : {Case{Precision::kInt8, 0.0f, false, false, 0.997, 0.995},
                                Case{Precision::kInt8, 0.5f, false, false, 0.998, 0.997},
                                Case{Precision::kInt8, 0.5f, false, true, 0.999, 0.998},
                                Case{Precision::kInt8, 0.5f, true, false, 0.94, 0.90},
                                Case{Precision::kBf16, 0.0f, false, false, 0.9999, 0.9999},
                                Case{Precision::kInt4, 0.0f, false, false, 0.95, 0.93},
                                Case{Precision::kNf4, 0.0f, false, false, 0.97, 0.96}}) {
    CpuEncoderOptions options;
    options.precision = test_case.precision;
    options.calibration = calibration.ok() ? &*calibration : nullptr;
    options.smoothquant_alpha = test_case.smoothquant_alpha;
    options.static_activation_scales = test_case.static_scales;
    options.int8_ffn_out_bf16 = test_case.ffn_out_bf16;
    auto encoder = make_cpu_encoder(*model, &pool, options);
    ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
    auto actual = (*encoder)->forward(*batch, request);
    ASSERT_TRUE(actual.ok());
    const int64_t rows = expected->embeddings.dim(0), hidden = expected->embeddings.dim(1);
    double worst = 1.0, sum = 0.0;
    for (int64_t row = 0; row < rows; ++row) {
      const double cosine =
          cosine_similarity(expected->embeddings.data_as<float>() + row * hidden,
                            actual->embeddings.data_as<float>() + row * hidden, hidden);
      worst = std::min(worst, cosine);
      sum += cosine;
    }
    const double mean = sum / static_cast<double>(rows);
    std::printf("%s alpha %.1f static %d ffn_out bf16 %d: mean cosine %.5f, worst %.5f\n",
                precision_name(test_case.precision), test_case.smoothquant_alpha,
                test_case.static_scales, test_case.ffn_out_bf16, mean, worst);
    EXPECT_GE(worst, test_case.min_worst_cosine);
    EXPECT_GE(mean, test_case.min_cosine)
        << precision_name(test_case.precision) << " alpha " << test_case.smoothquant_alpha
        << " static " << test_case.static_scales;
  }
}

TEST(QuantEncoderOptions, SmoothingWithoutCalibrationIsAnError) {
  auto model = load_model_dir((kFixturesDir / "bert_base").string());
  ASSERT_TRUE(model.ok());
  CpuEncoderOptions options;
  options.precision = Precision::kInt8;
  options.smoothquant_alpha = 0.5f;
  auto encoder = make_cpu_encoder(*model, nullptr, options);
  ASSERT_FALSE(encoder.ok());
  EXPECT_NE(encoder.status().message().find("calibration"), std::string::npos);
  ActivationCalibration wrong;  // zero layers: does not fit the model
  options.calibration = &wrong;
  auto mismatched = make_cpu_encoder(*model, nullptr, options);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("layers"), std::string::npos);
}

}  // namespace
}  // namespace justnews
