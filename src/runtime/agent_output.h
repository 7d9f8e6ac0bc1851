// AgentOutput: what one agent computed for one article, before it is turned into JSON.
#pragma once

#include <cstdint>
#include <vector>

namespace justnews {

struct TokenPrediction {
  int32_t token_idx = 0;
  int32_t label_id = 0;
  float score = 0;
  int32_t char_begin = 0;  // code-point offsets into the analysed text
  int32_t char_end = 0;
};

struct AgentOutput {
  // classify / multilabel: one probability per label; embed: the embedding.
  std::vector<float> values;
  // token-classify: tokens whose best label is not the first ("O") label.
  std::vector<TokenPrediction> tokens;
};

}  // namespace justnews
