// Test support for runtime tests: model directories built from the random-weight fixtures plus a
// generated 99-token WordPiece tokenizer.json (the fixtures ship without tokenizers), temporary
// directories, JSONL inputs made from the shared news corpus, and CPU agent configs.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace justnews::testing {

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Copies tests/fixtures/<fixture> (config + safetensors) into `dir`/<fixture> and adds a
// tokenizer.json whose vocabulary fits the fixture's 99 ids. Returns the new model directory.
std::string make_fixture_model_dir(const std::string& fixture, const std::string& dir);

// The shared corpus file (../shared/data/news/<name>, relative to the repo root), or "" if absent.
std::string corpus_path(const std::string& name);

// Reads up to `count` JSON lines of a corpus file.
std::vector<std::string> read_corpus_lines(const std::string& name, size_t count);

void write_text_file(const std::string& path, const std::string& text);

// A CPU agent on `model_dir` with a 64 MiB budget (enough for the fixtures).
AgentConfig cpu_agent_config(const std::string& name, const std::string& model_dir,
                             const std::string& task);

}  // namespace justnews::testing
