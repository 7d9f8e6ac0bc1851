// Post-processors: add the model's special tokens around one sequence or a pair, set type ids,
// and (RoBERTa / ByteLevel) trim offsets so they do not cover the spaces a token starts with.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/encoding.h"

namespace justnews::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // How many special tokens process() adds.
  virtual size_t added_tokens(bool is_pair) const = 0;
  // Set when token offsets must be trimmed of leading/trailing spaces; the value is
  // add_prefix_space (HF's process_offsets keeps the first token's single added space).
  virtual std::optional<bool> trim_offsets_prefix_space() const { return std::nullopt; }
  // Builds the final encoding from the tokens of `first` (and `second`).
  virtual void process(const Encoding& first, const Encoding* second, bool add_special_tokens, Encoding& out) const = 0;
};

// A special token or a sequence slot of a TemplateProcessing template.
struct TemplatePiece {
  bool is_sequence = false;
  bool sequence_b = false;          // for sequence slots: "B" rather than "A"
  std::vector<int32_t> special_ids;  // for special tokens: the ids it expands to
  int32_t type_id = 0;
};

std::unique_ptr<PostProcessor> make_bert_processing(int32_t cls_id, int32_t sep_id);
std::unique_ptr<PostProcessor> make_roberta_processing(int32_t cls_id, int32_t sep_id, bool trim_offsets,
                                                       bool add_prefix_space);
std::unique_ptr<PostProcessor> make_template_processing(std::vector<TemplatePiece> single,
                                                        std::vector<TemplatePiece> pair);
std::unique_ptr<PostProcessor> make_byte_level_processing(bool trim_offsets, bool add_prefix_space);

}  // namespace justnews::tokenizer
