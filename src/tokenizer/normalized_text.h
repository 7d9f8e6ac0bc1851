// NormalizedText: a normalised UTF-8 string that remembers, for every byte, which byte range of
// the original input it came from. This is Hugging Face's NormalizedString alignment model, and
// it is what lets every token report offsets into the caller's text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace justnews::tokenizer {

// A half-open byte range [start, end).
struct Span {
  uint32_t start = 0;
  uint32_t end = 0;
};

struct NormalizedText {
  std::string text;
  // alignment[i] is the original byte range of the character that produced text byte i.
  std::vector<Span> alignment;

  // Resets to `original[begin, end)` unchanged; alignments are absolute offsets in `original`.
  void reset(std::string_view original, uint32_t begin, uint32_t end);
  size_t size() const { return text.size(); }
};

// Builds a new NormalizedText character by character. Hugging Face's rules: a character that
// replaces an input character takes that character's alignment; a character inserted after it
// takes the same alignment; a dropped character disappears with its alignment.
class NormalizedBuilder {
 public:
  explicit NormalizedBuilder(NormalizedText& out) : out_(out) {
    out_.text.clear();
    out_.alignment.clear();
  }
  void push(char32_t code_point, Span alignment);
  // Copies bytes [begin, end) of `source` unchanged (text and alignment).
  void copy(const NormalizedText& source, size_t begin, size_t end);

 private:
  NormalizedText& out_;
};

}  // namespace justnews::tokenizer
