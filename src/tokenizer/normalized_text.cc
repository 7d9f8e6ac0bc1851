// NormalizedText and its builder (see normalized_text.h).
#include "tokenizer/normalized_text.h"

#include "tokenizer/unicode.h"

namespace justnews::tokenizer {

void NormalizedText::reset(std::string_view original, uint32_t begin, uint32_t end) {
  text.assign(original.data() + begin, end - begin);
  alignment.resize(end - begin);
  uint32_t pos = begin;
  while (pos < end) {
    uint32_t length = static_cast<uint32_t>(utf8_length_from_lead(static_cast<unsigned char>(original[pos])));
    Span span{pos, pos + length};
    for (uint32_t i = 0; i < length; ++i) alignment[pos - begin + i] = span;
    pos += length;
  }
}

void NormalizedBuilder::push(char32_t code_point, Span alignment) {
  size_t before = out_.text.size();
  append_utf8(code_point, out_.text);
  out_.alignment.insert(out_.alignment.end(), out_.text.size() - before, alignment);
}

void NormalizedBuilder::copy(const NormalizedText& source, size_t begin, size_t end) {
  out_.text.append(source.text, begin, end - begin);
  out_.alignment.insert(out_.alignment.end(), source.alignment.begin() + begin, source.alignment.begin() + end);
}

}  // namespace justnews::tokenizer
