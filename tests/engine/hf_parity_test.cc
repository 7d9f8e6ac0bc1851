// Parity with Hugging Face: every fixture under tests/fixtures/ that has reference.safetensors
// (written by tools/make_fixtures.py with transformers in float32) is loaded from both checkpoint
// formats and run through the CPU encoder; hidden states and logits must match to 1e-4 and
// sentence embeddings to cosine 0.99999. The real all-MiniLM-L6-v2 is checked against
// sentence-transformers' embeddings. Missing references fail unless
// JUSTNEWS_ALLOW_MISSING_REFERENCE=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/cpu/cpu_encoder.h"
#include "model/model_dir.h"
#include "model/weight_file.h"

namespace justnews {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxAbsDiff = 1e-4;
constexpr double kMinCosine = 0.99999;

const fs::path kFixturesDir = fs::path(JUSTNEWS_SOURCE_DIR) / "tests" / "fixtures";
const fs::path kMiniLmDir = fs::path(JUSTNEWS_SOURCE_DIR) / "models" / "all-MiniLM-L6-v2";

bool missing_reference_allowed() {
  const char* flag = std::getenv("JUSTNEWS_ALLOW_MISSING_REFERENCE");
  return flag && std::string(flag) == "1";
}

// Fixture directories holding a model (config.json) and its reference outputs.
std::vector<std::string> model_fixtures() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kFixturesDir, error)) {
    if (fs::exists(entry.path() / "reference.safetensors") &&
        fs::exists(entry.path() / "config.json"))
      names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Reference {
  std::unique_ptr<WeightFile> file;
  PackedBatch batch;
  Tensor hidden_states, logits, embeddings;  // empty when the fixture has none
};

Result<std::vector<int32_t>> read_ints(const WeightFile& file, const std::string& name) {
  JN_ASSIGN_OR_RETURN(Tensor tensor, file.tensor(name));
  if (tensor.dtype() != DType::kI32 || tensor.rank() != 1)
    return invalid_argument(file.path() + ": " + name + " must be a rank-1 I32 tensor");
  return std::vector<int32_t>(tensor.data_as<int32_t>(),
                              tensor.data_as<int32_t>() + tensor.numel());
}

Result<Reference> load_reference(const fs::path& path) {
  Reference reference;
  JN_ASSIGN_OR_RETURN(reference.file, open_safetensors(path.string()));
  const WeightFile& file = *reference.file;
  JN_ASSIGN_OR_RETURN(reference.batch.token_ids, read_ints(file, "input_ids"));
  JN_ASSIGN_OR_RETURN(reference.batch.type_ids, read_ints(file, "type_ids"));
  JN_ASSIGN_OR_RETURN(reference.batch.seq_offsets, read_ints(file, "seq_offsets"));
  for (auto [name, slot] :
       {std::pair{"hidden_states", &reference.hidden_states},
        std::pair{"logits", &reference.logits}, std::pair{"embeddings", &reference.embeddings}}) {
    if (!file.contains(name)) continue;
    JN_ASSIGN_OR_RETURN(*slot, file.tensor(name));
    if (slot->dtype() != DType::kF32)
      return invalid_argument(file.path() + ": " + name + " must be F32");
  }
  return reference;
}

double max_abs_diff(const Tensor& actual, const Tensor& expected) {
  double worst = 0.0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double diff =
        std::abs(static_cast<double>(actual.data_as<float>()[i]) - expected.data_as<float>()[i]);
    if (std::isnan(diff)) return INFINITY;
    worst = std::max(worst, diff);
  }
  return worst;
}

double min_row_cosine(const Tensor& actual, const Tensor& expected) {
  const int64_t rows = expected.dim(0), width = expected.dim(1);
  double worst = 1.0;
  for (int64_t row = 0; row < rows; ++row) {
    double dot = 0, norm_a = 0, norm_b = 0;
    for (int64_t i = 0; i < width; ++i) {
      const double a = actual.data_as<float>()[row * width + i];
      const double b = expected.data_as<float>()[row * width + i];
      dot += a * b;
      norm_a += a * a;
      norm_b += b * b;
    }
    const double cosine = dot / std::sqrt(norm_a * norm_b);
    if (!(cosine >= worst)) worst = cosine;  // NaN counts as the worst
  }
  return worst;
}

