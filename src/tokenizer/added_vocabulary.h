// AddedVocabulary: special and added tokens, matched in the text before normalisation (tokens
// with normalized=false) or in each normalised segment (normalized=true), honouring lstrip,
// rstrip and single_word like Hugging Face's AddedVocabulary.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace justnews::tokenizer {

class Normalizer;

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A byte range of the searched text, either an added token (id >= 0) or plain text (id == -1).
struct Segment {
  uint32_t start;
  uint32_t end;
  int32_t id;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) normalises the content of normalized=true tokens for matching.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // Splits `text` into segments covering it; `normalized_pass` selects which tokens are searched.
  void split(std::string_view text, bool normalized_pass, std::vector<Segment>& out) const;
  bool has_patterns(bool normalized_pass) const { return !sets_[normalized_pass ? 1 : 0].patterns.empty(); }

 private:
  struct Pattern {
    std::string text;
    size_t token_index;
  };
  struct PatternSet {
    std::vector<Pattern> patterns;  // longest first, so the first hit at a position is the longest
    std::array<bool, 256> first_bytes{};
  };

  std::vector<AddedToken> tokens_;
  std::array<PatternSet, 2> sets_;
};

}  // namespace justnews::tokenizer
