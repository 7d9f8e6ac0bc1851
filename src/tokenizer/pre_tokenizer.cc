// Pre-tokeniser implementations (see pre_tokenizer.h).
#include "tokenizer/pre_tokenizer.h"

#include <utility>

#include "tokenizer/unicode.h"

namespace justnews::tokenizer {
namespace {

// A delimiter match inside a piece, as HF's find_matches reports it.
struct Match {
  uint32_t start;
  uint32_t end;
  bool is_match;
};

// Walking matches in [begin, end): a match for which joins(is_match, previous is_match) holds is
// folded into the last merged one (`extend`); any other starts a new one.
template <class Iterator, class Joins, class Extend>
std::vector<Match> merge_matches(Iterator begin, Iterator end, Joins joins, Extend extend) {
  std::vector<Match> merged;
  bool previous_match = false;
  for (Iterator it = begin; it != end; ++it) {
    if (!merged.empty() && joins(it->is_match, previous_match))
      extend(merged.back(), *it);
    else
      merged.push_back(*it);
    previous_match = it->is_match;
  }
  return merged;
}
bool same_kind(bool is_match, bool previous_match) { return is_match == previous_match; }
bool delimiter_after_text(bool is_match, bool previous_match) { return is_match && !previous_match; }
void extend_end(Match& merged, const Match& match) { merged.end = match.end; }
void extend_start(Match& merged, const Match& match) { merged.start = match.start; }

// Applies an HF SplitDelimiterBehavior to a list of matches covering [piece.start, piece.end).
void apply_behavior(const std::vector<Match>& matches, SplitBehavior behavior, std::vector<Piece>& out) {
  auto push = [&out](uint32_t start, uint32_t end) {
    if (end > start) out.push_back(Piece{start, end, false});
  };
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Match& match : matches) {
        if (!match.is_match) push(match.start, match.end);
      }
      return;
    case SplitBehavior::kIsolated:
      for (const Match& match : matches) push(match.start, match.end);
      return;
    case SplitBehavior::kContiguous:
      for (const Match& match : merge_matches(matches.begin(), matches.end(), same_kind, extend_end))
        push(match.start, match.end);
      return;
    case SplitBehavior::kMergedWithPrevious:
      for (const Match& match : merge_matches(matches.begin(), matches.end(), delimiter_after_text, extend_end))
        push(match.start, match.end);
      return;
    case SplitBehavior::kMergedWithNext: {
      // Walked backwards, so a delimiter joins the piece after it.
      const std::vector<Match> merged =
          merge_matches(matches.rbegin(), matches.rend(), delimiter_after_text, extend_start);
      for (auto it = merged.rbegin(); it != merged.rend(); ++it) push(it->start, it->end);
      return;
    }
  }
}

// HF's find_matches for a character predicate: every matching character is its own match and the
// runs between them are non-matches.
template <typename Predicate>
void char_matches(const NormalizedText& text, const Piece& piece, Predicate&& is_delimiter, std::vector<Match>& matches) {
  matches.clear();
  uint32_t run_start = piece.start;
  uint32_t pos = piece.start;
  while (pos < piece.end) {
    size_t length;
    char32_t c = decode_utf8_at(text.text, pos, &length);
    if (is_delimiter(c)) {
      if (pos > run_start) matches.push_back(Match{run_start, pos, false});
      matches.push_back(Match{pos, static_cast<uint32_t>(pos + length), true});
      run_start = static_cast<uint32_t>(pos + length);
    }
    pos += static_cast<uint32_t>(length);
  }
  if (piece.end > run_start) matches.push_back(Match{run_start, piece.end, false});
}

class BertPreTokenizer final : public PreTokenizer {
 public:
  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    const std::string& s = text.text;
    for (const Piece& piece : in) {
      uint32_t word_start = piece.start;
      uint32_t pos = piece.start;
      while (pos < piece.end) {
        unsigned char byte = static_cast<unsigned char>(s[pos]);
        size_t length = 1;
        char32_t c = byte < 0x80 ? byte : decode_utf8_at(s, pos, &length);
        bool space = is_whitespace(c);
        if (space || is_bert_punctuation(c)) {
          if (pos > word_start) out.push_back(Piece{word_start, pos, false});
          if (!space) out.push_back(Piece{pos, static_cast<uint32_t>(pos + length), false});
          word_start = static_cast<uint32_t>(pos + length);
        }
        pos += static_cast<uint32_t>(length);
      }
      if (piece.end > word_start) out.push_back(Piece{word_start, piece.end, false});
    }
  }
};

// Rust regex's \w: alphanumeric, marks, connector punctuation.
bool is_word_char(char32_t c) {
  if (c < 0x80) return is_alphanumeric(c) || c == '_';
  if (is_alphanumeric(c)) return true;
  if (is_nonspacing_mark(c)) return true;
  return c == 0x200C || c == 0x200D || (is_unicode_punctuation(c) && (c == 0x203F || c == 0x2040 || c == 0x2054 ||
                                                                      c == 0xFE33 || c == 0xFE34 || c == 0xFE4D ||
                                                                      c == 0xFE4E || c == 0xFE4F || c == 0xFF3F));
}

