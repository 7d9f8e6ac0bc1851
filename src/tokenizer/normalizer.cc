// Normaliser implementations (see normalizer.h). Each walks the text once, character by
// character, and emits replacement characters with the alignment of the character they replace.
#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <utility>

#include "tokenizer/unicode.h"

namespace justnews::tokenizer {
namespace {

// Calls fn(code_point, alignment) for every character of `text`.
template <typename Fn>
void for_each_char(const NormalizedText& text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.text.size()) {
    size_t length;
    char32_t c = decode_utf8_at(text.text, pos, &length);
    fn(c, text.alignment[pos]);
    pos += length;
  }
}

// Canonical (or compatibility) decomposition of one code point; returns the count written.
int decompose(char32_t c, bool compat, char32_t* out, int capacity) {
  int options = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
  int last_boundclass = 0;
  utf8proc_ssize_t count = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c),
                                                   reinterpret_cast<utf8proc_int32_t*>(out), capacity,
                                                   static_cast<utf8proc_option_t>(options), &last_boundclass);
  if (count < 0 || count > capacity) {
    out[0] = c;
    return 1;
  }
  return static_cast<int>(count);
}

// BERT control characters: Unicode "other" categories except tab, newline and carriage return.
bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c < 0x20 || c == 0x7F) return true;
  if (c < 0x80) return false;
  return is_other(c);
}

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerOptions& options)
      : options_(options), strip_accents_(options.strip_accents.value_or(options.lowercase)) {}

  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    NormalizedBuilder builder(scratch);
    scratch.text.reserve(text.size() + 16);
    scratch.alignment.reserve(text.size() + 16);
    const std::string& in = text.text;
    size_t pos = 0;
    while (pos < in.size()) {
      unsigned char byte = static_cast<unsigned char>(in[pos]);
      if (byte < 0x80) {
        // ASCII fast path: no CJK, no accents, simple lowercase, one byte in one byte out.
        char32_t c = byte;
        if (options_.clean_text) {
          if (c == 0 || is_bert_control(c)) {
            ++pos;
            continue;
          }
          if (c == '\t' || c == '\n' || c == '\r' || is_whitespace(c)) c = ' ';
        }
        if (options_.lowercase && c >= 'A' && c <= 'Z') c += 32;
        scratch.text.push_back(static_cast<char>(c));
        scratch.alignment.push_back(text.alignment[pos]);
        ++pos;
        continue;
      }
      size_t length;
      char32_t c = decode_utf8_at(in, pos, &length);
      Span alignment = text.alignment[pos];
      pos += length;
      if (options_.clean_text) {
        if (c == 0xFFFD || is_bert_control(c)) continue;
        if (is_whitespace(c)) c = ' ';
      }
      if (options_.handle_chinese_chars && is_chinese_char(c)) {
        builder.push(' ', alignment);
        emit(c, alignment, builder);
        builder.push(' ', alignment);
        continue;
      }
      emit(c, alignment, builder);
    }
    std::swap(text, scratch);
  }

 private:
  // Strip accents (NFD, drop Mn) then lowercase, as BertNormalizer does in that order.
  void emit(char32_t c, Span alignment, NormalizedBuilder& builder) const {
    char32_t decomposed[32];
    int count = 1;
    decomposed[0] = c;
    if (strip_accents_) count = decompose(c, false, decomposed, 32);
    for (int i = 0; i < count; ++i) {
      char32_t d = decomposed[i];
      if (strip_accents_ && is_nonspacing_mark(d)) continue;
      if (options_.lowercase) {
        char32_t lowered[2];
        int lowered_count = lowercase_code_points(d, lowered);
        for (int j = 0; j < lowered_count; ++j) builder.push(lowered[j], alignment);
      } else {
        builder.push(d, alignment);
      }
    }
  }

  BertNormalizerOptions options_;
  bool strip_accents_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm form) : form_(form) {}

  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    const bool compat = form_ == UnicodeForm::kNfkc || form_ == UnicodeForm::kNfkd;
    const bool compose = form_ == UnicodeForm::kNfc || form_ == UnicodeForm::kNfkc;
    NormalizedBuilder builder(scratch);
    // One combining sequence at a time: decomposed code points and their alignments.
    std::vector<std::pair<char32_t, Span>> sequence;
    std::vector<char32_t> buffer;
    std::vector<Span> input_alignments;
    auto flush = [&]() {
      if (sequence.empty()) return;
      // Canonical ordering: stable sort of each run of non-starters by combining class.
      size_t run_start = 0;
      for (size_t i = 0; i <= sequence.size(); ++i) {
        if (i == sequence.size() || combining_class(sequence[i].first) == 0) {
          if (i > run_start + 1) {
            std::stable_sort(sequence.begin() + run_start, sequence.begin() + i, [](const auto& a, const auto& b) {
              return combining_class(a.first) < combining_class(b.first);
            });
          }
          run_start = i + 1;
        }
      }
      if (!compose) {
        for (const auto& [c, alignment] : sequence) builder.push(c, alignment);
      } else {
        buffer.clear();
        for (const auto& entry : sequence) buffer.push_back(entry.first);
        auto* data = reinterpret_cast<utf8proc_int32_t*>(buffer.data());
        utf8proc_ssize_t count = utf8proc_reencode(data, static_cast<utf8proc_ssize_t>(buffer.size()),
                                                   UTF8PROC_COMPOSE);
        if (count < 0) {
          for (const auto& [c, alignment] : sequence) builder.push(c, alignment);
        } else {
          // utf8proc_reencode leaves UTF-8 in the buffer's bytes; decode it back.
          std::string_view composed(reinterpret_cast<const char*>(data), static_cast<size_t>(count));
          size_t pos = 0;
          size_t index = 0;
          while (pos < composed.size()) {
            size_t length;
            char32_t c = decode_utf8_at(composed, pos, &length);
            builder.push(c, input_alignments[std::min(index, input_alignments.size() - 1)]);
            pos += length;
            ++index;
          }
        }
      }
      sequence.clear();
      input_alignments.clear();
    };
    for_each_char(text, [&](char32_t c, Span alignment) {
      char32_t decomposed[32];
      int count = decompose(c, compat, decomposed, 32);
      if (combining_class(decomposed[0]) == 0) flush();
      for (int i = 0; i < count; ++i) sequence.emplace_back(decomposed[i], alignment);
      input_alignments.push_back(alignment);
    });
    flush();
    std::swap(text, scratch);
  }

 private:
  UnicodeForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    NormalizedBuilder builder(scratch);
    for_each_char(text, [&](char32_t c, Span alignment) {
      char32_t lowered[2];
      int count = lowercase_code_points(c, lowered);
      for (int i = 0; i < count; ++i) builder.push(lowered[i], alignment);
    });
    std::swap(text, scratch);
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}

  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    size_t begin = 0;
    size_t end = text.size();
    if (left_) {
      while (begin < end) {
        size_t length;
        if (!is_whitespace(decode_utf8_at(text.text, begin, &length))) break;
        begin += length;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text.text[start]) & 0xC0) == 0x80) --start;
        size_t length;
        if (!is_whitespace(decode_utf8_at(text.text, start, &length))) break;
        end = start;
      }
    }
    NormalizedBuilder builder(scratch);
    builder.copy(text, begin, end);
    std::swap(text, scratch);
  }

 private:
  bool left_;
  bool right_;
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    NormalizedBuilder builder(scratch);
    for_each_char(text, [&](char32_t c, Span alignment) {
      if (!is_nonspacing_mark(c)) builder.push(c, alignment);
    });
    std::swap(text, scratch);
  }
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::string pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}

  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    if (pattern_.empty()) return;
    NormalizedBuilder builder(scratch);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t match = text.text.find(pattern_, pos);
      if (match == std::string::npos) break;
      builder.copy(text, pos, match);
      // Inserted characters take the alignment of the last replaced character (HF's rule).
      Span alignment = text.alignment[match + pattern_.size() - 1];
      size_t content_pos = 0;
      while (content_pos < content_.size()) {
        size_t length;
        builder.push(decode_utf8_at(content_, content_pos, &length), alignment);
        content_pos += length;
      }
      pos = match + pattern_.size();
    }
    builder.copy(text, pos, text.size());
    std::swap(text, scratch);
  }

 private:
  std::string pattern_;
  std::string content_;
};

