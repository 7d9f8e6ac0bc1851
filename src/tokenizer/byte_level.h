// The GPT-2 byte-to-character table ByteLevel uses to make every byte a printable character.
#pragma once

#include <array>
#include <string>

namespace justnews::tokenizer {

// byte_level_chars()[b] is the code point that stands for byte b.
const std::array<char32_t, 256>& byte_level_chars();

// Appends the byte-level encoding of `bytes` (one character per byte) to `out`.
void append_byte_level(std::string_view bytes, std::string& out);

}  // namespace justnews::tokenizer
