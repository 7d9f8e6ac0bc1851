// Unicode character classes and UTF-8 validation backed by utf8proc (see unicode.h).
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace justnews::tokenizer {

void append_utf8(char32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

Status validate_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  size_t pos = 0;
  while (pos < size) {
    // Fast path: 8 ASCII bytes at a time.
    while (pos + 8 <= size) {
      uint64_t word;
      std::memcpy(&word, bytes + pos, 8);
      if (word & 0x8080808080808080ULL) break;
      pos += 8;
    }
    if (pos >= size) break;
    unsigned char lead = bytes[pos];
    if (lead < 0x80) {
      ++pos;
      continue;
    }
    size_t length = 0;
    char32_t min_code_point = 0;
    char32_t code_point = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2, min_code_point = 0x80, code_point = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3, min_code_point = 0x800, code_point = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4, min_code_point = 0x10000, code_point = lead & 0x07;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", lead);
      return invalid_argument(std::string("invalid UTF-8: byte ") + hex + " at byte offset " + std::to_string(pos) +
                              " cannot start a character");
    }
    if (pos + length > size) {
      return invalid_argument("invalid UTF-8: truncated " + std::to_string(length) +
                              "-byte sequence at byte offset " + std::to_string(pos));
    }
    for (size_t i = 1; i < length; ++i) {
      unsigned char continuation = bytes[pos + i];
      if ((continuation & 0xC0) != 0x80) {
        return invalid_argument("invalid UTF-8: expected a continuation byte at byte offset " +
                                std::to_string(pos + i) + " (sequence starts at " + std::to_string(pos) + ")");
      }
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    if (code_point < min_code_point || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return invalid_argument("invalid UTF-8: overlong, surrogate or out-of-range sequence at byte offset " +
                              std::to_string(pos));
    }
    pos += length;
  }
  return ok_status();
}

namespace {
utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }
}  // namespace

bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
}

bool is_alphanumeric(char32_t c) {
  if (c < 0x80) return is_letter(c) || is_number(c);
  // Rust's Alphabetic property also covers marks such as U+0345 and letter numbers; the general
  // categories L* and N* are the close approximation utf8proc offers.
  return is_letter(c) || is_number(c);
}

bool is_unicode_punctuation(char32_t c) {
  auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_bert_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) {
    return true;
  }
  if (c < 0x80) return false;
  return is_unicode_punctuation(c);
}

bool is_other(char32_t c) {
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_CN || (cat >= UTF8PROC_CATEGORY_CC && cat <= UTF8PROC_CATEGORY_CO);
}

bool is_nonspacing_mark(char32_t c) { return c >= 0x300 && category(c) == UTF8PROC_CATEGORY_MN; }

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int lowercase_code_points(char32_t c, char32_t out[2]) {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  // The one unconditional multi-character lowercase mapping in SpecialCasing.txt.
  if (c == 0x130) {
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  out[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
  return 1;
}

int combining_class(char32_t c) {
  if (c < 0x300) return 0;
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

}  // namespace justnews::tokenizer
