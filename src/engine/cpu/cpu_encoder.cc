// CpuEncoder: weight preparation (float32, fused QKV) and the layer-by-layer forward pass.
#include "engine/cpu/cpu_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "engine/cpu/attention_cpu.h"
#include "engine/cpu/blas_setup.h"
#include "engine/cpu/embeddings_cpu.h"
#include "engine/cpu/linear_cpu.h"
#include "engine/cpu/ops_cpu.h"
#include "engine/cpu/pooling_cpu.h"
#include "engine/cpu/quantized_linear_cpu.h"
#include "quant/int8_quant.h"
#include "quant/static_scale_search.h"

namespace justnews {
namespace {

struct CpuLayer {
  QuantizedLinearCpu qkv;  // [3·hidden, hidden]: query | key | value rows
  Tensor qkv_bias;         // [3·hidden]
  QuantizedLinearCpu attention_output;
  Tensor attention_output_bias;
  Tensor attention_norm_gamma, attention_norm_beta;
  QuantizedLinearCpu ffn_in;
  Tensor ffn_in_bias;
  QuantizedLinearCpu ffn_out;
  Tensor ffn_out_bias;
  Tensor ffn_norm_gamma, ffn_norm_beta;
};

struct CpuHead {
  Tensor pre_weight, pre_bias;  // empty when the head has no pre-projection
  Epilogue pre_epilogue = Epilogue::kNone;
  Tensor out_weight, out_bias;
};

// Checks a checkpoint tensor's presence, dtype and shape, then returns it as float32 (float32
// tensors are shared, not copied).
Result<Tensor> prepare_weight(const Tensor& tensor, const Shape& expected,
                              const std::string& name) {
  if (tensor.empty())
    return invalid_argument("cpu encoder: weight " + name + " is missing (expected shape " +
                            shape_to_string(expected) + ")");
  if (tensor.shape() != expected)
    return invalid_argument("cpu encoder: weight " + name + " has shape " +
                            shape_to_string(tensor.shape()) + ", expected " +
                            shape_to_string(expected));
  switch (tensor.dtype()) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kF64:
      return tensor.to_f32();
    default:
      return unsupported("cpu encoder: weight " + name + " has dtype " +
                         std::string(dtype_name(tensor.dtype())) +
                         ", expected a floating type (F32, F16, BF16, F64)");
  }
}

// Rows of `parts` stacked into one new float32 tensor (the fused QKV weight and bias).
Tensor concat_rows(const std::vector<Tensor>& parts) {
  Shape shape = parts.front().shape();
  shape[0] = 0;
  for (const Tensor& part : parts) shape[0] += part.dim(0);
  Tensor fused = Tensor::zeros(DType::kF32, shape);
  auto* dst = static_cast<char*>(fused.mutable_data());
  for (const Tensor& part : parts) {
    std::memcpy(dst, part.data(), part.nbytes());
    dst += part.nbytes();
  }
  return fused;
}

Status check_config(const EncoderConfig& config, const EncoderWeights& weights) {
  auto positive = [](int64_t value, const char* field) -> Status {
    if (value > 0) return ok_status();
    return invalid_argument(std::string("cpu encoder: config ") + field +
                            " must be positive, got " + std::to_string(value));
  };
  JN_RETURN_IF_ERROR(positive(config.vocab_size, "vocab_size"));
  JN_RETURN_IF_ERROR(positive(config.hidden_size, "hidden_size"));
  JN_RETURN_IF_ERROR(positive(config.num_layers, "num_hidden_layers"));
  JN_RETURN_IF_ERROR(positive(config.num_heads, "num_attention_heads"));
  JN_RETURN_IF_ERROR(positive(config.intermediate_size, "intermediate_size"));
  if (config.hidden_size % config.num_heads != 0)
    return invalid_argument(
        "cpu encoder: config hidden_size " + std::to_string(config.hidden_size) +
        " is not a multiple of num_attention_heads " + std::to_string(config.num_heads));
  if (config.max_sequence_length() <= 0)
    return invalid_argument("cpu encoder: config max_position_embeddings " +
                            std::to_string(config.max_position_embeddings) +
                            " leaves no positions after position_offset " +
                            std::to_string(config.position_offset));
  if (config.position_offset < 0 || config.type_vocab_size < 0)
    return invalid_argument("cpu encoder: config position_offset and type_vocab_size must be >= 0");
  if (config.architecture == Architecture::kRoberta &&
      (config.pad_token_id < 0 || config.pad_token_id >= config.max_position_embeddings))
    return invalid_argument("cpu encoder: config pad_token_id " +
                            std::to_string(config.pad_token_id) +
                            " is not a valid RoBERTa position id (max_position_embeddings " +
                            std::to_string(config.max_position_embeddings) + ")");
  if (static_cast<int64_t>(weights.layers.size()) != config.num_layers)
    return invalid_argument("cpu encoder: weights have " + std::to_string(weights.layers.size()) +
                            " layers, config num_hidden_layers is " +
                            std::to_string(config.num_layers));
  if (config.head != HeadKind::kNone && config.num_labels() <= 0)
    return invalid_argument("cpu encoder: config has a classification head but no labels");
  return ok_status();
}

Epilogue epilogue_for(Activation activation) {
  switch (activation) {
    case Activation::kGeluErf:
      return Epilogue::kGeluErf;
    case Activation::kGeluTanh:
      return Epilogue::kGeluTanh;
    case Activation::kRelu:
      return Epilogue::kRelu;
  }
  return Epilogue::kGeluErf;
}

class CpuEncoder final : public Encoder {
 public:
  CpuEncoder(EncoderConfig config, ThreadPool* pool, const CpuEncoderOptions& options)
      : config_(std::move(config)), pool_(pool), options_(options) {}

