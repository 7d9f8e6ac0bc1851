// Normalisers: the first stage of the pipeline, rewriting text while keeping alignments to the
// original (Hugging Face semantics: BertNormalizer, NFC/NFD/NFKC/NFKD, Lowercase, Strip,
// StripAccents, Replace, Sequence).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/normalized_text.h"
#include "tokenizer/regex.h"

namespace justnews::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` in place; `scratch` is a reusable buffer owned by the caller.
  virtual void normalize(NormalizedText& text, NormalizedText& scratch) const = 0;
};

struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // unset: follow `lowercase`, as HF does
  bool lowercase = true;
};

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };

std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& options);
// Composition (NFC/NFKC) is applied per combining sequence (a starter and its marks); the
// composed character takes the alignment of the sequence's first character, as HF does.
std::unique_ptr<Normalizer> make_unicode_normalizer(UnicodeForm form);
std::unique_ptr<Normalizer> make_lowercase_normalizer();
std::unique_ptr<Normalizer> make_strip_normalizer(bool strip_left, bool strip_right);
// Removes nonspacing marks (Mn); pair it with NFD/NFKD to strip accents from composed characters.
std::unique_ptr<Normalizer> make_strip_accents_normalizer();
// Replaces every occurrence of the literal `pattern` by `content`.
std::unique_ptr<Normalizer> make_replace_normalizer(std::string pattern, std::string content);
// Replaces every match of `regex` by `content` (literally: HF has no backreferences).
std::unique_ptr<Normalizer> make_regex_replace_normalizer(std::shared_ptr<const Regex> regex, std::string content);
std::unique_ptr<Normalizer> make_sequence_normalizer(std::vector<std::unique_ptr<Normalizer>> steps);

}  // namespace justnews::tokenizer
