// config.json parsing for BERT, RoBERTa and DistilBERT (field names as transformers writes them).
#include "model/encoder_config.h"

#include <cmath>
#include <string_view>

#include <nlohmann/json.hpp>

namespace justnews {
namespace {

using Json = nlohmann::json;

// Bounds that no real encoder exceeds; larger values mean a corrupt or hostile config.
constexpr int64_t kMaxVocabSize = 10'000'000;
constexpr int64_t kMaxHiddenSize = 65'536;
constexpr int64_t kMaxLayers = 1'000;
constexpr int64_t kMaxIntermediateSize = 1'000'000;
constexpr int64_t kMaxPositions = 1'000'000;
constexpr int64_t kMaxTypeVocab = 1'000;
constexpr int64_t kMaxLabels = 100'000;
constexpr int64_t kDefaultHeadLabels = 2;  // transformers' PretrainedConfig default

// Reads typed fields of one JSON object, naming the file and field in every error.
class Fields {
 public:
  Fields(const Json& object, const std::string& source) : object_(object), source_(source) {}

  const Json* find(const char* key) const {
    auto found = object_.find(key);
    return found == object_.end() || found->is_null() ? nullptr : &*found;
  }

  Result<int64_t> integer(const char* key, int64_t min_value, int64_t max_value) const {
    const Json* value = find(key);
    if (!value) return invalid_argument(source_ + ": missing required field '" + key + "'");
    return checked_integer(key, *value, min_value, max_value);
  }

  Result<int64_t> integer_or(const char* key, int64_t fallback, int64_t min_value,
                             int64_t max_value) const {
    const Json* value = find(key);
    if (!value) return fallback;
    return checked_integer(key, *value, min_value, max_value);
  }

  Result<std::string> text_or(const char* key, const std::string& fallback) const {
    const Json* value = find(key);
    if (!value) return fallback;
    if (!value->is_string())
      return invalid_argument(source_ + ": field '" + key + "' must be a string, found " +
                              value->type_name());
    return value->get<std::string>();
  }

  Result<float> epsilon(const char* key, float fallback) const {
    const Json* value = find(key);
    if (!value) return fallback;
    if (!value->is_number())
      return invalid_argument(source_ + ": field '" + key + "' must be a number, found " +
                              value->type_name());
    const double number = value->get<double>();
    if (!(number > 0.0 && number < 1.0))
      return out_of_range(source_ + ": field '" + key + "' is " + std::to_string(number) +
                          ", expected a small positive number such as 1e-12");
    return static_cast<float>(number);
  }

 private:
  Result<int64_t> checked_integer(const char* key, const Json& value, int64_t min_value,
                                  int64_t max_value) const {
    if (!value.is_number_integer())
      return invalid_argument(source_ + ": field '" + key + "' must be an integer, found " +
                              value.type_name());
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max_value))
      return out_of_range(source_ + ": field '" + key + "' is " + value.dump() + ", expected at most " +
                          std::to_string(max_value));
    const int64_t number = value.get<int64_t>();
    if (number < min_value || number > max_value)
      return out_of_range(source_ + ": field '" + key + "' is " + std::to_string(number) +
                          ", expected " + std::to_string(min_value) + ".." + std::to_string(max_value));
    return number;
  }

  const Json& object_;
  const std::string& source_;
};

Result<Activation> parse_activation(const std::string& name, const char* field,
                                    const std::string& source) {
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  return unsupported(source + ": " + field + " '" + name +
                     "' is not supported; supported: gelu, gelu_new, gelu_pytorch_tanh, relu");
}

