// Real checkpoints written by torch/transformers: every fixture under tests/fixtures must give
// bit-identical tensors from model.safetensors and pytorch_model.bin and bind to its config; the
// all-MiniLM-L6-v2 checkpoint (when installed) must match its published shape.
#include <gtest/gtest.h>

#include <cstring>
#include <cstdlib>
#include <filesystem>

#include "model/model_dir.h"

namespace justnews {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(JUSTNEWS_SOURCE_DIR) / "tests/fixtures";
const fs::path kMiniLm = fs::path(JUSTNEWS_SOURCE_DIR) / "models/all-MiniLM-L6-v2";

std::vector<fs::path> fixtures_with_both_formats() {
  std::vector<fs::path> directories;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kFixtures, error)) {
    if (fs::exists(entry.path() / "model.safetensors") && fs::exists(entry.path() / "pytorch_model.bin"))
      directories.push_back(entry.path());
  }
  std::sort(directories.begin(), directories.end());
  return directories;
}

TEST(Fixtures, BothFormatsHoldBitIdenticalTensors) {
  const auto directories = fixtures_with_both_formats();
  if (directories.empty()) GTEST_SKIP() << "no fixtures under " << kFixtures;
  for (const auto& directory : directories) {
    SCOPED_TRACE(directory.string());
    auto safetensors = open_safetensors((directory / "model.safetensors").string());
    auto bin = open_torch_bin((directory / "pytorch_model.bin").string());
    ASSERT_TRUE(safetensors.ok()) << safetensors.status().to_string();
    ASSERT_TRUE(bin.ok()) << bin.status().to_string();
    // transformers drops tied copies from safetensors; every safetensors tensor must be in the .bin.
    const auto names = (*safetensors)->tensor_names();
    ASSERT_FALSE(names.empty());
    for (const auto& name : names) {
      auto from_safetensors = *(*safetensors)->tensor(name);
      auto from_bin = (*bin)->tensor(name);
      ASSERT_TRUE(from_bin.ok()) << from_bin.status().to_string();
      EXPECT_EQ(from_safetensors.dtype(), from_bin->dtype()) << name;
      ASSERT_EQ(from_safetensors.shape(), from_bin->shape()) << name;
      EXPECT_EQ(std::memcmp(from_safetensors.data(), from_bin->data(), from_bin->nbytes()), 0) << name;
    }
  }
}

TEST(Fixtures, EveryFixtureLoadsAndBindsInBothFormats) {
  const auto directories = fixtures_with_both_formats();
  if (directories.empty()) GTEST_SKIP() << "no fixtures under " << kFixtures;
  for (const auto& directory : directories) {
    SCOPED_TRACE(directory.string());
    auto from_safetensors = load_model_dir(directory.string(), "safetensors");
    auto from_bin = load_model_dir(directory.string(), "bin");
    ASSERT_TRUE(from_safetensors.ok()) << from_safetensors.status().to_string();
    ASSERT_TRUE(from_bin.ok()) << from_bin.status().to_string();
    EXPECT_EQ(from_safetensors->config.num_layers, static_cast<int64_t>(from_safetensors->weights.layers.size()));
    EXPECT_GT(from_safetensors->parameter_count, 0);
    const Tensor& a = from_safetensors->weights.layers.back().ffn_out_weight;
    const Tensor& b = from_bin->weights.layers.back().ffn_out_weight;
    ASSERT_EQ(a.nbytes(), b.nbytes());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0);
    EXPECT_EQ(from_safetensors->config.head == HeadKind::kNone, from_safetensors->weights.head.out_weight.empty());
  }
}

TEST(Fixtures, DtypesAndHeadsMatchTheirNames) {
  if (!fs::exists(kFixtures / "roberta_bf16_weights")) GTEST_SKIP() << "fixtures not generated";
  auto bf16 = load_model_dir((kFixtures / "roberta_bf16_weights").string());
  ASSERT_TRUE(bf16.ok()) << bf16.status().to_string();
  EXPECT_EQ(bf16->weights.word_embeddings.dtype(), DType::kBF16);
  EXPECT_EQ(bf16->config.position_offset, 2);
  auto f16 = load_model_dir((kFixtures / "bert_f16_weights").string(), "bin");
  ASSERT_TRUE(f16.ok()) << f16.status().to_string();
  EXPECT_EQ(f16->weights.layers[0].query_weight.dtype(), DType::kF16);
  auto multilabel = load_model_dir((kFixtures / "bert_multilabel").string());
  ASSERT_TRUE(multilabel.ok()) << multilabel.status().to_string();
  EXPECT_EQ(multilabel->config.problem_type, ProblemType::kMultiLabel);
  auto distil = load_model_dir((kFixtures / "distilbert_relu_tokcls").string());
  ASSERT_TRUE(distil.ok()) << distil.status().to_string();
  EXPECT_EQ(distil->config.head, HeadKind::kTokenClassification);
  EXPECT_EQ(distil->config.activation, Activation::kRelu);
}

TEST(MiniLm, ConfigPoolingAndParameterCount) {
  if (!fs::exists(kMiniLm / "model.safetensors")) {
    if (std::getenv("JUSTNEWS_ALLOW_MISSING_REFERENCE")) GTEST_SKIP() << "run tools/fetch_models.sh";
    FAIL() << kMiniLm << " is missing: run tools/fetch_models.sh";
  }
  auto model = load_model_dir(kMiniLm.string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const EncoderConfig& config = model->config;
  EXPECT_EQ(config.architecture, Architecture::kBert);
  EXPECT_EQ(config.num_layers, 6);
  EXPECT_EQ(config.hidden_size, 384);
  EXPECT_EQ(config.num_heads, 12);
  EXPECT_EQ(config.intermediate_size, 1536);
  EXPECT_TRUE(config.pooling.present);
  EXPECT_EQ(config.pooling.mode, PoolingMode::kMean);
  EXPECT_TRUE(config.pooling.normalize);
  EXPECT_EQ(model->tokenizer_path, (kMiniLm / "tokenizer.json").string());
  // Count from the architecture: embeddings + layers + pooler.
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  const int64_t embeddings =
      (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * hidden + 2 * hidden;
  const int64_t layer = 4 * (hidden * hidden + hidden) + 2 * hidden + (hidden * inter + inter) +
                        (inter * hidden + hidden) + 2 * hidden;
  const int64_t pooler = hidden * hidden + hidden;
  EXPECT_EQ(model->parameter_count, embeddings + config.num_layers * layer + pooler);
  EXPECT_EQ(model->parameter_count, 22'713'216);
  // sentence_bert_config.json truncates at 256 tokens although the position table holds 512.
  EXPECT_EQ(config.max_sequence_length(), 512);
  EXPECT_EQ(model->max_sequence_length, 256);
}

TEST(ModelDir, MaxSequenceLengthDefaultsToThePositionTable) {
  auto model = load_model_dir((kFixtures / "roberta_base").string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ(model->max_sequence_length, model->config.max_position_embeddings - 2);
}

}  // namespace
}  // namespace justnews
