// Where the tokenizer tests find their inputs: fixtures in the repo, the MiniLM model directory
// and the reference dumps (overridable by environment variables for other checkouts).
#pragma once

#include <cstdlib>
#include <string>

namespace justnews::tokenizer::testing {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

// tokenizer.json + vocab.txt of sentence-transformers/all-MiniLM-L6-v2 (copied from the model).
inline std::string minilm_dir() { return env_or("JUSTNEWS_MINILM_DIR", "tests/fixtures/tokenizers/minilm_wordpiece"); }
inline std::string roberta_bpe_json() { return "tests/fixtures/tokenizers/roberta_bpe/tokenizer.json"; }
// Byte-level BPE whose normaliser and pre-tokenizer are {"Regex": ...} patterns.
inline std::string regex_bpe_json() { return "tests/fixtures/tokenizers/regex_bpe/tokenizer.json"; }
inline std::string reference_dir() { return env_or("JUSTNEWS_TOKENIZER_REFERENCE_DIR", "build/tokenizer_reference"); }
inline bool allow_missing_reference() {
  const char* value = std::getenv("JUSTNEWS_ALLOW_MISSING_REFERENCE");
  return value && std::string(value) == "1";
}

}  // namespace justnews::tokenizer::testing
