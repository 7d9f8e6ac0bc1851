// Post-processor implementations (see post_processor.h).
#include "tokenizer/post_processor.h"

#include <utility>

namespace justnews::tokenizer {
namespace {

void append_sequence(const Encoding& source, int32_t type_id, Encoding& out) {
  for (size_t i = 0; i < source.size(); ++i) {
    out.push(source.ids[i], type_id, source.offsets[i], source.special_tokens_mask[i] != 0);
  }
}

// Without special tokens every processor concatenates the sequences with their own type ids.
void concatenate(const Encoding& first, const Encoding* second, int32_t second_type_id, Encoding& out) {
  out.clear();
  out.reserve(first.size() + (second ? second->size() : 0));
  append_sequence(first, 0, out);
  if (second) append_sequence(*second, second_type_id, out);
}

class BertProcessing final : public PostProcessor {
 public:
  BertProcessing(int32_t cls_id, int32_t sep_id) : cls_id_(cls_id), sep_id_(sep_id) {}
  size_t added_tokens(bool is_pair) const override { return is_pair ? 3 : 2; }

  void process(const Encoding& first, const Encoding* second, bool add_special_tokens, Encoding& out) const override {
    if (!add_special_tokens) return concatenate(first, second, 1, out);
    out.clear();
    out.reserve(first.size() + (second ? second->size() + 3 : 2));
    out.push(cls_id_, 0, {0, 0}, true);
    append_sequence(first, 0, out);
    out.push(sep_id_, 0, {0, 0}, true);
    if (second) {
      append_sequence(*second, 1, out);
      out.push(sep_id_, 1, {0, 0}, true);
    }
  }

 private:
  int32_t cls_id_;
  int32_t sep_id_;
};

class RobertaProcessing final : public PostProcessor {
 public:
  RobertaProcessing(int32_t cls_id, int32_t sep_id, bool trim_offsets, bool add_prefix_space)
      : cls_id_(cls_id), sep_id_(sep_id), trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool is_pair) const override { return is_pair ? 4 : 2; }
  std::optional<bool> trim_offsets_prefix_space() const override {
    return trim_offsets_ ? std::optional<bool>(add_prefix_space_) : std::nullopt;
  }

  void process(const Encoding& first, const Encoding* second, bool add_special_tokens, Encoding& out) const override {
    // RoBERTa has no segment embeddings: every type id is 0.
    if (!add_special_tokens) return concatenate(first, second, 0, out);
    out.clear();
    out.reserve(first.size() + (second ? second->size() + 4 : 2));
    out.push(cls_id_, 0, {0, 0}, true);
    append_sequence(first, 0, out);
    out.push(sep_id_, 0, {0, 0}, true);
    if (second) {
      out.push(sep_id_, 0, {0, 0}, true);
      append_sequence(*second, 0, out);
      out.push(sep_id_, 0, {0, 0}, true);
    }
  }

 private:
  int32_t cls_id_;
  int32_t sep_id_;
  bool trim_offsets_;
  bool add_prefix_space_;
};

class TemplateProcessing final : public PostProcessor {
 public:
  TemplateProcessing(std::vector<TemplatePiece> single, std::vector<TemplatePiece> pair)
      : single_(std::move(single)), pair_(std::move(pair)) {}

  size_t added_tokens(bool is_pair) const override {
    size_t count = 0;
    for (const TemplatePiece& piece : is_pair ? pair_ : single_) {
      if (!piece.is_sequence) count += piece.special_ids.size();
    }
    return count;
  }

  void process(const Encoding& first, const Encoding* second, bool add_special_tokens, Encoding& out) const override {
    out.clear();
    out.reserve(first.size() + (second ? second->size() : 0) + added_tokens(second != nullptr));
    for (const TemplatePiece& piece : second ? pair_ : single_) {
      if (piece.is_sequence) {
        const Encoding* source = piece.sequence_b ? second : &first;
        if (source) append_sequence(*source, piece.type_id, out);
      } else if (add_special_tokens) {
        for (int32_t id : piece.special_ids) out.push(id, piece.type_id, {0, 0}, true);
      }
    }
  }

 private:
  std::vector<TemplatePiece> single_;
  std::vector<TemplatePiece> pair_;
};

class ByteLevelProcessing final : public PostProcessor {
 public:
  ByteLevelProcessing(bool trim_offsets, bool add_prefix_space)
      : trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool) const override { return 0; }
  std::optional<bool> trim_offsets_prefix_space() const override {
    return trim_offsets_ ? std::optional<bool>(add_prefix_space_) : std::nullopt;
  }
  void process(const Encoding& first, const Encoding* second, bool, Encoding& out) const override {
    concatenate(first, second, 1, out);
  }

 private:
  bool trim_offsets_;
  bool add_prefix_space_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_bert_processing(int32_t cls_id, int32_t sep_id) {
  return std::make_unique<BertProcessing>(cls_id, sep_id);
}
std::unique_ptr<PostProcessor> make_roberta_processing(int32_t cls_id, int32_t sep_id, bool trim_offsets,
                                                       bool add_prefix_space) {
  return std::make_unique<RobertaProcessing>(cls_id, sep_id, trim_offsets, add_prefix_space);
}
std::unique_ptr<PostProcessor> make_template_processing(std::vector<TemplatePiece> single,
                                                        std::vector<TemplatePiece> pair) {
  return std::make_unique<TemplateProcessing>(std::move(single), std::move(pair));
}
std::unique_ptr<PostProcessor> make_byte_level_processing(bool trim_offsets, bool add_prefix_space) {
  return std::make_unique<ByteLevelProcessing>(trim_offsets, add_prefix_space);
}

}  // namespace justnews::tokenizer
