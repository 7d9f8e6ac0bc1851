// Naive double-precision encoder (see naive_encoder.h). Written from the Hugging Face modelling
// code's definitions, sharing nothing with src/engine/cpu.
#include "naive_encoder.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace justnews::testing {
namespace {

using Matrix = std::vector<std::vector<double>>;

double at(const Tensor& tensor, int64_t index) {
  return static_cast<double>(tensor.to_f32().data_as<float>()[index]);
}

// y = x Wᵀ + b for one vector; W is [out, in].
std::vector<double> dense(const std::vector<double>& x, const Tensor& weight, const Tensor& bias) {
  const Tensor w = weight.to_f32();
  const Tensor b = bias.to_f32();
  const int64_t out = w.dim(0), in = w.dim(1);
  std::vector<double> y(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double sum = b.data_as<float>()[o];
    for (int64_t i = 0; i < in; ++i)
      sum += w.data_as<float>()[o * in + i] * x[static_cast<size_t>(i)];
    y[static_cast<size_t>(o)] = sum;
  }
  return y;
}

void layer_norm(std::vector<double>& x, const Tensor& gamma, const Tensor& beta, double eps) {
  double mean = 0.0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  double var = 0.0;
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = (x[i] - mean) / std::sqrt(var + eps) * at(gamma, static_cast<int64_t>(i)) +
           at(beta, static_cast<int64_t>(i));
}

double activation(double x, Activation kind) {
  switch (kind) {
    case Activation::kGeluErf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::kRelu:
      return x > 0 ? x : 0.0;
  }
  return x;
}

Matrix encode_sequence(const EncoderConfig& config, const EncoderWeights& weights,
                       const PackedBatch& batch, int64_t seq_idx) {
  const int64_t begin = batch.seq_offsets[seq_idx], end = batch.seq_offsets[seq_idx + 1];
  const int64_t length = end - begin, hidden = config.hidden_size;
  Matrix h(static_cast<size_t>(length), std::vector<double>(static_cast<size_t>(hidden)));
  int64_t non_pad_seen = 0;
  for (int64_t t = 0; t < length; ++t) {
    const int64_t id = batch.token_ids[begin + t];
    int64_t position = config.position_offset + t;
    if (config.architecture == Architecture::kRoberta) {
      // create_position_ids_from_input_ids: cumsum(mask) * mask + padding_idx.
      const bool is_pad = id == config.pad_token_id;
      if (!is_pad) ++non_pad_seen;
      position = is_pad ? config.pad_token_id : non_pad_seen + config.pad_token_id;
    }
    for (int64_t i = 0; i < hidden; ++i) {
      double v = at(weights.word_embeddings, id * hidden + i) +
                 at(weights.position_embeddings, position * hidden + i);
      if (config.type_vocab_size > 0)
        v += at(weights.token_type_embeddings, batch.type_ids[begin + t] * hidden + i);
      h[t][i] = v;
    }
    layer_norm(h[t], weights.embedding_norm_gamma, weights.embedding_norm_beta,
               config.layer_norm_eps);
  }
  const int64_t heads = config.num_heads, dim = config.head_dim();
  for (const LayerWeights& layer : weights.layers) {
    Matrix q(length), k(length), v(length);
    for (int64_t t = 0; t < length; ++t) {
      q[t] = dense(h[t], layer.query_weight, layer.query_bias);
      k[t] = dense(h[t], layer.key_weight, layer.key_bias);
      v[t] = dense(h[t], layer.value_weight, layer.value_bias);
    }
    Matrix context(length, std::vector<double>(static_cast<size_t>(hidden), 0.0));
    for (int64_t head = 0; head < heads; ++head) {
      for (int64_t t = 0; t < length; ++t) {
        std::vector<double> scores(static_cast<size_t>(length));
        for (int64_t u = 0; u < length; ++u) {
          double dot = 0.0;
          for (int64_t d = 0; d < dim; ++d) dot += q[t][head * dim + d] * k[u][head * dim + d];
          scores[u] = dot / std::sqrt(static_cast<double>(dim));
        }
        const double top = *std::max_element(scores.begin(), scores.end());
        double total = 0.0;
        for (double& s : scores) total += (s = std::exp(s - top));
        for (int64_t u = 0; u < length; ++u)
          for (int64_t d = 0; d < dim; ++d)
            context[t][head * dim + d] += scores[u] / total * v[u][head * dim + d];
      }
    }
    for (int64_t t = 0; t < length; ++t) {
      std::vector<double> attn =
          dense(context[t], layer.attention_output_weight, layer.attention_output_bias);
      for (int64_t i = 0; i < hidden; ++i) attn[i] += h[t][i];
      layer_norm(attn, layer.attention_norm_gamma, layer.attention_norm_beta,
                 config.layer_norm_eps);
      std::vector<double> inner = dense(attn, layer.ffn_in_weight, layer.ffn_in_bias);
      for (double& x : inner) x = activation(x, config.activation);
      std::vector<double> out = dense(inner, layer.ffn_out_weight, layer.ffn_out_bias);
      for (int64_t i = 0; i < hidden; ++i) out[i] += attn[i];
      layer_norm(out, layer.ffn_norm_gamma, layer.ffn_norm_beta, config.layer_norm_eps);
      h[t] = out;
    }
  }
  return h;
}

}  // namespace