// Whitespace: the pattern \w+|[^\w\s]+, keeping the matches only.
class WhitespacePreTokenizer final : public PreTokenizer {
 public:
  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    enum class Kind { kSpace, kWord, kOther };
    for (const Piece& piece : in) {
      uint32_t run_start = piece.start;
      Kind run_kind = Kind::kSpace;
      uint32_t pos = piece.start;
      while (pos < piece.end) {
        size_t length;
        char32_t c = decode_utf8_at(text.text, pos, &length);
        Kind kind = is_word_char(c) ? Kind::kWord : is_whitespace(c) ? Kind::kSpace : Kind::kOther;
        if (kind != run_kind) {
          if (run_kind != Kind::kSpace && pos > run_start) out.push_back(Piece{run_start, pos, false});
          run_start = pos;
          run_kind = kind;
        }
        pos += static_cast<uint32_t>(length);
      }
      if (run_kind != Kind::kSpace && piece.end > run_start) out.push_back(Piece{run_start, piece.end, false});
    }
  }
};

class WhitespaceSplitPreTokenizer final : public PreTokenizer {
 public:
  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    std::vector<Match> matches;
    for (const Piece& piece : in) {
      char_matches(text, piece, [](char32_t c) { return is_whitespace(c); }, matches);
      apply_behavior(matches, SplitBehavior::kRemoved, out);
    }
  }
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  bool is_byte_level() const override { return true; }

  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    std::string scratch;
    for (const Piece& piece : in) {
      if (piece.end <= piece.start) continue;
      std::string_view view(text.text.data() + piece.start, piece.end - piece.start);
      bool prefix = piece.prefix_space || (add_prefix_space_ && view.front() != ' ');
      if (!use_regex_) {
        out.push_back(Piece{piece.start, piece.end, prefix});
        continue;
      }
      if (!prefix) {
        split_gpt2_pattern(view, [&](size_t begin, size_t end) {
          out.push_back(Piece{static_cast<uint32_t>(piece.start + begin), static_cast<uint32_t>(piece.start + end), false});
        });
        continue;
      }
      // Split " " + piece; the virtual space belongs to whichever match starts at 0.
      scratch.assign(1, ' ');
      scratch.append(view);
      split_gpt2_pattern(scratch, [&](size_t begin, size_t end) {
        if (begin == 0) {
          out.push_back(Piece{piece.start, static_cast<uint32_t>(piece.start + end - 1), true});
        } else {
          out.push_back(Piece{static_cast<uint32_t>(piece.start + begin - 1),
                              static_cast<uint32_t>(piece.start + end - 1), false});
        }
      });
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::string pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    std::vector<Match> matches;
    for (const Piece& piece : in) {
      matches.clear();
      std::string_view view(text.text.data() + piece.start, piece.end - piece.start);
      uint32_t last = 0;
      if (!pattern_.empty()) {
        size_t pos = 0;
        while ((pos = view.find(pattern_, pos)) != std::string_view::npos) {
          if (pos > last) matches.push_back(Match{piece.start + last, static_cast<uint32_t>(piece.start + pos), false});
          matches.push_back(Match{static_cast<uint32_t>(piece.start + pos),
                                  static_cast<uint32_t>(piece.start + pos + pattern_.size()), true});
          pos += pattern_.size();
          last = static_cast<uint32_t>(pos);
        }
      }
      if (view.size() > last) matches.push_back(Match{piece.start + last, piece.end, false});
      if (invert_) {
        for (Match& match : matches) match.is_match = !match.is_match;
      }
      apply_behavior(matches, behavior_, out);
    }
  }

 private:
  std::string pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// Split with a regex: each piece is searched on its own, as HF runs find_matches per split.
class RegexSplitPreTokenizer final : public PreTokenizer {
 public:
  RegexSplitPreTokenizer(std::shared_ptr<const Regex> regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}

  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    RegexSearcher searcher(*regex_);
    std::vector<ByteRange> found;
    std::vector<Match> matches;
    for (const Piece& piece : in) {
      if (piece.end <= piece.start) continue;
      searcher.find_all(std::string_view(text.text.data() + piece.start, piece.end - piece.start), found);
      matches.clear();
      uint32_t last = 0;
      for (const ByteRange& range : found) {
        if (range.start > last) matches.push_back(Match{piece.start + last, piece.start + range.start, false});
        // Empty matches are kept: under the Merged and Contiguous behaviours they still split.
        matches.push_back(Match{piece.start + range.start, piece.start + range.end, true});
        last = range.end;
      }
      if (piece.end - piece.start > last) matches.push_back(Match{piece.start + last, piece.end, false});
      if (invert_) {
        for (Match& match : matches) match.is_match = !match.is_match;
      }
      apply_behavior(matches, behavior_, out);
    }
  }

 private:
  std::shared_ptr<const Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class PunctuationPreTokenizer final : public PreTokenizer {
 public:
  explicit PunctuationPreTokenizer(SplitBehavior behavior) : behavior_(behavior) {}

  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    std::vector<Match> matches;
    for (const Piece& piece : in) {
      char_matches(text, piece, [](char32_t c) { return is_bert_punctuation(c); }, matches);
      apply_behavior(matches, behavior_, out);
    }
  }

 private:
  SplitBehavior behavior_;
};

