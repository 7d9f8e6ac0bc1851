// Unicode helpers for the tokenizer: UTF-8 decoding with validation, and the character classes
// Hugging Face tokenizers uses (Rust's char::is_whitespace, BERT's punctuation/control/CJK rules,
// Rust's char::to_lowercase), backed by utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace justnews::tokenizer {

// Decodes the code point starting at text[pos] (which must be a valid UTF-8 sequence, e.g. after
// validate_utf8) and stores its byte length in *length_bytes.
inline char32_t decode_utf8_at(std::string_view text, size_t pos, size_t* length_bytes) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  unsigned char lead = bytes[0];
  if (lead < 0x80) {
    *length_bytes = 1;
    return lead;
  }
  if (lead < 0xE0) {
    *length_bytes = 2;
    return (char32_t(lead & 0x1F) << 6) | (bytes[1] & 0x3F);
  }
  if (lead < 0xF0) {
    *length_bytes = 3;
    return (char32_t(lead & 0x0F) << 12) | (char32_t(bytes[1] & 0x3F) << 6) | (bytes[2] & 0x3F);
  }
  *length_bytes = 4;
  return (char32_t(lead & 0x07) << 18) | (char32_t(bytes[1] & 0x3F) << 12) |
         (char32_t(bytes[2] & 0x3F) << 6) | (bytes[3] & 0x3F);
}

inline size_t utf8_length_from_lead(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Appends the UTF-8 encoding of `code_point` to `out`.
void append_utf8(char32_t code_point, std::string& out);

// OK when `text` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF);
// otherwise an InvalidArgument naming the byte offset of the first bad sequence.
Status validate_utf8(std::string_view text);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(char32_t c);
// Rust's char::is_alphanumeric (Alphabetic or Numeric general categories).
bool is_alphanumeric(char32_t c);
// Unicode general category L* (letters).
bool is_letter(char32_t c);
// Unicode general category N* (numbers).
bool is_number(char32_t c);
// ASCII punctuation or Unicode general category P* (BERT's definition).
bool is_bert_punctuation(char32_t c);
// Unicode general category P* only.
bool is_unicode_punctuation(char32_t c);
// Unicode general category C* (Cc, Cf, Cs, Co, Cn).
bool is_other(char32_t c);
// Unicode general category Mn (nonspacing marks), which StripAccents removes.
bool is_nonspacing_mark(char32_t c);
// The CJK ideograph blocks BERT surrounds with spaces.
bool is_chinese_char(char32_t c);

// Appends Rust's char::to_lowercase(c) (simple lowercase plus U+0130 → "i\u0307") as code points.
// Returns the number of code points appended (1 or 2).
int lowercase_code_points(char32_t c, char32_t out[2]);

// Canonical combining class (0 for starters).
int combining_class(char32_t c);

}  // namespace justnews::tokenizer