  Status init(const EncoderWeights& weights);

  const EncoderConfig& config() const override { return config_; }
  std::string backend_name() const override { return "cpu"; }
  Result<ForwardResult> forward(const PackedBatch& batch, const ForwardRequest& request) override;

 private:
  void ensure_workspace(int64_t total_tokens);
  // The weight of one layer linear in options_.precision (with its calibration, if any).
  Result<QuantizedLinearCpu> quantize_linear(const Tensor& weight, int64_t layer_idx,
                                             LinearSite site, const std::string& name) const;
  void run_linear(const QuantizedLinearCpu& linear, int64_t layer_idx, LinearSite site,
                  const float* input, int64_t rows, const Tensor& bias, Epilogue epilogue,
                  float* output);
  void run_layer(const CpuLayer& layer, int64_t layer_idx, const PackedBatch& batch,
                 const int32_t* sequence_order);
  Tensor compute_logits(const PackedBatch& batch);
  Tensor compute_embeddings(const PackedBatch& batch);

  EncoderConfig config_;
  ThreadPool* pool_;
  CpuEncoderOptions options_;
  Tensor word_embeddings_, position_embeddings_, token_type_embeddings_;
  Tensor embedding_norm_gamma_, embedding_norm_beta_;
  std::vector<CpuLayer> layers_;
  CpuHead head_;
  Epilogue ffn_epilogue_ = Epilogue::kGeluErf;

