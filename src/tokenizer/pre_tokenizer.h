// Pre-tokenisers: split normalised text into pieces that the model tokenises independently
// (Hugging Face semantics: BertPreTokenizer, Whitespace, WhitespaceSplit, ByteLevel, Split with a
// literal or regex pattern, Punctuation, Digits, Sequence).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/normalized_text.h"
#include "tokenizer/regex.h"

namespace justnews::tokenizer {

// A byte range of the normalised text. `prefix_space` marks a piece that ByteLevel's
// add_prefix_space extends with a virtual leading ' ' (aligned with the piece's first character).
struct Piece {
  uint32_t start = 0;
  uint32_t end = 0;
  bool prefix_space = false;
};

// What happens to the delimiters found by Split, Punctuation and Digits (HF's names).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits each piece of `in` (ranges of `text`) and appends the results to `out`; empty pieces
  // are dropped.
  virtual void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const = 0;
  // True when pieces leave this stage byte-level encoded (models then work on bytes).
  virtual bool is_byte_level() const { return false; }
};

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_whitespace_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_whitespace_split_pre_tokenizer();
// use_regex: split with the GPT-2 pattern first. trim_offsets only matters in post-processing.
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);
std::unique_ptr<PreTokenizer> make_split_pre_tokenizer(std::string pattern, SplitBehavior behavior, bool invert);
// Split on the matches of a regex (HF's Split with {"Regex": ...}).
std::unique_ptr<PreTokenizer> make_regex_split_pre_tokenizer(std::shared_ptr<const Regex> regex, SplitBehavior behavior,
                                                             bool invert);
std::unique_ptr<PreTokenizer> make_punctuation_pre_tokenizer(SplitBehavior behavior);
std::unique_ptr<PreTokenizer> make_digits_pre_tokenizer(bool individual_digits);
std::unique_ptr<PreTokenizer> make_sequence_pre_tokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps);

// Splits `text` with the GPT-2 pattern
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and calls emit(begin, end) for each match (byte offsets into `text`). Exposed for tests.
void split_gpt2_pattern(std::string_view text, const std::function<void(size_t, size_t)>& emit);

}  // namespace justnews::tokenizer
