// TextInput implementation (nlohmann::json for JSONL lines).
#include "text_input.h"

#include <nlohmann/json.hpp>

namespace justnews::cli {

Result<TextInput> TextInput::open(const std::string& path, const std::string& text_field) {
  if (path.empty() || path == "-") return TextInput(stdin, false, "<stdin>", text_field);
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return not_found("input file '" + path + "' cannot be opened");
  return TextInput(file, true, path, text_field);
}

TextInput::TextInput(std::FILE* file, bool owns_file, std::string name, std::string text_field)
    : file_(file), owns_file_(owns_file), name_(std::move(name)), text_field_(std::move(text_field)) {}

TextInput::TextInput(TextInput&& other) noexcept
    : file_(other.file_), owns_file_(other.owns_file_), name_(std::move(other.name_)),
      text_field_(std::move(other.text_field_)), line_number_(other.line_number_) {
  other.file_ = nullptr;
  other.owns_file_ = false;
}

TextInput::~TextInput() {
  if (owns_file_ && file_) std::fclose(file_);
}

std::optional<Result<TextRecord>> TextInput::next() {
  std::string line;
  for (;;) {
    line.clear();
    int ch;
    bool read_any = false;
    while ((ch = std::fgetc(file_)) != EOF) {
      read_any = true;
      if (ch == '\n') break;
      line.push_back(static_cast<char>(ch));
    }
    if (!read_any) return std::nullopt;
    ++line_number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) break;  // skip blank lines
  }
  TextRecord record;
  record.line_number = line_number_;
  const std::string where = name_ + ":" + std::to_string(line_number_);
  if (line.front() != '{') {
    record.text = std::move(line);
    return Result<TextRecord>(std::move(record));
  }
  nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object())
    return Result<TextRecord>(invalid_argument(where + ": line starts with '{' but is not a JSON object"));
  if (auto id = object.find("id"); id != object.end())
    record.id = id->is_string() ? id->get<std::string>() : id->dump();
  auto string_field = [&](const std::string& key) -> std::optional<std::string> {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (auto text = string_field(text_field_)) {
    record.text = *text;
  } else if (text_field_ == "text" && (string_field("title") || string_field("body"))) {
    const std::string title = string_field("title").value_or("");
    const std::string body = string_field("body").value_or("");
    record.text = title.empty() ? body : (body.empty() ? title : title + "\n" + body);
  } else {
    return Result<TextRecord>(invalid_argument(where + ": JSON object has no string field '" +
                                               text_field_ + "'"));
  }
  return Result<TextRecord>(std::move(record));
}

}  // namespace justnews::cli
