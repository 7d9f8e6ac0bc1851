// bind_encoder_weights: checkpoint tensor names -> EncoderWeights roles, per architecture, with
// every shape checked against the config.
#include <string>

#include "model/model_dir.h"

namespace justnews {
namespace {

// Looks tensors up in one file and checks their dtype and shape.
class Binder {
 public:
  Binder(const WeightFile& file, std::string prefix) : file_(file), prefix_(std::move(prefix)) {}

  // `name` under the architecture prefix ("bert.", "roberta.", "distilbert." or none).
  Result<Tensor> inner(const std::string& name, const Shape& expected, const std::string& why) const {
    return exact(prefix_ + name, expected, why);
  }

  // A LayerNorm parameter: "<base>.weight"/"<base>.bias", or "gamma"/"beta" in old checkpoints.
  Result<Tensor> norm(const std::string& base, bool is_bias, int64_t hidden_size) const {
    const std::string modern = prefix_ + base + (is_bias ? ".bias" : ".weight");
    const std::string legacy = prefix_ + base + (is_bias ? ".beta" : ".gamma");
    const std::string& name = !file_.contains(modern) && file_.contains(legacy) ? legacy : modern;
    return exact(name, {hidden_size}, "for hidden_size " + std::to_string(hidden_size));
  }

  Result<Tensor> exact(const std::string& name, const Shape& expected, const std::string& why) const {
    if (!file_.contains(name))
      return not_found(file_.path() + ": missing tensor '" + name + "' (expected shape " +
                       shape_to_string(expected) + " " + why + ")");
    JN_ASSIGN_OR_RETURN(Tensor tensor, file_.tensor(name));
    if (tensor.dtype() != DType::kF32 && tensor.dtype() != DType::kF16 && tensor.dtype() != DType::kBF16)
      return unsupported(file_.path() + ": tensor '" + name + "' has dtype " +
                         std::string(dtype_name(tensor.dtype())) + ", expected F32, F16 or BF16");
    if (tensor.shape() != expected)
      return invalid_argument(file_.path() + ": tensor '" + name + "' has shape " +
                              shape_to_string(tensor.shape()) + ", expected " +
                              shape_to_string(expected) + " " + why);
    return tensor;
  }

  bool has(const std::string& name) const { return file_.contains(name); }
  const std::string& prefix() const { return prefix_; }

