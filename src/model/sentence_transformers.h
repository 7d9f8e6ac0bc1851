// sentence-transformers metadata: modules.json lists the pipeline after the transformer; a
// Pooling module's config.json picks CLS / mean / max pooling and a Normalize module adds L2
// normalisation.
#pragma once

#include <string>

#include "core/status.h"
#include "model/encoder_config.h"

namespace justnews {

// Reads <directory>/modules.json when present; a directory without it gives pooling.present=false.
Result<PoolingConfig> load_sentence_pooling(const std::string& directory);

// max_seq_length from <directory>/sentence_bert_config.json (the truncation length
// sentence-transformers applies), or 0 when the file is absent.
Result<int64_t> load_sentence_max_length(const std::string& directory);

}  // namespace justnews
