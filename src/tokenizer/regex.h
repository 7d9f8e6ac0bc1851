// Regex: the {"Regex": ...} patterns of tokenizer.json (Split pre-tokenizer, Replace normaliser).
// Hugging Face compiles them with Oniguruma (Ruby syntax); we run them on ICU's regex engine after
// translating the few constructs whose meaning differs, and enumerate matches exactly as the
// Rust `onig` crate's find_iter does, reporting byte offsets into the UTF-8 text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace justnews::tokenizer {

// A half-open byte range of a match.
struct ByteRange {
  uint32_t start = 0;
  uint32_t end = 0;
};

// A compiled pattern: immutable after compile(), so one instance is shared by every thread.
class Regex {
 public:
  // Compiles `pattern` (Oniguruma Ruby syntax). A bad pattern is an InvalidArgument naming
  // `where` (the JSON path), the ICU error and the offending position.
  static Result<std::shared_ptr<const Regex>> compile(std::string_view pattern, const std::string& where);
  ~Regex();

  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  Regex(std::string pattern, std::unique_ptr<Impl> impl);
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
  friend class RegexSearcher;
};

// Per-call (per-thread) matching state for one Regex: reuse it for many texts in one call.
class RegexSearcher {
 public:
  explicit RegexSearcher(const Regex& regex);
  ~RegexSearcher();
  RegexSearcher(const RegexSearcher&) = delete;
  RegexSearcher& operator=(const RegexSearcher&) = delete;

  // Replaces `matches` with the non-overlapping matches in `text` (valid UTF-8), in order. As in
  // onig's find_iter, an empty match right where the previous match ended is skipped.
  void find_all(std::string_view text, std::vector<ByteRange>& matches);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace justnews::tokenizer
