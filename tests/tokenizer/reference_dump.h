// Reader for the binary encodings tools/dump_tokenizer_reference.py writes (HF `tokenizers`
// output for the news corpora), used by the parity test.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace justnews::tokenizer {

struct ReferenceRecord {
  bool is_pair = false;
  uint32_t max_length = 0;  // 0: no truncation
  std::string label;
  std::string first;
  std::string second;
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<int32_t> special_tokens_mask;
  std::vector<std::pair<int32_t, int32_t>> offsets;
};

Result<std::vector<ReferenceRecord>> read_reference_dump(const std::string& path);

}  // namespace justnews::tokenizer