 private:
  const WeightFile& file_;
  std::string prefix_;
};

Status bind_linear(const Binder& binder, const std::string& base, int64_t out_features,
                   int64_t in_features, const std::string& why, bool under_prefix, Tensor& weight,
                   Tensor& bias) {
  const std::string name = under_prefix ? binder.prefix() + base : base;
  JN_ASSIGN_OR_RETURN(weight, binder.exact(name + ".weight", {out_features, in_features}, why));
  JN_ASSIGN_OR_RETURN(bias, binder.exact(name + ".bias", {out_features}, why));
  return ok_status();
}

// Embedding and layer names differ between BERT/RoBERTa and DistilBERT only below this level.
struct LayerNames {
  std::string layer_prefix;   // "encoder.layer." or "transformer.layer."
  std::string query, key, value, attention_output, attention_norm;
  std::string ffn_in, ffn_out, ffn_norm;
};

const LayerNames kBertNames = {"encoder.layer.",
                               "attention.self.query",
                               "attention.self.key",
                               "attention.self.value",
                               "attention.output.dense",
                               "attention.output.LayerNorm",
                               "intermediate.dense",
                               "output.dense",
                               "output.LayerNorm"};
const LayerNames kDistilBertNames = {"transformer.layer.", "attention.q_lin", "attention.k_lin",
                                     "attention.v_lin",    "attention.out_lin", "sa_layer_norm",
                                     "ffn.lin1",           "ffn.lin2",        "output_layer_norm"};

Status bind_layer(const Binder& binder, const LayerNames& names, int64_t layer_idx,
                  const EncoderConfig& config, LayerWeights& layer) {
  const std::string base = names.layer_prefix + std::to_string(layer_idx) + ".";
  const int64_t hidden = config.hidden_size;
  const int64_t inter = config.intermediate_size;
  const std::string for_hidden = "for hidden_size " + std::to_string(hidden);
  const std::string for_ffn = "for hidden_size " + std::to_string(hidden) + " and intermediate_size " +
                              std::to_string(inter);
  JN_RETURN_IF_ERROR(bind_linear(binder, base + names.query, hidden, hidden, for_hidden, true,
                                 layer.query_weight, layer.query_bias));
  JN_RETURN_IF_ERROR(bind_linear(binder, base + names.key, hidden, hidden, for_hidden, true,
                                 layer.key_weight, layer.key_bias));
  JN_RETURN_IF_ERROR(bind_linear(binder, base + names.value, hidden, hidden, for_hidden, true,
                                 layer.value_weight, layer.value_bias));
  JN_RETURN_IF_ERROR(bind_linear(binder, base + names.attention_output, hidden, hidden, for_hidden,
                                 true, layer.attention_output_weight, layer.attention_output_bias));
  JN_ASSIGN_OR_RETURN(layer.attention_norm_gamma, binder.norm(base + names.attention_norm, false, hidden));
  JN_ASSIGN_OR_RETURN(layer.attention_norm_beta, binder.norm(base + names.attention_norm, true, hidden));
  JN_RETURN_IF_ERROR(bind_linear(binder, base + names.ffn_in, inter, hidden, for_ffn, true,
                                 layer.ffn_in_weight, layer.ffn_in_bias));
  JN_RETURN_IF_ERROR(bind_linear(binder, base + names.ffn_out, hidden, inter, for_ffn, true,
                                 layer.ffn_out_weight, layer.ffn_out_bias));
  JN_ASSIGN_OR_RETURN(layer.ffn_norm_gamma, binder.norm(base + names.ffn_norm, false, hidden));
  JN_ASSIGN_OR_RETURN(layer.ffn_norm_beta, binder.norm(base + names.ffn_norm, true, hidden));
  return ok_status();
}

Status bind_head(const Binder& binder, const EncoderConfig& config, HeadWeights& head) {
  const int64_t hidden = config.hidden_size;
  const int64_t labels = config.num_labels();
  const std::string for_hidden = "for hidden_size " + std::to_string(hidden);
  const std::string for_labels = "for " + std::to_string(labels) + " labels and hidden_size " +
                                 std::to_string(hidden);
  std::string out_name = "classifier";
  if (config.head == HeadKind::kSequenceClassification) {
    switch (config.architecture) {
      case Architecture::kBert:
        JN_RETURN_IF_ERROR(bind_linear(binder, "pooler.dense", hidden, hidden, for_hidden, true,
                                       head.pre_weight, head.pre_bias));
        head.pre_activation = HeadActivation::kTanh;
        break;
      case Architecture::kRoberta:
        JN_RETURN_IF_ERROR(bind_linear(binder, "classifier.dense", hidden, hidden, for_hidden, false,
                                       head.pre_weight, head.pre_bias));
        head.pre_activation = HeadActivation::kTanh;
        out_name = "classifier.out_proj";
        break;
      case Architecture::kDistilBert:
        JN_RETURN_IF_ERROR(bind_linear(binder, "pre_classifier", hidden, hidden, for_hidden, false,
                                       head.pre_weight, head.pre_bias));
        head.pre_activation = HeadActivation::kRelu;
        break;
    }
  }
  return bind_linear(binder, out_name, labels, hidden, for_labels, false, head.out_weight,
                     head.out_bias);
}

}  // namespace

Result<EncoderWeights> bind_encoder_weights(const WeightFile& file, const EncoderConfig& config) {
  const bool distilbert = config.architecture == Architecture::kDistilBert;
  const std::string model_prefix = std::string(architecture_name(config.architecture)) + ".";
  const std::string probe = "embeddings.word_embeddings.weight";
  std::string prefix;
  if (file.contains(model_prefix + probe)) {
    prefix = model_prefix;
  } else if (!file.contains(probe)) {
    return not_found(file.path() + ": missing tensor '" + model_prefix + probe + "' (or '" + probe +
                     "' without the prefix): not a " + architecture_name(config.architecture) +
                     " checkpoint?");
  }
  const Binder binder(file, prefix);
  const int64_t hidden = config.hidden_size;
  const std::string for_hidden = " and hidden_size " + std::to_string(hidden);

  EncoderWeights weights;
  JN_ASSIGN_OR_RETURN(weights.word_embeddings,
                      binder.inner("embeddings.word_embeddings.weight", {config.vocab_size, hidden},
                                   "for vocab_size " + std::to_string(config.vocab_size) + for_hidden));
  JN_ASSIGN_OR_RETURN(weights.position_embeddings,
                      binder.inner("embeddings.position_embeddings.weight",
                                   {config.max_position_embeddings, hidden},
                                   "for max_position_embeddings " +
                                       std::to_string(config.max_position_embeddings) + for_hidden));
  if (!distilbert) {
    JN_ASSIGN_OR_RETURN(weights.token_type_embeddings,
                        binder.inner("embeddings.token_type_embeddings.weight",
                                     {config.type_vocab_size, hidden},
                                     "for type_vocab_size " + std::to_string(config.type_vocab_size) +
                                         for_hidden));
  }
  JN_ASSIGN_OR_RETURN(weights.embedding_norm_gamma, binder.norm("embeddings.LayerNorm", false, hidden));
  JN_ASSIGN_OR_RETURN(weights.embedding_norm_beta, binder.norm("embeddings.LayerNorm", true, hidden));

  weights.layers.resize(static_cast<size_t>(config.num_layers));
  for (int64_t layer_idx = 0; layer_idx < config.num_layers; ++layer_idx) {
    JN_RETURN_IF_ERROR(bind_layer(binder, distilbert ? kDistilBertNames : kBertNames, layer_idx,
                                  config, weights.layers[static_cast<size_t>(layer_idx)]));
  }
  if (config.head != HeadKind::kNone) JN_RETURN_IF_ERROR(bind_head(binder, config, weights.head));
  return weights;
}

}  // namespace justnews