EncoderConfig tiny_config(Architecture architecture) {
  EncoderConfig config;
  config.architecture = architecture;
  config.vocab_size = 50;
  config.hidden_size = 32;
  config.num_layers = 2;
  config.num_heads = 4;
  config.intermediate_size = 48;
  config.max_position_embeddings = 40;
  config.layer_norm_eps = 1e-12f;
  config.type_vocab_size = 2;
  if (architecture == Architecture::kRoberta) {
    config.type_vocab_size = 1;
    config.pad_token_id = 1;
    config.position_offset = 2;
    config.layer_norm_eps = 1e-5f;
  }
  if (architecture == Architecture::kDistilBert) {
    config.type_vocab_size = 0;
    config.activation = Activation::kRelu;
  }
  return config;
}

Tensor random_tensor(const Shape& shape, uint32_t seed, float mean, float stddev) {
  Tensor tensor = Tensor::zeros(DType::kF32, shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, stddev);
  float* data = tensor.mutable_data_as<float>();
  for (int64_t i = 0; i < tensor.numel(); ++i) data[i] = normal(rng);
  return tensor;
}

EncoderWeights random_weights(const EncoderConfig& config, uint32_t seed) {
  const int64_t h = config.hidden_size, f = config.intermediate_size;
  uint32_t next_seed = seed;
  auto matrix = [&](Shape shape) { return random_tensor(shape, next_seed++, 0.0f, 0.15f); };
  auto gamma = [&](int64_t n) { return random_tensor({n}, next_seed++, 1.0f, 0.1f); };
  EncoderWeights weights;
  weights.word_embeddings = random_tensor({config.vocab_size, h}, next_seed++, 0.0f, 0.5f);
  weights.position_embeddings =
      random_tensor({config.max_position_embeddings, h}, next_seed++, 0.0f, 0.5f);
  if (config.type_vocab_size > 0)
    weights.token_type_embeddings =
        random_tensor({config.type_vocab_size, h}, next_seed++, 0.0f, 0.5f);
  weights.embedding_norm_gamma = gamma(h);
  weights.embedding_norm_beta = matrix({h});
  for (int64_t layer_idx = 0; layer_idx < config.num_layers; ++layer_idx) {
    LayerWeights layer;
    layer.query_weight = matrix({h, h});
    layer.query_bias = matrix({h});
    layer.key_weight = matrix({h, h});
    layer.key_bias = matrix({h});
    layer.value_weight = matrix({h, h});
    layer.value_bias = matrix({h});
    layer.attention_output_weight = matrix({h, h});
    layer.attention_output_bias = matrix({h});
    layer.attention_norm_gamma = gamma(h);
    layer.attention_norm_beta = matrix({h});
    layer.ffn_in_weight = matrix({f, h});
    layer.ffn_in_bias = matrix({f});
    layer.ffn_out_weight = matrix({h, f});
    layer.ffn_out_bias = matrix({h});
    layer.ffn_norm_gamma = gamma(h);
    layer.ffn_norm_beta = matrix({h});
    weights.layers.push_back(layer);
  }
  if (config.head != HeadKind::kNone) {
    if (config.head == HeadKind::kSequenceClassification) {
      weights.head.pre_weight = matrix({h, h});
      weights.head.pre_bias = matrix({h});
      weights.head.pre_activation = HeadActivation::kTanh;
    }
    weights.head.out_weight = matrix({config.num_labels(), h});
    weights.head.out_bias = matrix({config.num_labels()});
  }
  return weights;
}

