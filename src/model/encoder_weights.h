// EncoderWeights: the checkpoint's tensors arranged by role, independent of how each architecture
// names them. Tensors keep the checkpoint's dtype (F32/F16/BF16) and the PyTorch layout: linear
// weights are [out_features, in_features]. Every shape has been checked against EncoderConfig.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace justnews {

struct LayerWeights {
  Tensor query_weight, query_bias;          // [hidden, hidden], [hidden]
  Tensor key_weight, key_bias;
  Tensor value_weight, value_bias;
  Tensor attention_output_weight, attention_output_bias;
  Tensor attention_norm_gamma, attention_norm_beta;   // LayerNorm after attention + residual
  Tensor ffn_in_weight, ffn_in_bias;        // [intermediate, hidden], [intermediate]
  Tensor ffn_out_weight, ffn_out_bias;      // [hidden, intermediate], [hidden]
  Tensor ffn_norm_gamma, ffn_norm_beta;     // LayerNorm after FFN + residual
};

// The task head. Sequence classification: x = CLS hidden state;
//   if pre_weight present: x = act(pre_weight x + pre_bias) (BERT pooler: tanh, RoBERTa head dense:
//   tanh, DistilBERT pre_classifier: ReLU); logits = out_weight x + out_bias.
// Token classification: logits = out_weight h + out_bias for every token.
enum class HeadActivation { kNone, kTanh, kRelu };

struct HeadWeights {
  Tensor pre_weight, pre_bias;
  HeadActivation pre_activation = HeadActivation::kNone;
  Tensor out_weight, out_bias;              // [num_labels, hidden], [num_labels]
};

struct EncoderWeights {
  Tensor word_embeddings;                   // [vocab, hidden]
  Tensor position_embeddings;               // [max_positions, hidden]
  Tensor token_type_embeddings;             // [type_vocab, hidden]; empty for DistilBERT
  Tensor embedding_norm_gamma, embedding_norm_beta;
  std::vector<LayerWeights> layers;
  HeadWeights head;                         // empty tensors when the config has no head
};

}  // namespace justnews
