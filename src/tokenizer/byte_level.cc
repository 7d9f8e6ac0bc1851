// GPT-2 byte-to-character table (see byte_level.h).
#include "tokenizer/byte_level.h"

#include "tokenizer/unicode.h"

namespace justnews::tokenizer {

const std::array<char32_t, 256>& byte_level_chars() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> chars{};
    // Printable Latin-1 bytes map to themselves; the rest are shifted to U+0100 onwards.
    char32_t next = 256;
    for (int byte = 0; byte < 256; ++byte) {
      bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
      chars[byte] = printable ? static_cast<char32_t>(byte) : next++;
    }
    return chars;
  }();
  return table;
}

void append_byte_level(std::string_view bytes, std::string& out) {
  const auto& table = byte_level_chars();
  for (char byte : bytes) append_utf8(table[static_cast<unsigned char>(byte)], out);
}

}  // namespace justnews::tokenizer