class RegexReplaceNormalizer final : public Normalizer {
 public:
  RegexReplaceNormalizer(std::shared_ptr<const Regex> regex, std::string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}

  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    RegexSearcher searcher(*regex_);
    std::vector<ByteRange> matches;
    searcher.find_all(text.text, matches);
    if (matches.empty()) return;
    NormalizedBuilder builder(scratch);
    size_t pos = 0;
    for (const ByteRange& match : matches) {
      builder.copy(text, pos, match.start);
      // HF's transform_range: inserted characters take the alignment of the character before the
      // insertion point, i.e. the last replaced one; an empty match at 0 gets an empty span.
      Span alignment = match.end > 0 ? text.alignment[match.end - 1]
                                     : Span{text.alignment[0].start, text.alignment[0].start};
      size_t content_pos = 0;
      while (content_pos < content_.size()) {
        size_t length;
        builder.push(decode_utf8_at(content_, content_pos, &length), alignment);
        content_pos += length;
      }
      pos = match.end;
    }
    builder.copy(text, pos, text.size());
    std::swap(text, scratch);
  }

 private:
  std::shared_ptr<const Regex> regex_;
  std::string content_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}

  void normalize(NormalizedText& text, NormalizedText& scratch) const override {
    for (const auto& step : steps_) step->normalize(text, scratch);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& options) {
  return std::make_unique<BertNormalizer>(options);
}
std::unique_ptr<Normalizer> make_unicode_normalizer(UnicodeForm form) {
  return std::make_unique<UnicodeNormalizer>(form);
}
std::unique_ptr<Normalizer> make_lowercase_normalizer() { return std::make_unique<LowercaseNormalizer>(); }
std::unique_ptr<Normalizer> make_strip_normalizer(bool strip_left, bool strip_right) {
  return std::make_unique<StripNormalizer>(strip_left, strip_right);
}
std::unique_ptr<Normalizer> make_strip_accents_normalizer() { return std::make_unique<StripAccentsNormalizer>(); }
std::unique_ptr<Normalizer> make_replace_normalizer(std::string pattern, std::string content) {
  return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
}
std::unique_ptr<Normalizer> make_regex_replace_normalizer(std::shared_ptr<const Regex> regex, std::string content) {
  return std::make_unique<RegexReplaceNormalizer>(std::move(regex), std::move(content));
}
std::unique_ptr<Normalizer> make_sequence_normalizer(std::vector<std::unique_ptr<Normalizer>> steps) {
  return std::make_unique<SequenceNormalizer>(std::move(steps));
}

}  // namespace justnews::tokenizer
