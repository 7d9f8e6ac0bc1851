// config.json parsing for BERT, RoBERTa and DistilBERT, heads, labels and refusals.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/encoder_config.h"

namespace justnews {
namespace {

using Json = nlohmann::json;

Json bert_json() {
  return Json{{"model_type", "bert"},          {"vocab_size", 30522},
              {"hidden_size", 384},            {"num_hidden_layers", 6},
              {"num_attention_heads", 12},     {"intermediate_size", 1536},
              {"max_position_embeddings", 512}, {"type_vocab_size", 2},
              {"layer_norm_eps", 1e-12},       {"hidden_act", "gelu"},
              {"pad_token_id", 0},             {"architectures", {"BertModel"}}};
}

Result<EncoderConfig> parse(const Json& json) { return parse_encoder_config(json.dump(), "config.json"); }

void expect_refused(const Json& json, std::initializer_list<std::string> fragments) {
  auto result = parse(json);
  ASSERT_FALSE(result.ok()) << json.dump();
  for (const auto& fragment : fragments)
    EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status().message();
}

TEST(EncoderConfig, ParsesBert) {
  auto config = parse(bert_json());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->architecture, Architecture::kBert);
  EXPECT_EQ(config->head, HeadKind::kNone);
  EXPECT_EQ(config->vocab_size, 30522);
  EXPECT_EQ(config->hidden_size, 384);
  EXPECT_EQ(config->num_layers, 6);
  EXPECT_EQ(config->num_heads, 12);
  EXPECT_EQ(config->head_dim(), 32);
  EXPECT_EQ(config->intermediate_size, 1536);
  EXPECT_EQ(config->type_vocab_size, 2);
  EXPECT_EQ(config->activation, Activation::kGeluErf);
  EXPECT_EQ(config->position_offset, 0);
  EXPECT_EQ(config->max_sequence_length(), 512);
  EXPECT_EQ(config->num_labels(), 0);
}

TEST(EncoderConfig, ParsesRobertaSequenceClassifier) {
  Json json = bert_json();
  json["model_type"] = "roberta";
  json["max_position_embeddings"] = 514;
  json["type_vocab_size"] = 1;
  json["pad_token_id"] = 1;
  json["layer_norm_eps"] = 1e-5;
  json["architectures"] = {"RobertaForSequenceClassification"};
  json["id2label"] = {{"0", "negative"}, {"1", "neutral"}, {"2", "positive"}};
  auto config = parse(json);
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->architecture, Architecture::kRoberta);
  EXPECT_EQ(config->head, HeadKind::kSequenceClassification);
  EXPECT_EQ(config->position_offset, 2);
  EXPECT_EQ(config->max_sequence_length(), 512);
  EXPECT_FLOAT_EQ(config->layer_norm_eps, 1e-5f);
  EXPECT_EQ(config->id2label, (std::vector<std::string>{"negative", "neutral", "positive"}));
  EXPECT_EQ(config->problem_type, ProblemType::kSingleLabel);
}

