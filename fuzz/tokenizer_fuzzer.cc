// libFuzzer target: arbitrary bytes through the tokenizer fixtures (MiniLM WordPiece, the
// byte-level BPE and the regex byte-level BPE whose normaliser and pre-tokenizer run ICU regexes),
// single texts and pairs, with and without special tokens and truncation. The bytes are also
// compiled as a regex pattern: a bad pattern must be an error, never a crash.
// Invalid UTF-8 must come back as an error, never a crash or an out-of-bounds read. Run from the
// repository root so the fixture paths resolve.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace {

using justnews::tokenizer::Tokenizer;

Tokenizer load(const char* path, int max_length) {
  auto tokenizer = Tokenizer::from_file(path);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.status().to_string().c_str());
    std::abort();
  }
  tokenizer->set_truncation(max_length);
  return std::move(tokenizer).value();
}

void check(const justnews::Result<justnews::tokenizer::Encoding>& result, size_t max_chars) {
  if (!result.ok()) return;
  const auto& encoding = *result;
  if (encoding.type_ids.size() != encoding.ids.size() || encoding.offsets.size() != encoding.ids.size() ||
      encoding.attention_mask.size() != encoding.ids.size()) {
    std::abort();
  }
  for (const auto& [start, end] : encoding.offsets) {
    if (start < 0 || end < start || static_cast<size_t>(end) > max_chars) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer wordpiece = load("tests/fixtures/tokenizers/minilm_wordpiece/tokenizer.json", 0);
  static const Tokenizer bpe = load("tests/fixtures/tokenizers/roberta_bpe/tokenizer.json", 0);
  static const Tokenizer truncated = load("tests/fixtures/tokenizers/roberta_bpe/tokenizer.json", 16);
  static const Tokenizer regex_bpe = load("tests/fixtures/tokenizers/regex_bpe/tokenizer.json", 0);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Offsets are in characters, so never more than the byte count.
  for (const Tokenizer* tokenizer : {&wordpiece, &bpe, &truncated, &regex_bpe}) {
    check(tokenizer->encode(text), size);
    check(tokenizer->encode(text, false), size);
    size_t half = size / 2;
    check(tokenizer->encode_pair(text.substr(0, half), text.substr(half)), size);
  }
  // Compile only: matching an arbitrary pattern can backtrack exponentially, which is a property of
  // the tokenizer.json author's pattern, not of our code.
  (void)justnews::tokenizer::Regex::compile(text.substr(0, 256), "fuzz");
  return 0;
}