Status parse_bert_like(const Fields& fields, const std::string& source, EncoderConfig& config) {
  JN_ASSIGN_OR_RETURN(config.vocab_size, fields.integer("vocab_size", 1, kMaxVocabSize));
  JN_ASSIGN_OR_RETURN(config.hidden_size, fields.integer("hidden_size", 1, kMaxHiddenSize));
  JN_ASSIGN_OR_RETURN(config.num_layers, fields.integer("num_hidden_layers", 1, kMaxLayers));
  JN_ASSIGN_OR_RETURN(config.num_heads, fields.integer("num_attention_heads", 1, kMaxHiddenSize));
  JN_ASSIGN_OR_RETURN(config.intermediate_size,
                      fields.integer("intermediate_size", 1, kMaxIntermediateSize));
  JN_ASSIGN_OR_RETURN(config.max_position_embeddings,
                      fields.integer("max_position_embeddings", 1, kMaxPositions));
  JN_ASSIGN_OR_RETURN(config.type_vocab_size, fields.integer_or("type_vocab_size", 2, 1, kMaxTypeVocab));
  JN_ASSIGN_OR_RETURN(config.layer_norm_eps, fields.epsilon("layer_norm_eps", 1e-12f));
  JN_ASSIGN_OR_RETURN(std::string act, fields.text_or("hidden_act", "gelu"));
  JN_ASSIGN_OR_RETURN(config.activation, parse_activation(act, "hidden_act", source));
  const int64_t default_pad = config.architecture == Architecture::kRoberta ? 1 : 0;
  JN_ASSIGN_OR_RETURN(config.pad_token_id,
                      fields.integer_or("pad_token_id", default_pad, 0, config.vocab_size - 1));
  return ok_status();
}

Status parse_distilbert(const Fields& fields, const std::string& source, EncoderConfig& config) {
  JN_ASSIGN_OR_RETURN(config.vocab_size, fields.integer("vocab_size", 1, kMaxVocabSize));
  JN_ASSIGN_OR_RETURN(config.hidden_size, fields.integer("dim", 1, kMaxHiddenSize));
  JN_ASSIGN_OR_RETURN(config.num_layers, fields.integer("n_layers", 1, kMaxLayers));
  JN_ASSIGN_OR_RETURN(config.num_heads, fields.integer("n_heads", 1, kMaxHiddenSize));
  JN_ASSIGN_OR_RETURN(config.intermediate_size, fields.integer("hidden_dim", 1, kMaxIntermediateSize));
  JN_ASSIGN_OR_RETURN(config.max_position_embeddings,
                      fields.integer("max_position_embeddings", 1, kMaxPositions));
  config.type_vocab_size = 0;
  config.layer_norm_eps = 1e-12f;  // hard-coded in transformers' DistilBERT modules
  JN_ASSIGN_OR_RETURN(std::string act, fields.text_or("activation", "gelu"));
  JN_ASSIGN_OR_RETURN(config.activation, parse_activation(act, "activation", source));
  JN_ASSIGN_OR_RETURN(config.pad_token_id,
                      fields.integer_or("pad_token_id", 0, 0, config.vocab_size - 1));
  return ok_status();
}

HeadKind head_from_architectures(const Json& root) {
  auto found = root.find("architectures");
  if (found == root.end() || !found->is_array() || found->empty() || !(*found)[0].is_string())
    return HeadKind::kNone;
  const std::string name = (*found)[0].get<std::string>();
  if (std::string_view(name).ends_with("ForSequenceClassification"))
    return HeadKind::kSequenceClassification;
  if (std::string_view(name).ends_with("ForTokenClassification")) return HeadKind::kTokenClassification;
  return HeadKind::kNone;
}

