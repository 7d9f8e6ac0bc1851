// bind_encoder_weights and load_model_dir over tiny hand-built checkpoints of each architecture:
// every role must hold the tensor of the HF name it stands for, and bad checkpoints are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/model_dir.h"
#include "tests/model/checkpoint_writers.h"

namespace justnews {
namespace {

using Json = nlohmann::json;
using testing::Bytes;
using testing::SafetensorsTensor;

constexpr int64_t kVocab = 11, kHidden = 8, kHeads = 2, kInter = 16, kPositions = 12, kLayers = 2,
                  kLabels = 3;

Json tiny_config(const std::string& type, const std::string& architecture) {
  Json json = {{"model_type", type}, {"vocab_size", kVocab}, {"max_position_embeddings", kPositions},
               {"architectures", {architecture}},
               {"id2label", {{"0", "a"}, {"1", "b"}, {"2", "c"}}}};
  if (type == "distilbert") {
    json.update({{"dim", kHidden}, {"n_layers", kLayers}, {"n_heads", kHeads}, {"hidden_dim", kInter}});
  } else {
    json.update({{"hidden_size", kHidden}, {"num_hidden_layers", kLayers}, {"num_attention_heads", kHeads},
                 {"intermediate_size", kInter}, {"type_vocab_size", 2}, {"pad_token_id", 1}});
  }
  return json;
}

// The Hugging Face state-dict names and shapes, written out independently of the binder.
std::vector<std::pair<std::string, Shape>> hf_tensors(const std::string& type, HeadKind head,
                                                      const std::string& prefix) {
  std::vector<std::pair<std::string, Shape>> names = {
      {prefix + "embeddings.word_embeddings.weight", {kVocab, kHidden}},
      {prefix + "embeddings.position_embeddings.weight", {kPositions, kHidden}},
      {prefix + "embeddings.LayerNorm.weight", {kHidden}},
      {prefix + "embeddings.LayerNorm.bias", {kHidden}}};
  if (type != "distilbert") names.push_back({prefix + "embeddings.token_type_embeddings.weight", {2, kHidden}});
  auto linear = [&](const std::string& base, int64_t out, int64_t in) {
    names.push_back({base + ".weight", {out, in}});
    names.push_back({base + ".bias", {out}});
  };
  auto norm = [&](const std::string& base) {
    names.push_back({base + ".weight", {kHidden}});
    names.push_back({base + ".bias", {kHidden}});
  };
  for (int layer = 0; layer < kLayers; ++layer) {
    if (type == "distilbert") {
      const std::string base = prefix + "transformer.layer." + std::to_string(layer) + ".";
      for (const char* lin : {"q_lin", "k_lin", "v_lin", "out_lin"})
        linear(base + "attention." + lin, kHidden, kHidden);
      norm(base + "sa_layer_norm");
      linear(base + "ffn.lin1", kInter, kHidden);
      linear(base + "ffn.lin2", kHidden, kInter);
      norm(base + "output_layer_norm");
    } else {
      const std::string base = prefix + "encoder.layer." + std::to_string(layer) + ".";
      for (const char* lin : {"query", "key", "value"}) linear(base + "attention.self." + lin, kHidden, kHidden);
      linear(base + "attention.output.dense", kHidden, kHidden);
      norm(base + "attention.output.LayerNorm");
      linear(base + "intermediate.dense", kInter, kHidden);
      linear(base + "output.dense", kHidden, kInter);
      norm(base + "output.LayerNorm");
    }
  }
  if (type == "bert") linear(prefix + "pooler.dense", kHidden, kHidden);
  if (head == HeadKind::kSequenceClassification) {
    if (type == "roberta") {
      linear("classifier.dense", kHidden, kHidden);
      linear("classifier.out_proj", kLabels, kHidden);
    } else {
      if (type == "distilbert") linear("pre_classifier", kHidden, kHidden);
      linear("classifier", kLabels, kHidden);
    }
  } else if (head == HeadKind::kTokenClassification) {
    linear("classifier", kLabels, kHidden);
  }
  return names;
}

// Values unique across the checkpoint, so a role bound to the wrong tensor is caught.
std::vector<SafetensorsTensor> with_values(const std::vector<std::pair<std::string, Shape>>& names) {
  std::vector<SafetensorsTensor> tensors;
  float next_value = 0.0f;
  for (const auto& [name, shape] : names) {
    std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
    for (float& value : values) value = next_value++;
    tensors.push_back({name, "F32", shape, testing::raw_bytes(values)});
  }
  return tensors;
}

Result<std::unique_ptr<WeightFile>> as_file(const std::vector<SafetensorsTensor>& tensors) {
  const Bytes bytes = testing::safetensors_file(tensors);
  return parse_safetensors(bytes.data(), bytes.size(), "model.safetensors");
}

void expect_same(const WeightFile& file, const std::string& name, const Tensor& bound) {
  auto expected = file.tensor(name);
  ASSERT_TRUE(expected.ok()) << name;
  ASSERT_FALSE(bound.empty()) << name;
  EXPECT_EQ(bound.shape(), expected->shape()) << name;
  EXPECT_EQ(bound.data(), expected->data()) << name;
}

struct Case {
  std::string type, architecture, prefix;
  HeadKind head;
};

class BindEveryArchitecture : public ::testing::TestWithParam<Case> {};

TEST_P(BindEveryArchitecture, RolesHoldTheirNamedTensors) {
  const Case& param = GetParam();
  auto config = parse_encoder_config(tiny_config(param.type, param.architecture).dump(), "config.json");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  ASSERT_EQ(config->head, param.head);
  auto file = as_file(with_values(hf_tensors(param.type, param.head, param.prefix)));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto weights = bind_encoder_weights(**file, *config);
  ASSERT_TRUE(weights.ok()) << weights.status().to_string();
  const std::string& p = param.prefix;
  const bool distil = param.type == "distilbert";
  expect_same(**file, p + "embeddings.word_embeddings.weight", weights->word_embeddings);
  expect_same(**file, p + "embeddings.position_embeddings.weight", weights->position_embeddings);
  expect_same(**file, p + "embeddings.LayerNorm.bias", weights->embedding_norm_beta);
  if (distil) {
    EXPECT_TRUE(weights->token_type_embeddings.empty());
  } else {
    expect_same(**file, p + "embeddings.token_type_embeddings.weight", weights->token_type_embeddings);
  }
  ASSERT_EQ(weights->layers.size(), static_cast<size_t>(kLayers));
  const LayerWeights& layer = weights->layers[1];
  const std::string base = p + (distil ? "transformer.layer.1." : "encoder.layer.1.");
  expect_same(**file, base + (distil ? "attention.q_lin.weight" : "attention.self.query.weight"), layer.query_weight);
  expect_same(**file, base + (distil ? "attention.k_lin.bias" : "attention.self.key.bias"), layer.key_bias);
  expect_same(**file, base + (distil ? "attention.v_lin.weight" : "attention.self.value.weight"), layer.value_weight);
  expect_same(**file, base + (distil ? "attention.out_lin.weight" : "attention.output.dense.weight"),
              layer.attention_output_weight);
  expect_same(**file, base + (distil ? "sa_layer_norm.weight" : "attention.output.LayerNorm.weight"),
              layer.attention_norm_gamma);
  expect_same(**file, base + (distil ? "ffn.lin1.weight" : "intermediate.dense.weight"), layer.ffn_in_weight);
  expect_same(**file, base + (distil ? "ffn.lin2.bias" : "output.dense.bias"), layer.ffn_out_bias);
  expect_same(**file, base + (distil ? "output_layer_norm.bias" : "output.LayerNorm.bias"), layer.ffn_norm_beta);

  if (param.head == HeadKind::kNone) {
    EXPECT_TRUE(weights->head.out_weight.empty());
  } else if (param.head == HeadKind::kTokenClassification) {
    EXPECT_TRUE(weights->head.pre_weight.empty());
    expect_same(**file, "classifier.weight", weights->head.out_weight);
  } else if (param.type == "bert") {
    expect_same(**file, p + "pooler.dense.weight", weights->head.pre_weight);
    EXPECT_EQ(weights->head.pre_activation, HeadActivation::kTanh);
    expect_same(**file, "classifier.bias", weights->head.out_bias);
  } else if (param.type == "roberta") {
    expect_same(**file, "classifier.dense.weight", weights->head.pre_weight);
    EXPECT_EQ(weights->head.pre_activation, HeadActivation::kTanh);
    expect_same(**file, "classifier.out_proj.weight", weights->head.out_weight);
  } else {
    expect_same(**file, "pre_classifier.bias", weights->head.pre_bias);
    EXPECT_EQ(weights->head.pre_activation, HeadActivation::kRelu);
    expect_same(**file, "classifier.weight", weights->head.out_weight);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Model, BindEveryArchitecture,
    ::testing::Values(Case{"bert", "BertModel", "bert.", HeadKind::kNone},
                      Case{"bert", "BertModel", "", HeadKind::kNone},
                      Case{"bert", "BertForSequenceClassification", "bert.", HeadKind::kSequenceClassification},
                      Case{"bert", "BertForTokenClassification", "bert.", HeadKind::kTokenClassification},
                      Case{"roberta", "RobertaModel", "roberta.", HeadKind::kNone},
                      Case{"roberta", "RobertaForSequenceClassification", "roberta.", HeadKind::kSequenceClassification},
                      Case{"roberta", "RobertaForTokenClassification", "", HeadKind::kTokenClassification},
                      Case{"distilbert", "DistilBertModel", "", HeadKind::kNone},
                      Case{"distilbert", "DistilBertForSequenceClassification", "distilbert.", HeadKind::kSequenceClassification},
                      Case{"distilbert", "DistilBertForTokenClassification", "distilbert.", HeadKind::kTokenClassification}));

EncoderConfig bert_config() {
  return *parse_encoder_config(tiny_config("bert", "BertForSequenceClassification").dump(), "config.json");
}

TEST(BindEncoderWeights, AcceptsLegacyGammaBetaNames) {
  auto names = hf_tensors("bert", HeadKind::kSequenceClassification, "bert.");
  for (auto& [name, shape] : names) {
    if (name.find("LayerNorm.weight") != std::string::npos) name.replace(name.size() - 6, 6, "gamma");
    if (name.find("LayerNorm.bias") != std::string::npos) name.replace(name.size() - 4, 4, "beta");
  }
  auto file = as_file(with_values(names));
  auto weights = bind_encoder_weights(**file, bert_config());
  ASSERT_TRUE(weights.ok()) << weights.status().to_string();
  expect_same(**file, "bert.encoder.layer.0.output.LayerNorm.gamma", weights->layers[0].ffn_norm_gamma);
  expect_same(**file, "bert.embeddings.LayerNorm.beta", weights->embedding_norm_beta);
}

TEST(BindEncoderWeights, RefusesMissingTensor) {
  auto names = hf_tensors("bert", HeadKind::kSequenceClassification, "bert.");
  std::erase_if(names, [](const auto& entry) { return entry.first == "bert.encoder.layer.1.intermediate.dense.bias"; });
  auto weights = bind_encoder_weights(**as_file(with_values(names)), bert_config());
  ASSERT_FALSE(weights.ok());
  EXPECT_EQ(weights.status().code(), StatusCode::kNotFound);
  EXPECT_NE(weights.status().message().find("model.safetensors: missing tensor 'bert.encoder.layer.1.intermediate.dense.bias'"),
            std::string::npos) << weights.status().message();
}

TEST(BindEncoderWeights, RefusesWrongShapeWithTheConfigReason) {
  auto names = hf_tensors("bert", HeadKind::kSequenceClassification, "bert.");
  for (auto& [name, shape] : names)
    if (name == "bert.encoder.layer.1.attention.self.query.weight") shape = {kHidden, kHidden - 1};
  auto weights = bind_encoder_weights(**as_file(with_values(names)), bert_config());
  ASSERT_FALSE(weights.ok());
  EXPECT_EQ(weights.status().message(),
            "model.safetensors: tensor 'bert.encoder.layer.1.attention.self.query.weight' has shape "
            "[8, 7], expected [8, 8] for hidden_size 8");
  names = hf_tensors("bert", HeadKind::kSequenceClassification, "bert.");
  for (auto& [name, shape] : names)
    if (name == "classifier.weight") shape = {kLabels + 1, kHidden};
  weights = bind_encoder_weights(**as_file(with_values(names)), bert_config());
  ASSERT_FALSE(weights.ok());
  EXPECT_NE(weights.status().message().find("'classifier.weight' has shape [4, 8], expected [3, 8] for 3 labels"),
            std::string::npos) << weights.status().message();
}

TEST(BindEncoderWeights, RefusesWrongArchitectureAndDtype) {
  auto distil = as_file(with_values(hf_tensors("distilbert", HeadKind::kNone, "distilbert.")));
  auto weights = bind_encoder_weights(**distil, bert_config());
  ASSERT_FALSE(weights.ok());
  EXPECT_NE(weights.status().message().find("'bert.embeddings.word_embeddings.weight'"), std::string::npos);
  auto tensors = with_values(hf_tensors("bert", HeadKind::kSequenceClassification, "bert."));
  tensors[0].dtype = "I32";
  weights = bind_encoder_weights(**as_file(tensors), bert_config());
  ASSERT_FALSE(weights.ok());
  EXPECT_NE(weights.status().message().find("dtype I32, expected F32, F16 or BF16"), std::string::npos);
}

// A model directory written to a temp folder.
class ModelDir : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("justnews_model_dir_" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  void write(const std::string& relative, const std::string& text) {
    std::filesystem::create_directories((directory_ / relative).parent_path());
    std::ofstream(directory_ / relative, std::ios::binary) << text;
  }
  std::filesystem::path directory_;
};

TEST_F(ModelDir, LoadsConfigWeightsPoolingAndTokenizer) {
  write("config.json", tiny_config("bert", "BertModel").dump());
  auto tensors = with_values(hf_tensors("bert", HeadKind::kNone, ""));
  tensors.push_back({"embeddings.position_ids", "I64", {kPositions}, Bytes(kPositions * 8, '\0')});
  write("model.safetensors", testing::safetensors_file(tensors));
  write("modules.json", R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
    {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
    {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])");
  write("1_Pooling/config.json", R"({"word_embedding_dimension":8,"pooling_mode_cls_token":false,
    "pooling_mode_mean_tokens":false,"pooling_mode_max_tokens":true})");
  write("tokenizer.json", "{}");
  auto model = load_model_dir(directory_.string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_TRUE(model->config.pooling.present);
  EXPECT_EQ(model->config.pooling.mode, PoolingMode::kMax);
  EXPECT_TRUE(model->config.pooling.normalize);
  EXPECT_EQ(model->tokenizer_path, (directory_ / "tokenizer.json").string());
  EXPECT_EQ(model->weights_path, (directory_ / "model.safetensors").string());
  int64_t float_elements = 0;
  for (const auto& [name, shape] : hf_tensors("bert", HeadKind::kNone, "")) float_elements += shape_numel(shape);
  EXPECT_EQ(model->parameter_count, float_elements);  // the I64 position_ids buffer is not counted
}

TEST_F(ModelDir, ClearErrorsForMissingPieces) {
  auto missing = load_model_dir((directory_ / "absent").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("absent' does not exist"), std::string::npos);
  auto no_config = load_model_dir(directory_.string());
  ASSERT_FALSE(no_config.ok());
  EXPECT_NE(no_config.status().message().find("has no config.json"), std::string::npos);
  write("config.json", tiny_config("bert", "BertModel").dump());
  auto no_weights = load_model_dir(directory_.string());
  ASSERT_FALSE(no_weights.ok());
  EXPECT_NE(no_weights.status().message().find("no weight file"), std::string::npos);
  write("model.safetensors", testing::safetensors_file(with_values(hf_tensors("bert", HeadKind::kNone, "bert."))));
  auto no_bin = load_model_dir(directory_.string(), "bin");
  ASSERT_FALSE(no_bin.ok());
  EXPECT_NE(no_bin.status().message().find("pytorch_model.bin"), std::string::npos);
  EXPECT_FALSE(load_model_dir(directory_.string(), "onnx").ok());
  EXPECT_TRUE(load_model_dir(directory_.string()).ok());
  write("modules.json", R"([{"path":"../../etc","type":"sentence_transformers.models.Pooling"}])");
  auto escaping = load_model_dir(directory_.string());
  ASSERT_FALSE(escaping.ok());
  EXPECT_NE(escaping.status().message().find("leaves the model directory"), std::string::npos);
  write("modules.json", R"([{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}])");
  write("1_Pooling/config.json", R"({"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":true})");
  auto concatenated = load_model_dir(directory_.string());
  ASSERT_FALSE(concatenated.ok());
  EXPECT_NE(concatenated.status().message().find("exactly one"), std::string::npos);
}

}  // namespace
}  // namespace justnews
