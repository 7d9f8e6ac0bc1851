// Random-weight encoders and batches (see random_model.h).
#include "random_model.h"

#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/cpu_encoder.h"
#include "engine/cpu/linear_cpu.h"

namespace justnews::testing {

namespace {

Tensor random_tensor(std::mt19937& rng, const Shape& shape, float mean, float stddev) {
  auto values = std::make_shared<std::vector<float>>(shape_numel(shape));
  std::normal_distribution<float> normal(mean, stddev);
  for (float& value : *values) value = normal(rng);
  return Tensor(DType::kF32, shape, values->data(), values);
}

}  // namespace

RandomModel make_random_model(const RandomModelShape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  RandomModel model;
  EncoderConfig& config = model.config;
  config.architecture = Architecture::kBert;
  config.head = shape.head;
  config.vocab_size = shape.vocab_size;
  config.hidden_size = shape.hidden_size;
  config.num_layers = shape.num_layers;
  config.num_heads = shape.num_heads;
  config.intermediate_size = shape.intermediate_size;
  config.max_position_embeddings = shape.max_position_embeddings;
  config.type_vocab_size = shape.type_vocab_size;
  config.layer_norm_eps = 1e-12f;
  config.activation = shape.activation;
  for (int64_t label = 0; label < shape.num_labels; ++label)
    config.id2label.push_back("label_" + std::to_string(label));
  config.pooling = shape.pooling;

  const int64_t hidden = shape.hidden_size;
  const int64_t intermediate = shape.intermediate_size;
  constexpr float kWeightStd = 0.05f;  // a little above BERT's 0.02 init, as trained weights are
  EncoderWeights& weights = model.weights;
  weights.word_embeddings = random_tensor(rng, {shape.vocab_size, hidden}, 0.f, kWeightStd);
  weights.position_embeddings = random_tensor(rng, {shape.max_position_embeddings, hidden}, 0.f, kWeightStd);
  if (shape.type_vocab_size > 0)
    weights.token_type_embeddings = random_tensor(rng, {shape.type_vocab_size, hidden}, 0.f, kWeightStd);
  weights.embedding_norm_gamma = random_tensor(rng, {hidden}, 1.f, 0.1f);
  weights.embedding_norm_beta = random_tensor(rng, {hidden}, 0.f, 0.1f);
  for (int64_t layer_idx = 0; layer_idx < shape.num_layers; ++layer_idx) {
    LayerWeights layer;
    layer.query_weight = random_tensor(rng, {hidden, hidden}, 0.f, kWeightStd);
    layer.query_bias = random_tensor(rng, {hidden}, 0.f, 0.1f);
    layer.key_weight = random_tensor(rng, {hidden, hidden}, 0.f, kWeightStd);
    layer.key_bias = random_tensor(rng, {hidden}, 0.f, 0.1f);
    layer.value_weight = random_tensor(rng, {hidden, hidden}, 0.f, kWeightStd);
    layer.value_bias = random_tensor(rng, {hidden}, 0.f, 0.1f);
    layer.attention_output_weight = random_tensor(rng, {hidden, hidden}, 0.f, kWeightStd);
    layer.attention_output_bias = random_tensor(rng, {hidden}, 0.f, 0.1f);
    layer.attention_norm_gamma = random_tensor(rng, {hidden}, 1.f, 0.1f);
    layer.attention_norm_beta = random_tensor(rng, {hidden}, 0.f, 0.1f);
    layer.ffn_in_weight = random_tensor(rng, {intermediate, hidden}, 0.f, kWeightStd);
    layer.ffn_in_bias = random_tensor(rng, {intermediate}, 0.f, 0.1f);
    layer.ffn_out_weight = random_tensor(rng, {hidden, intermediate}, 0.f, kWeightStd);
    layer.ffn_out_bias = random_tensor(rng, {hidden}, 0.f, 0.1f);
    layer.ffn_norm_gamma = random_tensor(rng, {hidden}, 1.f, 0.1f);
    layer.ffn_norm_beta = random_tensor(rng, {hidden}, 0.f, 0.1f);
    weights.layers.push_back(std::move(layer));
  }
  if (shape.head != HeadKind::kNone) {
    if (shape.head == HeadKind::kSequenceClassification &&
        shape.head_pre_activation != HeadActivation::kNone) {
      weights.head.pre_weight = random_tensor(rng, {hidden, hidden}, 0.f, kWeightStd);
      weights.head.pre_bias = random_tensor(rng, {hidden}, 0.f, 0.1f);
      weights.head.pre_activation = shape.head_pre_activation;
    }
    weights.head.out_weight = random_tensor(rng, {shape.num_labels, hidden}, 0.f, 0.2f);
    weights.head.out_bias = random_tensor(rng, {shape.num_labels}, 0.f, 0.1f);
  }
  return model;
}

PackedBatch make_random_batch(const EncoderConfig& config, const std::vector<int64_t>& lengths,
                              uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(config.vocab_size) - 1);
  std::uniform_int_distribution<int32_t> type(0, static_cast<int32_t>(std::max<int64_t>(config.type_vocab_size, 1)) - 1);
  PackedBatch batch;
  for (int64_t length : lengths) {
    std::vector<int32_t> ids(length);
    std::vector<int32_t> types(length);
    for (int64_t idx = 0; idx < length; ++idx) {
      ids[idx] = token(rng);
      types[idx] = type(rng);
    }
    batch.append(ids, types);
  }
  return batch;
}

Result<ActivationCalibration> calibrate_random_model(const RandomModel& model, bool gram) {
  ActivationStatsRecorder recorder(model.config.num_layers,
                                   gram ? GramAccumulator(accumulate_gram_cpu) : nullptr);
  CpuEncoderOptions options;
  options.observer = &recorder;
  JN_ASSIGN_OR_RETURN(auto encoder, make_cpu_encoder(model.config, model.weights, nullptr, options));
  for (uint32_t seed = 0; seed < 4; ++seed) {
    const PackedBatch batch = make_random_batch(model.config, {50, 120, 7, 90}, 500 + seed);
    JN_RETURN_IF_ERROR(encoder->forward(batch, ForwardRequest{true, false, false}).status());
  }
  return recorder.finish(99.9f);
}

}  // namespace justnews::testing
