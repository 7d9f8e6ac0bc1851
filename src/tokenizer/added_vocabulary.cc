// AddedVocabulary (see added_vocabulary.h).
#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace justnews::tokenizer {
namespace {

// Regex \w as HF's single_word check uses it.
bool is_word_character(char32_t c) { return is_alphanumeric(c) || c == '_'; }

bool ends_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  size_t length;
  return is_word_character(decode_utf8_at(text, start, &length));
}

bool starts_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t length;
  return is_word_character(decode_utf8_at(text, 0, &length));
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t index = 0; index < tokens_.size(); ++index) {
    const AddedToken& token = tokens_[index];
    if (token.content.empty()) continue;
    std::string pattern = token.content;
    if (token.normalized && normalizer != nullptr) {
      NormalizedText text;
      NormalizedText scratch;
      text.reset(pattern, 0, static_cast<uint32_t>(pattern.size()));
      normalizer->normalize(text, scratch);
      pattern = text.text;
    }
    if (pattern.empty()) continue;
    PatternSet& set = sets_[token.normalized ? 1 : 0];
    set.first_bytes[static_cast<unsigned char>(pattern[0])] = true;
    set.patterns.push_back(Pattern{std::move(pattern), index});
  }
  for (PatternSet& set : sets_) {
    std::stable_sort(set.patterns.begin(), set.patterns.end(),
                     [](const Pattern& a, const Pattern& b) { return a.text.size() > b.text.size(); });
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized_pass, std::vector<Segment>& out) const {
  out.clear();
  const uint32_t size = static_cast<uint32_t>(text.size());
  const PatternSet& set = sets_[normalized_pass ? 1 : 0];
  uint32_t start_offset = 0;
  uint32_t search = 0;
  while (search < size && !set.patterns.empty()) {
    // Leftmost-longest match, like the aho-corasick automaton HF builds.
    const Pattern* found = nullptr;
    uint32_t match_start = search;
    for (; match_start < size; ++match_start) {
      if (!set.first_bytes[static_cast<unsigned char>(text[match_start])]) continue;
      for (const Pattern& pattern : set.patterns) {
        if (pattern.text.size() <= size - match_start &&
            std::memcmp(text.data() + match_start, pattern.text.data(), pattern.text.size()) == 0) {
          found = &pattern;
          break;
        }
      }
      if (found) break;
    }
    if (!found) break;
    const AddedToken& token = tokens_[found->token_index];
    uint32_t start = match_start;
    uint32_t stop = match_start + static_cast<uint32_t>(found->text.size());
    search = stop;
    if (token.single_word) {
      bool space_before = start == 0 || !ends_with_word(text.substr(0, start));
      bool space_after = stop == size || !starts_with_word(text.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) {
      uint32_t new_start = start;
      while (new_start > 0) {
        uint32_t prev = new_start - 1;
        while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
        size_t length;
        if (!is_whitespace(decode_utf8_at(text, prev, &length))) break;
        new_start = prev;
      }
      start = std::max(new_start, start_offset);
    }
    if (token.rstrip) {
      while (stop < size) {
        size_t length;
        if (!is_whitespace(decode_utf8_at(text, stop, &length))) break;
        stop += static_cast<uint32_t>(length);
      }
    }
    if (start_offset < start) out.push_back(Segment{start_offset, start, -1});
    out.push_back(Segment{start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset < size || out.empty()) out.push_back(Segment{start_offset, size, -1});
}

}  // namespace justnews::tokenizer