  std::mutex forward_mutex_;
  // Workspace, sized for the largest batch so far: hidden_ carries the residual stream.
  std::vector<float> hidden_, qkv_, context_, projected_, ffn_;
};

Result<QuantizedLinearCpu> CpuEncoder::quantize_linear(const Tensor& weight, int64_t layer_idx,
                                                       LinearSite site,
                                                       const std::string& name) const {
  LinearQuantOptions quant;
  quant.group_size = options_.group_size;
  if (options_.precision == Precision::kInt8 && options_.int8_ffn_out_bf16 &&
      site == LinearSite::kFfnOut)  // int8-mixed: no codes, so no calibrated choices either
    return QuantizedLinearCpu::prepare(weight, Precision::kBf16, quant, name);
  if (options_.precision == Precision::kInt8 && options_.int8_asymmetric_ffn_codes &&
      site == LinearSite::kFfnOut)
    quant.input_floor = config_.activation == Activation::kRelu ? 0.0f : kGeluFloor;
  std::vector<float> smoothing;
  if (options_.precision == Precision::kInt8 && options_.calibration) {
    const SiteCalibration& stats = options_.calibration->site(layer_idx, site);
    if (options_.smoothquant_alpha > 0.0f) {
      smoothing = smoothing_factors(stats.channel_absmax, weight.data_as<float>(), weight.dim(0),
                                    weight.dim(1), options_.smoothquant_alpha);
      quant.smoothing = &smoothing;
    }
    if (options_.static_activation_scales) {
      const std::vector<float> offsets =
          std::isnan(quant.input_floor)
              ? std::vector<float>{}
              : asymmetric_input_offsets(quant.input_floor, smoothing, weight.dim(1));
      quant.static_activation_absmax = searched_static_absmax(
          stats, smoothing, offsets, weight.data_as<float>(), weight.dim(0), weight.dim(1));
    }
  }
  const bool codes = options_.precision != Precision::kFp32 && options_.precision != Precision::kBf16;
  if (codes && options_.gptq && options_.calibration &&
      !options_.calibration->site(layer_idx, site).gram.empty())
    quant.gram = &options_.calibration->site(layer_idx, site).gram;
  return QuantizedLinearCpu::prepare(weight, options_.precision, quant, name);
}

Status CpuEncoder::init(const EncoderWeights& weights) {
  JN_RETURN_IF_ERROR(check_config(config_, weights));
  if (options_.calibration)
    JN_RETURN_IF_ERROR(options_.calibration->check_shape(config_.num_layers, config_.hidden_size,
                                                         config_.intermediate_size));
  if ((options_.smoothquant_alpha > 0.0f || options_.static_activation_scales) &&
      !options_.calibration)
    return invalid_argument(
        "cpu encoder: SmoothQuant and static activation scales need an activation calibration");
  const int64_t hidden = config_.hidden_size;
  const int64_t inter = config_.intermediate_size;
  JN_ASSIGN_OR_RETURN(
      word_embeddings_,
      prepare_weight(weights.word_embeddings, {config_.vocab_size, hidden}, "word_embeddings"));
  JN_ASSIGN_OR_RETURN(
      position_embeddings_,
      prepare_weight(weights.position_embeddings, {config_.max_position_embeddings, hidden},
                     "position_embeddings"));
  if (config_.type_vocab_size > 0) {
    JN_ASSIGN_OR_RETURN(token_type_embeddings_,
                        prepare_weight(weights.token_type_embeddings,
                                       {config_.type_vocab_size, hidden}, "token_type_embeddings"));
  }
  JN_ASSIGN_OR_RETURN(embedding_norm_gamma_, prepare_weight(weights.embedding_norm_gamma, {hidden},
                                                            "embedding_norm_gamma"));
  JN_ASSIGN_OR_RETURN(embedding_norm_beta_,
                      prepare_weight(weights.embedding_norm_beta, {hidden}, "embedding_norm_beta"));

  layers_.resize(weights.layers.size());
  for (size_t layer_idx = 0; layer_idx < weights.layers.size(); ++layer_idx) {
    const LayerWeights& src = weights.layers[layer_idx];
    CpuLayer& dst = layers_[layer_idx];
    const std::string prefix = "layer " + std::to_string(layer_idx) + " ";
    auto prepare = [&](const Tensor& tensor, const Shape& shape, const char* name) {
      return prepare_weight(tensor, shape, prefix + name);
    };
    JN_ASSIGN_OR_RETURN(Tensor query_weight,
                        prepare(src.query_weight, {hidden, hidden}, "query_weight"));
    JN_ASSIGN_OR_RETURN(Tensor key_weight, prepare(src.key_weight, {hidden, hidden}, "key_weight"));
    JN_ASSIGN_OR_RETURN(Tensor value_weight,
                        prepare(src.value_weight, {hidden, hidden}, "value_weight"));
    JN_ASSIGN_OR_RETURN(Tensor query_bias, prepare(src.query_bias, {hidden}, "query_bias"));
    JN_ASSIGN_OR_RETURN(Tensor key_bias, prepare(src.key_bias, {hidden}, "key_bias"));
    JN_ASSIGN_OR_RETURN(Tensor value_bias, prepare(src.value_bias, {hidden}, "value_bias"));
    JN_ASSIGN_OR_RETURN(
        dst.qkv,
        quantize_linear(concat_rows({query_weight, key_weight, value_weight}),
                        static_cast<int64_t>(layer_idx), LinearSite::kQkv, prefix + "qkv_weight"));
    dst.qkv_bias = concat_rows({query_bias, key_bias, value_bias});
    JN_ASSIGN_OR_RETURN(
        Tensor attention_output_weight,
        prepare(src.attention_output_weight, {hidden, hidden}, "attention_output_weight"));
    JN_ASSIGN_OR_RETURN(
        dst.attention_output,
        quantize_linear(attention_output_weight, static_cast<int64_t>(layer_idx),
                        LinearSite::kAttentionOutput, prefix + "attention_output_weight"));
    JN_ASSIGN_OR_RETURN(dst.attention_output_bias,
                        prepare(src.attention_output_bias, {hidden}, "attention_output_bias"));
    JN_ASSIGN_OR_RETURN(dst.attention_norm_gamma,
                        prepare(src.attention_norm_gamma, {hidden}, "attention_norm_gamma"));
    JN_ASSIGN_OR_RETURN(dst.attention_norm_beta,
                        prepare(src.attention_norm_beta, {hidden}, "attention_norm_beta"));
    JN_ASSIGN_OR_RETURN(Tensor ffn_in_weight,
                        prepare(src.ffn_in_weight, {inter, hidden}, "ffn_in_weight"));
    JN_ASSIGN_OR_RETURN(dst.ffn_in, quantize_linear(ffn_in_weight, static_cast<int64_t>(layer_idx),
                                                    LinearSite::kFfnIn, prefix + "ffn_in_weight"));
    JN_ASSIGN_OR_RETURN(dst.ffn_in_bias, prepare(src.ffn_in_bias, {inter}, "ffn_in_bias"));
    JN_ASSIGN_OR_RETURN(Tensor ffn_out_weight,
                        prepare(src.ffn_out_weight, {hidden, inter}, "ffn_out_weight"));
    JN_ASSIGN_OR_RETURN(dst.ffn_out,
                        quantize_linear(ffn_out_weight, static_cast<int64_t>(layer_idx),
                                        LinearSite::kFfnOut, prefix + "ffn_out_weight"));
    JN_ASSIGN_OR_RETURN(dst.ffn_out_bias, prepare(src.ffn_out_bias, {hidden}, "ffn_out_bias"));
    JN_ASSIGN_OR_RETURN(dst.ffn_norm_gamma,
                        prepare(src.ffn_norm_gamma, {hidden}, "ffn_norm_gamma"));
    JN_ASSIGN_OR_RETURN(dst.ffn_norm_beta, prepare(src.ffn_norm_beta, {hidden}, "ffn_norm_beta"));
  }

  if (config_.head != HeadKind::kNone) {
    const int64_t labels = config_.num_labels();
    if (config_.head == HeadKind::kSequenceClassification && !weights.head.pre_weight.empty()) {
      JN_ASSIGN_OR_RETURN(head_.pre_weight, prepare_weight(weights.head.pre_weight,
                                                           {hidden, hidden}, "head pre_weight"));
      JN_ASSIGN_OR_RETURN(head_.pre_bias,
                          prepare_weight(weights.head.pre_bias, {hidden}, "head pre_bias"));
      head_.pre_epilogue = weights.head.pre_activation == HeadActivation::kTanh   ? Epilogue::kTanh
                           : weights.head.pre_activation == HeadActivation::kRelu ? Epilogue::kRelu
                                                                                  : Epilogue::kNone;
    }
    JN_ASSIGN_OR_RETURN(head_.out_weight, prepare_weight(weights.head.out_weight, {labels, hidden},
                                                         "head out_weight"));
    JN_ASSIGN_OR_RETURN(head_.out_bias,
                        prepare_weight(weights.head.out_bias, {labels}, "head out_bias"));
  }
  ffn_epilogue_ = epilogue_for(config_.activation);
  use_single_threaded_blas();
  warn_if_blas_core_is_generic();
  return ok_status();
}

void CpuEncoder::ensure_workspace(int64_t total_tokens) {
  auto grow = [](std::vector<float>& buffer, int64_t size) {
    if (buffer.size() < static_cast<size_t>(size)) buffer.resize(static_cast<size_t>(size));
  };
  const int64_t hidden = config_.hidden_size;
  grow(hidden_, total_tokens * hidden);
  grow(qkv_, total_tokens * 3 * hidden);
  grow(context_, total_tokens * hidden);
  grow(projected_, total_tokens * hidden);
  grow(ffn_, total_tokens * config_.intermediate_size);
}

void CpuEncoder::run_linear(const QuantizedLinearCpu& linear, int64_t layer_idx, LinearSite site,
                            const float* input, int64_t rows, const Tensor& bias, Epilogue epilogue,
                            float* output) {
  if (options_.observer)
    options_.observer->observe(layer_idx, site, input, rows, linear.in_features());
  linear.run(input, rows, bias.data_as<float>(), epilogue, output, pool_);
}

void CpuEncoder::run_layer(const CpuLayer& layer, int64_t layer_idx, const PackedBatch& batch,
                           const int32_t* sequence_order) {
  const int64_t tokens = batch.total_tokens();
  const int64_t hidden = config_.hidden_size;
  const float eps = config_.layer_norm_eps;
  run_linear(layer.qkv, layer_idx, LinearSite::kQkv, hidden_.data(), tokens, layer.qkv_bias,
             Epilogue::kNone, qkv_.data());
  attention_cpu(qkv_.data(), batch.seq_offsets.data(), batch.num_sequences(), sequence_order,
                {config_.num_heads, config_.head_dim()}, context_.data(), pool_);
  run_linear(layer.attention_output, layer_idx, LinearSite::kAttentionOutput, context_.data(),
             tokens, layer.attention_output_bias, Epilogue::kNone, projected_.data());
  add_layer_norm_cpu(projected_.data(), hidden_.data(), tokens, hidden,
                     layer.attention_norm_gamma.data_as<float>(),
                     layer.attention_norm_beta.data_as<float>(), eps, pool_);
  run_linear(layer.ffn_in, layer_idx, LinearSite::kFfnIn, hidden_.data(), tokens, layer.ffn_in_bias,
             ffn_epilogue_, ffn_.data());
  run_linear(layer.ffn_out, layer_idx, LinearSite::kFfnOut, ffn_.data(), tokens, layer.ffn_out_bias,
             Epilogue::kNone, projected_.data());
  add_layer_norm_cpu(projected_.data(), hidden_.data(), tokens, hidden,
                     layer.ffn_norm_gamma.data_as<float>(), layer.ffn_norm_beta.data_as<float>(),
                     eps, pool_);
}

Tensor CpuEncoder::compute_logits(const PackedBatch& batch) {
  const int64_t hidden = config_.hidden_size;
  const int64_t labels = config_.num_labels();
  if (config_.head == HeadKind::kTokenClassification) {
    Tensor logits = Tensor::zeros(DType::kF32, {batch.total_tokens(), labels});
    linear_cpu(hidden_.data(), batch.total_tokens(), hidden, head_.out_weight.data_as<float>(),
               head_.out_bias.data_as<float>(), labels, Epilogue::kNone,
               logits.mutable_data_as<float>(), pool_);
    return logits;
  }
  const int64_t num_sequences = batch.num_sequences();
  Tensor cls = Tensor::zeros(DType::kF32, {num_sequences, hidden});
  pool_sequences_cpu(hidden_.data(), batch.seq_offsets.data(), num_sequences, hidden,
                     PoolingMode::kCls, cls.mutable_data_as<float>());
  if (!head_.pre_weight.empty()) {
    Tensor pre = Tensor::zeros(DType::kF32, {num_sequences, hidden});
    linear_cpu(cls.data_as<float>(), num_sequences, hidden, head_.pre_weight.data_as<float>(),
               head_.pre_bias.data_as<float>(), hidden, head_.pre_epilogue,
               pre.mutable_data_as<float>(), pool_);
    cls = pre;
  }
  Tensor logits = Tensor::zeros(DType::kF32, {num_sequences, labels});
  linear_cpu(cls.data_as<float>(), num_sequences, hidden, head_.out_weight.data_as<float>(),
             head_.out_bias.data_as<float>(), labels, Epilogue::kNone,
             logits.mutable_data_as<float>(), pool_);
  return logits;
}

Tensor CpuEncoder::compute_embeddings(const PackedBatch& batch) {
  const int64_t hidden = config_.hidden_size;
  const int64_t num_sequences = batch.num_sequences();
  // Without a sentence-transformers pooling module, mean pooling is the sensible default.
  const PoolingMode mode = config_.pooling.present ? config_.pooling.mode : PoolingMode::kMean;
  Tensor embeddings = Tensor::zeros(DType::kF32, {num_sequences, hidden});
  pool_sequences_cpu(hidden_.data(), batch.seq_offsets.data(), num_sequences, hidden, mode,
                     embeddings.mutable_data_as<float>());
  if (config_.pooling.present && config_.pooling.normalize)
    l2_normalize_rows_cpu(embeddings.mutable_data_as<float>(), num_sequences, hidden);
  return embeddings;
}

Result<ForwardResult> CpuEncoder::forward(const PackedBatch& batch, const ForwardRequest& request) {
  JN_RETURN_IF_ERROR(
      batch.validate(config_.vocab_size, config_.type_vocab_size, config_.max_sequence_length()));
  if (request.logits && config_.head == HeadKind::kNone)
    return invalid_argument(
        "cpu encoder: logits requested but the model has no classification head (its config "
        "names no *ForSequenceClassification / *ForTokenClassification architecture)");
  std::lock_guard<std::mutex> lock(forward_mutex_);
  const int64_t tokens = batch.total_tokens();
  const int64_t hidden = config_.hidden_size;
  ensure_workspace(tokens);

  EmbeddingTables tables;
  tables.word = word_embeddings_.data_as<float>();
  tables.position = position_embeddings_.data_as<float>();
  tables.token_type =
      token_type_embeddings_.empty() ? nullptr : token_type_embeddings_.data_as<float>();
  tables.norm_gamma = embedding_norm_gamma_.data_as<float>();
  tables.norm_beta = embedding_norm_beta_.data_as<float>();
  tables.hidden = hidden;
  tables.norm_eps = config_.layer_norm_eps;
  PositionScheme positions;
  positions.offset = config_.position_offset;
  positions.skip_pad_tokens = config_.architecture == Architecture::kRoberta;
  positions.pad_token_id = config_.pad_token_id;
  embed_tokens_cpu(batch, tables, positions, hidden_.data(), pool_);

  const std::vector<int32_t> sequence_order =
      longest_first_order(batch.seq_offsets.data(), batch.num_sequences());
  for (size_t layer_idx = 0; layer_idx < layers_.size(); ++layer_idx)
    run_layer(layers_[layer_idx], static_cast<int64_t>(layer_idx), batch, sequence_order.data());

  ForwardResult result;
  if (request.hidden_states) {
    result.hidden_states = Tensor::zeros(DType::kF32, {tokens, hidden});
    std::copy(hidden_.begin(), hidden_.begin() + tokens * hidden,
              result.hidden_states.mutable_data_as<float>());
  }
  if (request.logits) result.logits = compute_logits(batch);
  if (request.embeddings) result.embeddings = compute_embeddings(batch);
  return result;
}

}  // namespace

Result<std::unique_ptr<Encoder>> make_cpu_encoder(const EncoderConfig& config,
                                                  const EncoderWeights& weights, ThreadPool* pool,
                                                  const CpuEncoderOptions& options) {
  auto encoder = std::make_unique<CpuEncoder>(config, pool, options);
  JN_RETURN_IF_ERROR(encoder->init(weights));
  return std::unique_ptr<Encoder>(std::move(encoder));
}

Result<std::unique_ptr<Encoder>> make_cpu_encoder(const EncoderConfig& config,
                                                  const EncoderWeights& weights, ThreadPool* pool) {
  return make_cpu_encoder(config, weights, pool, CpuEncoderOptions{});
}

Result<std::unique_ptr<Encoder>> make_cpu_encoder(const LoadedModel& model, ThreadPool* pool,
                                                  const CpuEncoderOptions& options) {
  auto encoder = make_cpu_encoder(model.config, model.weights, pool, options);
  if (!encoder.ok()) return encoder.status().with_context(model.directory);
  return encoder;
}

Result<std::unique_ptr<Encoder>> make_cpu_encoder(const LoadedModel& model, ThreadPool* pool) {
  return make_cpu_encoder(model, pool, CpuEncoderOptions{});
}

}  // namespace justnews