class DigitsPreTokenizer final : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual_digits) : individual_digits_(individual_digits) {}

  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    std::vector<Match> matches;
    for (const Piece& piece : in) {
      char_matches(text, piece, [](char32_t c) { return is_number(c); }, matches);
      apply_behavior(matches, individual_digits_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous, out);
    }
  }

 private:
  bool individual_digits_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {
    for (const auto& step : steps_) byte_level_ = byte_level_ || step->is_byte_level();
  }

  bool is_byte_level() const override { return byte_level_; }

  void split(const NormalizedText& text, const std::vector<Piece>& in, std::vector<Piece>& out) const override {
    std::vector<Piece> current = in;
    std::vector<Piece> next;
    for (const auto& step : steps_) {
      next.clear();
      step->split(text, current, next);
      std::swap(current, next);
    }
    out.insert(out.end(), current.begin(), current.end());
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
  bool byte_level_ = false;
};

enum class CharClass { kLetter, kNumber, kSpace, kOther };

CharClass classify(char32_t c) {
  if (is_letter(c)) return CharClass::kLetter;
  if (is_number(c)) return CharClass::kNumber;
  if (is_whitespace(c)) return CharClass::kSpace;
  return CharClass::kOther;
}

}  // namespace

void split_gpt2_pattern(std::string_view text, const std::function<void(size_t, size_t)>& emit) {
  const size_t size = text.size();
  auto class_at = [&](size_t pos, size_t* length) {
    unsigned char byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) {
      *length = 1;
      return classify(byte);
    }
    return classify(decode_utf8_at(text, pos, length));
  };
  // End of the run of characters of class `cls` starting at `pos`.
  auto run_end = [&](size_t pos, CharClass cls) {
    while (pos < size) {
      size_t length;
      if (class_at(pos, &length) != cls) break;
      pos += length;
    }
    return pos;
  };
  size_t pos = 0;
  while (pos < size) {
    // Contractions: 's 't 're 've 'm 'll 'd (lowercase only, like the original pattern).
    if (text[pos] == '\'' && pos + 1 < size) {
      char next = text[pos + 1];
      if (next == 's' || next == 't' || next == 'm' || next == 'd') {
        emit(pos, pos + 2);
        pos += 2;
        continue;
      }
      if (pos + 2 < size) {
        char after = text[pos + 2];
        if ((next == 'r' && after == 'e') || (next == 'v' && after == 'e') || (next == 'l' && after == 'l')) {
          emit(pos, pos + 3);
          pos += 3;
          continue;
        }
      }
    }
    size_t length;
    CharClass cls = class_at(pos, &length);
    // " ?X+" alternatives: an optional single ASCII space then a run of letters/numbers/others.
    size_t body = pos;
    if (text[pos] == ' ' && pos + 1 < size) {
      size_t next_length;
      CharClass next_cls = class_at(pos + 1, &next_length);
      if (next_cls != CharClass::kSpace) {
        body = pos + 1;
        cls = next_cls;
      }
    }
    if (cls != CharClass::kSpace) {
      size_t end = run_end(body, cls);
      emit(pos, end);
      pos = end;
      continue;
    }
    // \s+(?!\S) then \s+: a whitespace run, leaving its last character to the next word.
    size_t end = run_end(pos, CharClass::kSpace);
    if (end < size) {
      size_t last = end - 1;
      while ((static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
      if (last > pos) end = last;
    }
    emit(pos, end);
    pos = end;
  }
}

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() { return std::make_unique<BertPreTokenizer>(); }
std::unique_ptr<PreTokenizer> make_whitespace_pre_tokenizer() { return std::make_unique<WhitespacePreTokenizer>(); }
std::unique_ptr<PreTokenizer> make_whitespace_split_pre_tokenizer() {
  return std::make_unique<WhitespaceSplitPreTokenizer>();
}
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}
std::unique_ptr<PreTokenizer> make_split_pre_tokenizer(std::string pattern, SplitBehavior behavior, bool invert) {
  return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior, invert);
}
std::unique_ptr<PreTokenizer> make_regex_split_pre_tokenizer(std::shared_ptr<const Regex> regex, SplitBehavior behavior,
                                                             bool invert) {
  return std::make_unique<RegexSplitPreTokenizer>(std::move(regex), behavior, invert);
}
std::unique_ptr<PreTokenizer> make_punctuation_pre_tokenizer(SplitBehavior behavior) {
  return std::make_unique<PunctuationPreTokenizer>(behavior);
}
std::unique_ptr<PreTokenizer> make_digits_pre_tokenizer(bool individual_digits) {
  return std::make_unique<DigitsPreTokenizer>(individual_digits);
}
std::unique_ptr<PreTokenizer> make_sequence_pre_tokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) {
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

}  // namespace justnews::tokenizer