struct ParityCase {
  std::string fixture;
  std::string format;  // "safetensors" or "bin"
};

void PrintTo(const ParityCase& parity_case, std::ostream* os) {
  *os << parity_case.fixture << " (" << parity_case.format << ")";
}

class HfParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(HfParity, MatchesTransformers) {
  const fs::path dir = kFixturesDir / GetParam().fixture;
  auto reference = load_reference(dir / "reference.safetensors");
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  auto model = load_model_dir(dir.string(), GetParam().format);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ASSERT_NE(model->weights_path.find(GetParam().format == "bin" ? ".bin" : ".safetensors"),
            std::string::npos)
      << model->weights_path;
  ThreadPool pool(2);
  auto encoder = make_cpu_encoder(*model, &pool);
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  ForwardRequest request;
  request.hidden_states = !reference->hidden_states.empty();
  request.logits = !reference->logits.empty();
  request.embeddings = !reference->embeddings.empty();
  auto result = (*encoder)->forward(reference->batch, request);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  if (request.hidden_states) {
    ASSERT_EQ(result->hidden_states.shape(), reference->hidden_states.shape());
    EXPECT_LE(max_abs_diff(result->hidden_states, reference->hidden_states), kMaxAbsDiff);
  }
  if (request.logits) {
    ASSERT_EQ(result->logits.shape(), reference->logits.shape());
    EXPECT_LE(max_abs_diff(result->logits, reference->logits), kMaxAbsDiff);
  }
  if (request.embeddings) {
    ASSERT_EQ(result->embeddings.shape(), reference->embeddings.shape());
    EXPECT_GE(min_row_cosine(result->embeddings, reference->embeddings), kMinCosine);
    EXPECT_LE(max_abs_diff(result->embeddings, reference->embeddings), kMaxAbsDiff);
  }
}

std::vector<ParityCase> parity_cases() {
  std::vector<ParityCase> cases;
  for (const std::string& name : model_fixtures())
    for (const char* format : {"safetensors", "bin"}) cases.push_back({name, format});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfParity, ::testing::ValuesIn(parity_cases()),
                         [](const auto& info) {
                           return info.param.fixture + "_" + info.param.format;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(HfParity);

TEST(HfParityFixtures, ReferenceFixturesArePresent) {
  if (missing_reference_allowed() && model_fixtures().empty()) GTEST_SKIP() << "allowed by env";
  EXPECT_FALSE(model_fixtures().empty())
      << "no fixture with reference.safetensors under " << kFixturesDir
      << " (run tools/make_fixtures.py, or set JUSTNEWS_ALLOW_MISSING_REFERENCE=1)";
}

TEST(HfParityMiniLm, MatchesSentenceTransformers) {
  const fs::path reference_path = kFixturesDir / "minilm" / "reference.safetensors";
  if (!fs::exists(kMiniLmDir / "config.json") || !fs::exists(reference_path)) {
    if (missing_reference_allowed()) GTEST_SKIP() << "model or reference missing, allowed by env";
    FAIL() << "need " << kMiniLmDir << " (tools/fetch_models.sh) and " << reference_path
           << " (tools/make_fixtures.py); set JUSTNEWS_ALLOW_MISSING_REFERENCE=1 to skip";
  }
  auto reference = load_reference(reference_path);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  ASSERT_FALSE(reference->embeddings.empty());
  auto model = load_model_dir(kMiniLmDir.string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ASSERT_TRUE(model->config.pooling.present && model->config.pooling.normalize);
  ThreadPool pool(2);
  auto encoder = make_cpu_encoder(*model, &pool);
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  auto result = (*encoder)->forward(reference->batch, {false, false, true});
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  ASSERT_EQ(result->embeddings.shape(), reference->embeddings.shape());
  EXPECT_GE(min_row_cosine(result->embeddings, reference->embeddings), kMinCosine);
  EXPECT_LE(max_abs_diff(result->embeddings, reference->embeddings), kMaxAbsDiff);
}

}  // namespace
}  // namespace justnews