Status parse_labels(const Fields& fields, const std::string& source,
                    EncoderConfig& config) {
  const Json* id2label = fields.find("id2label");
  JN_ASSIGN_OR_RETURN(int64_t num_labels, fields.integer_or("num_labels", -1, 1, kMaxLabels));
  if (id2label) {
    if (!id2label->is_object())
      return invalid_argument(source + ": field 'id2label' must be an object, found " +
                              id2label->type_name());
    if (static_cast<int64_t>(id2label->size()) > kMaxLabels)
      return out_of_range(source + ": id2label has more than " + std::to_string(kMaxLabels) + " labels");
    const size_t count = id2label->size();
    config.id2label.assign(count, "");
    for (size_t label_id = 0; label_id < count; ++label_id) {
      auto label = id2label->find(std::to_string(label_id));
      if (label == id2label->end())
        return invalid_argument(source + ": id2label has " + std::to_string(count) +
                                " entries but no key \"" + std::to_string(label_id) +
                                "\" (keys must be \"0\"..\"" + std::to_string(count - 1) + "\")");
      if (!label->is_string())
        return invalid_argument(source + ": id2label[\"" + std::to_string(label_id) +
                                "\"] must be a string, found " + label->type_name());
      config.id2label[label_id] = label->get<std::string>();
    }
    if (num_labels != -1 && num_labels != static_cast<int64_t>(count))
      return invalid_argument(source + ": num_labels is " + std::to_string(num_labels) +
                              " but id2label has " + std::to_string(count) + " entries");
  } else {
    if (num_labels == -1 && config.head != HeadKind::kNone) num_labels = kDefaultHeadLabels;
    for (int64_t label_id = 0; label_id < num_labels; ++label_id)
      config.id2label.push_back("LABEL_" + std::to_string(label_id));
  }
  if (config.head != HeadKind::kNone && config.id2label.empty())
    return invalid_argument(source + ": a classification head needs at least one label");

  JN_ASSIGN_OR_RETURN(std::string problem, fields.text_or("problem_type", ""));
  if (problem == "multi_label_classification") {
    config.problem_type = ProblemType::kMultiLabel;
  } else if (problem == "regression") {
    config.problem_type = ProblemType::kRegression;
  } else {
    config.problem_type = ProblemType::kSingleLabel;
  }
  return ok_status();
}

}  // namespace

const char* architecture_name(Architecture architecture) {
  switch (architecture) {
    case Architecture::kBert: return "bert";
    case Architecture::kRoberta: return "roberta";
    case Architecture::kDistilBert: return "distilbert";
  }
  return "unknown";
}

Result<EncoderConfig> parse_encoder_config(const std::string& json_text, const std::string& source) {
  const Json root = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return invalid_argument(source + ": not valid JSON");
  if (!root.is_object())
    return invalid_argument(source + ": expected a JSON object, found " + std::string(root.type_name()));
  const Fields fields(root, source);

  EncoderConfig config;
  const Json* model_type = fields.find("model_type");
  if (!model_type) return invalid_argument(source + ": missing required field 'model_type'");
  if (!model_type->is_string())
    return invalid_argument(source + ": field 'model_type' must be a string, found " +
                            model_type->type_name());
  const std::string type = model_type->get<std::string>();
  if (type == "bert") {
    config.architecture = Architecture::kBert;
  } else if (type == "roberta") {
    config.architecture = Architecture::kRoberta;
  } else if (type == "distilbert") {
    config.architecture = Architecture::kDistilBert;
  } else {
    return unsupported("unsupported architecture '" + type + "' in " + source +
                       "; supported: bert, roberta, distilbert");
  }

  if (config.architecture == Architecture::kDistilBert) {
    JN_RETURN_IF_ERROR(parse_distilbert(fields, source, config));
  } else {
    JN_RETURN_IF_ERROR(parse_bert_like(fields, source, config));
  }
  if (config.hidden_size % config.num_heads != 0)
    return invalid_argument(source + ": hidden size " + std::to_string(config.hidden_size) +
                            " is not divisible by the number of attention heads " +
                            std::to_string(config.num_heads));
  if (config.architecture == Architecture::kRoberta) {
    // RoBERTa numbers positions from pad_token_id + 1 (transformers' create_position_ids...).
    config.position_offset = config.pad_token_id + 1;
    if (config.max_position_embeddings <= config.position_offset)
      return invalid_argument(source + ": max_position_embeddings " +
                              std::to_string(config.max_position_embeddings) +
                              " leaves no positions after the RoBERTa offset " +
                              std::to_string(config.position_offset));
  }
  config.head = head_from_architectures(root);
  JN_RETURN_IF_ERROR(parse_labels(fields, source, config));
  return config;
}

}  // namespace justnews
