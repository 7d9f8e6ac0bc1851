// Test support: fixture model directories with generated tokenizers, temp dirs, corpus access.
#include "test_models.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace justnews::testing {
namespace fs = std::filesystem;

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = (fs::temp_directory_path() /
           ("jn_runtime_" + tag + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++)))
              .string();
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

namespace {

// 99 tokens: 5 specials, letters, ##letters, digits, punctuation and frequent news words.
nlohmann::json tiny_vocab() {
  std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char letter = 'a'; letter <= 'z'; ++letter) tokens.push_back(std::string(1, letter));
  for (char letter = 'a'; letter <= 'z'; ++letter) tokens.push_back("##" + std::string(1, letter));
  for (char digit = '0'; digit <= '9'; ++digit) tokens.push_back(std::string(1, digit));
  for (const char* punct : {".", ",", "'", "\"", "-", "(", ")", ":", ";", "!", "?", "$", "%", "&", "/"}) {
    tokens.push_back(punct);
  }
  for (const char* word : {"the", "of", "and", "to", "in", "said", "for", "on", "it", "is", "at", "by", "mln",
                           "dlrs", "pct", "year", "with"}) {
    tokens.push_back(word);
  }
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t id = 0; id < tokens.size(); ++id) vocab[tokens[id]] = id;
  EXPECT_EQ(tokens.size(), 99u);
  return vocab;
}

nlohmann::json tiny_tokenizer_json() {
  auto special = [](int id, const char* content) {
    return nlohmann::json{{"id", id},          {"special", true}, {"content", content}, {"single_word", false},
                          {"lstrip", false},   {"rstrip", false}, {"normalized", false}};
  };
  auto template_token = [](const char* kind, const char* id) {
    return nlohmann::json{{kind, {{"id", id}, {"type_id", 0}}}};
  };
  nlohmann::json tokenizer;
  tokenizer["version"] = "1.0";
  tokenizer["truncation"] = nullptr;
  tokenizer["padding"] = nullptr;
  tokenizer["added_tokens"] = {special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]"),
                               special(4, "[MASK]")};
  tokenizer["normalizer"] = {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                             {"strip_accents", nullptr}, {"lowercase", true}};
  tokenizer["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  tokenizer["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {template_token("SpecialToken", "[CLS]"), template_token("Sequence", "A"),
                  template_token("SpecialToken", "[SEP]")}},
      {"pair", {template_token("SpecialToken", "[CLS]"), template_token("Sequence", "A"),
                template_token("SpecialToken", "[SEP]"), template_token("Sequence", "B"),
                template_token("SpecialToken", "[SEP]")}},
      {"special_tokens",
       {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
        {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}}}};
  tokenizer["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}};
  tokenizer["model"] = {{"type", "WordPiece"},
                        {"unk_token", "[UNK]"},
                        {"continuing_subword_prefix", "##"},
                        {"max_input_chars_per_word", 100},
                        {"vocab", tiny_vocab()}};
  return tokenizer;
}

}  // namespace

std::string make_fixture_model_dir(const std::string& fixture, const std::string& dir) {
  const fs::path source = fs::path(JUSTNEWS_SOURCE_DIR) / "tests" / "fixtures" / fixture;
  const fs::path target = fs::path(dir) / fixture;
  fs::create_directories(target);
  for (const char* name : {"config.json", "model.safetensors"}) {
    fs::copy_file(source / name, target / name, fs::copy_options::overwrite_existing);
  }
  write_text_file((target / "tokenizer.json").string(), tiny_tokenizer_json().dump(1));
  return target.string();
}

std::string corpus_path(const std::string& name) {
  const fs::path path = fs::path(JUSTNEWS_SOURCE_DIR) / ".." / "shared" / "data" / "news" / name;
  return fs::exists(path) ? path.string() : "";
}

std::vector<std::string> read_corpus_lines(const std::string& name, size_t count) {
  std::vector<std::string> lines;
  const std::string path = corpus_path(name);
  if (path.empty()) return lines;
  std::ifstream in(path);
  std::string line;
  while (lines.size() < count && std::getline(in, line)) lines.push_back(line);
  return lines;
}

AgentConfig cpu_agent_config(const std::string& name, const std::string& model_dir,
                             const std::string& task) {
  AgentConfig config;
  config.name = name;
  config.model_dir = model_dir;
  config.task = task;
  config.device = "cpu";
  config.memory_budget_bytes = 64 << 20;
  return config;
}

}  // namespace justnews::testing