TEST(EncoderConfig, ParsesDistilBert) {
  const Json json = {{"model_type", "distilbert"}, {"vocab_size", 30522}, {"dim", 768},
                     {"n_layers", 6},              {"n_heads", 12},       {"hidden_dim", 3072},
                     {"max_position_embeddings", 512}, {"activation", "relu"},
                     {"architectures", {"DistilBertForTokenClassification"}}, {"num_labels", 4}};
  auto config = parse(json);
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->architecture, Architecture::kDistilBert);
  EXPECT_EQ(config->hidden_size, 768);
  EXPECT_EQ(config->num_layers, 6);
  EXPECT_EQ(config->intermediate_size, 3072);
  EXPECT_EQ(config->type_vocab_size, 0);
  EXPECT_FLOAT_EQ(config->layer_norm_eps, 1e-12f);
  EXPECT_EQ(config->activation, Activation::kRelu);
  EXPECT_EQ(config->head, HeadKind::kTokenClassification);
  EXPECT_EQ(config->id2label, (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"}));
}

TEST(EncoderConfig, ActivationsProblemTypesAndDefaultLabels) {
  for (auto [name, activation] : std::vector<std::pair<std::string, Activation>>{
           {"gelu", Activation::kGeluErf}, {"gelu_new", Activation::kGeluTanh},
           {"gelu_pytorch_tanh", Activation::kGeluTanh}, {"relu", Activation::kRelu}}) {
    Json json = bert_json();
    json["hidden_act"] = name;
    EXPECT_EQ(parse(json)->activation, activation) << name;
  }
  Json json = bert_json();
  json["architectures"] = {"BertForSequenceClassification"};
  EXPECT_EQ(parse(json)->num_labels(), 2);  // transformers' default for a head without labels
  json["problem_type"] = "multi_label_classification";
  EXPECT_EQ(parse(json)->problem_type, ProblemType::kMultiLabel);
  json["problem_type"] = "regression";
  EXPECT_EQ(parse(json)->problem_type, ProblemType::kRegression);
  json["problem_type"] = nullptr;
  EXPECT_EQ(parse(json)->problem_type, ProblemType::kSingleLabel);
}

TEST(EncoderConfig, RefusesUnsupportedArchitectures) {
  for (const char* type : {"xlm-roberta", "gpt2", "deberta-v2"}) {
    Json json = bert_json();
    json["model_type"] = type;
    auto result = parse(json);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(result.status().message(), std::string("unsupported architecture '") + type +
                                             "' in config.json; supported: bert, roberta, distilbert");
  }
}

TEST(EncoderConfig, RefusesInvalidValues) {
  expect_refused(Json::array(), {"config.json", "JSON object"});
  auto bad = parse_encoder_config("{\"model_type\": ", "config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not valid JSON"), std::string::npos);
  Json json = bert_json();
  json.erase("model_type");
  expect_refused(json, {"'model_type'"});
  json = bert_json();
  json.erase("hidden_size");
  expect_refused(json, {"config.json", "missing required field 'hidden_size'"});
  json = bert_json();
  json["hidden_size"] = "384";
  expect_refused(json, {"'hidden_size'", "integer", "string"});
  json = bert_json();
  json["num_attention_heads"] = 5;
  expect_refused(json, {"384", "not divisible", "5"});
  json = bert_json();
  json["num_hidden_layers"] = 0;
  expect_refused(json, {"'num_hidden_layers'", "is 0"});
  json = bert_json();
  json["vocab_size"] = -3;
  expect_refused(json, {"'vocab_size'"});
  json = bert_json();
  json["hidden_size"] = 1u << 31;
  expect_refused(json, {"'hidden_size'", "at most"});
  json = bert_json();
  json["hidden_act"] = "swish";
  expect_refused(json, {"hidden_act 'swish'"});
  json = bert_json();
  json["layer_norm_eps"] = -1.0;
  expect_refused(json, {"'layer_norm_eps'"});
  json = bert_json();
  json["id2label"] = {{"0", "a"}, {"2", "b"}};
  expect_refused(json, {"id2label", "\"1\""});
  json = bert_json();
  json["id2label"] = {{"0", 5}};
  expect_refused(json, {"id2label[\"0\"]", "string"});
  json = bert_json();
  json["id2label"] = {{"0", "a"}, {"1", "b"}};
  json["num_labels"] = 3;
  expect_refused(json, {"num_labels is 3", "2 entries"});
  json = bert_json();
  json["model_type"] = "roberta";
  json["pad_token_id"] = 1;
  json["max_position_embeddings"] = 2;
  expect_refused(json, {"no positions"});
  Json distil = {{"model_type", "distilbert"}, {"vocab_size", 10}, {"dim", 8}, {"n_layers", 1},
                 {"n_heads", 2}, {"max_position_embeddings", 8}};
  auto missing = parse(distil);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'hidden_dim'"), std::string::npos);
}

}  // namespace
}  // namespace justnews