NaiveOutputs naive_forward(const EncoderConfig& config, const EncoderWeights& weights,
                           const PackedBatch& batch) {
  NaiveOutputs outputs;
  const int64_t hidden = config.hidden_size;
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    const Matrix h = encode_sequence(config, weights, batch, s);
    for (const auto& row : h)
      outputs.hidden_states.insert(outputs.hidden_states.end(), row.begin(), row.end());
    if (config.head == HeadKind::kTokenClassification) {
      for (const auto& row : h) {
        const auto logits = dense(row, weights.head.out_weight, weights.head.out_bias);
        outputs.logits.insert(outputs.logits.end(), logits.begin(), logits.end());
      }
    } else if (config.head == HeadKind::kSequenceClassification) {
      std::vector<double> x = h[0];
      if (!weights.head.pre_weight.empty()) {
        x = dense(x, weights.head.pre_weight, weights.head.pre_bias);
        for (double& value : x)
          value = weights.head.pre_activation == HeadActivation::kTanh   ? std::tanh(value)
                  : weights.head.pre_activation == HeadActivation::kRelu ? std::max(value, 0.0)
                                                                         : value;
      }
      const auto logits = dense(x, weights.head.out_weight, weights.head.out_bias);
      outputs.logits.insert(outputs.logits.end(), logits.begin(), logits.end());
    }
    const PoolingMode mode = config.pooling.present ? config.pooling.mode : PoolingMode::kMean;
    std::vector<double> pooled(static_cast<size_t>(hidden),
                               mode == PoolingMode::kMax ? -INFINITY : 0.0);
    for (size_t t = 0; t < h.size(); ++t)
      for (int64_t i = 0; i < hidden; ++i) {
        if (mode == PoolingMode::kCls)
          pooled[i] = h[0][i];
        else if (mode == PoolingMode::kMax)
          pooled[i] = std::max(pooled[i], h[t][i]);
        else
          pooled[i] += h[t][i] / static_cast<double>(h.size());
      }
    if (config.pooling.present && config.pooling.normalize) {
      double norm = 0.0;
      for (double v : pooled) norm += v * v;
      norm = std::max(std::sqrt(norm), 1e-12);
      for (double& v : pooled) v /= norm;
    }
    outputs.embeddings.insert(outputs.embeddings.end(), pooled.begin(), pooled.end());
  }
  return outputs;
}

PackedBatch random_batch(const EncoderConfig& config, const std::vector<int>& lengths,
                         uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token(2, static_cast<int32_t>(config.vocab_size - 1));
  std::uniform_int_distribution<int32_t> type(
      0, static_cast<int32_t>(std::max<int64_t>(config.type_vocab_size, 1) - 1));
  PackedBatch batch;
  for (int length : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(length)), types(static_cast<size_t>(length));
    for (int t = 0; t < length; ++t) {
      ids[t] = t == 0 ? 0 : token(rng);
      types[t] = type(rng);
    }
    batch.append(ids, types);
  }
  return batch;
}

double max_abs_diff(const float* actual, const std::vector<double>& expected) {
  double worst = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double diff = std::abs(static_cast<double>(actual[i]) - expected[i]);
    if (std::isnan(diff)) return INFINITY;  // NaN must fail every tolerance check
    worst = std::max(worst, diff);
  }
  return worst;
}

}  // namespace justnews::testing
