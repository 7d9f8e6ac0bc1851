// TextInput: reads the texts that embed / classify work on, from a file or stdin. Each line is
// either plain text or a JSON object; for JSON the text is taken from a chosen field (default
// "text", else "title" + "body"). Bad lines are reported with their line number, never dropped
// silently.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "core/status.h"

namespace justnews::cli {

struct TextRecord {
  int64_t line_number = 0;
  std::string id;    // the JSON "id" field when present
  std::string text;
};

class TextInput {
 public:
  // path "-" or "" reads stdin.
  static Result<TextInput> open(const std::string& path, const std::string& text_field);
  TextInput(TextInput&& other) noexcept;
  ~TextInput();

  // Next record; std::nullopt at end of input. A malformed line yields an error Status that names
  // the line; the caller reports it and calls next() again.
  std::optional<Result<TextRecord>> next();

 private:
  TextInput(std::FILE* file, bool owns_file, std::string name, std::string text_field);

  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  std::string name_;
  std::string text_field_;
  int64_t line_number_ = 0;
};

}  // namespace justnews::cli
