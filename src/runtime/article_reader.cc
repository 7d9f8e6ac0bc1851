// ArticleReader: JSONL through nlohmann::json, CSV by a small RFC 4180 state machine.
#include "runtime/article_reader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace justnews {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads one JSON field as a string: strings as they are, numbers as their text, null as empty.
Result<std::string> json_field(const nlohmann::json& object, const std::string& field) {
  auto found = object.find(field);
  if (found == object.end() || found->is_null()) return std::string();
  if (found->is_string()) return found->get<std::string>();
  if (found->is_number()) return found->dump();
  return invalid_argument("field '" + field + "' must be a string, found " + found->type_name());
}

}  // namespace

ArticleReader::ArticleReader(std::FILE* file, bool owns_file, std::string name, InputConfig fields,
                             InputFormat format)
    : file_(file), owns_file_(owns_file), name_(std::move(name)), fields_(std::move(fields)), format_(format) {}

ArticleReader::ArticleReader(ArticleReader&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)),
      owns_file_(std::exchange(other.owns_file_, false)),
      name_(std::move(other.name_)),
      fields_(std::move(other.fields_)),
      format_(other.format_),
      line_number_(other.line_number_),
      header_read_(other.header_read_),
      csv_columns_(std::move(other.csv_columns_)) {}

ArticleReader::~ArticleReader() {
  if (owns_file_ && file_) std::fclose(file_);
}

Result<ArticleReader> ArticleReader::open(const std::string& path, const InputConfig& fields,
                                          const std::string& format) {
  InputFormat input_format = InputFormat::kJsonl;
  if (format == "csv" || (format.empty() && ends_with(path, ".csv"))) {
    input_format = InputFormat::kCsv;
  } else if (!format.empty() && format != "jsonl") {
    return invalid_argument("input format must be jsonl or csv, got '" + format + "'");
  }
  if (path.empty() || path == "-") return ArticleReader(stdin, false, "<stdin>", fields, input_format);
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return not_found("input '" + path + "' cannot be opened: " + std::strerror(errno));
  return ArticleReader(file, true, path, fields, input_format);
}

bool ArticleReader::read_line(std::string* line) {
  line->clear();
  int ch;
  bool any = false;
  // Unlocked: one thread reads the file, and the lock of a plain fgetc per byte cost more than the
  // JSON parse of the line in profiles of `justnews analyze`.
  while ((ch = getc_unlocked(file_)) != EOF) {
    any = true;
    if (ch == '\n') break;
    line->push_back(static_cast<char>(ch));
  }
  if (!any) return false;
  if (!line->empty() && line->back() == '\r') line->pop_back();
  ++line_number_;
  return true;
}

std::optional<Result<Article>> ArticleReader::next() {
  return format_ == InputFormat::kJsonl ? next_jsonl() : next_csv();
}

std::optional<Result<Article>> ArticleReader::next_jsonl() {
  std::string line;
  for (;;) {
    if (!read_line(&line)) return std::nullopt;
    if (line.find_first_not_of(" \t") != std::string::npos) break;  // blank lines are not articles
  }
  const std::string where = name_ + ":" + std::to_string(line_number_);
  nlohmann::json object = nlohmann::json::parse(line, nullptr, false);
  if (object.is_discarded()) return Result<Article>(invalid_argument(where + ": not valid JSON"));
  if (!object.is_object()) return Result<Article>(invalid_argument(where + ": expected a JSON object"));
  Article article;
  article.line_number = line_number_;
  const std::pair<const std::string*, std::string*> mapping[] = {
      {&fields_.id_field, &article.id},     {&fields_.title_field, &article.title},
      {&fields_.body_field, &article.body}, {&fields_.url_field, &article.url},
      {&fields_.published_field, &article.published}};
  for (const auto& [field, target] : mapping) {
    auto value = json_field(object, *field);
    if (!value.ok()) return Result<Article>(invalid_argument(where + ": " + value.status().message()));
    *target = std::move(value).value();
  }
  if (article.title.empty() && article.body.empty()) {
    return Result<Article>(invalid_argument(where + ": neither '" + fields_.title_field + "' nor '" +
                                            fields_.body_field + "' holds any text"));
  }
  return Result<Article>(std::move(article));
}

namespace {

// Parses one CSV record starting with `line`, pulling further lines while a quote is open.
// Returns false (with `error`) for a stray quote or end of input inside quotes.
template <typename ReadLine>
bool parse_csv_record(std::string line, ReadLine read_more, std::vector<std::string>* fields,
                      std::string* error) {
  fields->clear();
  std::string field;
  bool in_quotes = false;
  bool was_quoted = false;
  size_t pos = 0;
  for (;;) {
    if (pos == line.size()) {
      if (!in_quotes) break;
      std::string more;
      if (!read_more(&more)) {
        *error = "a quoted field is not closed before the end of the input";
        return false;
      }
      field.push_back('\n');
      line = std::move(more);
      pos = 0;
      continue;
    }
    const char ch = line[pos++];
    if (in_quotes) {
      if (ch != '"') {
        field.push_back(ch);
      } else if (pos < line.size() && line[pos] == '"') {
        field.push_back('"');
        ++pos;
      } else {
        in_quotes = false;
      }
    } else if (ch == ',') {
      fields->push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (ch == '"') {
      if (!field.empty() || was_quoted) {
        *error = "a quote inside an unquoted field (column " + std::to_string(fields->size() + 1) + ")";
        return false;
      }
      in_quotes = true;
      was_quoted = true;
    } else {
      if (was_quoted) {
        *error = "text after a closing quote (column " + std::to_string(fields->size() + 1) + ")";
        return false;
      }
      field.push_back(ch);
    }
  }
  fields->push_back(std::move(field));
  return true;
}

}  // namespace

Status ArticleReader::read_csv_header() {
  header_read_ = true;
  std::string line;
  if (!read_line(&line)) return invalid_argument(name_ + ": the CSV input is empty (a header row is required)");
  std::string error;
  if (!parse_csv_record(line, [this](std::string* more) { return read_line(more); }, &csv_columns_, &error)) {
    return invalid_argument(name_ + ":1: bad CSV header: " + error);
  }
  const bool has_text = std::find(csv_columns_.begin(), csv_columns_.end(), fields_.title_field) != csv_columns_.end() ||
                        std::find(csv_columns_.begin(), csv_columns_.end(), fields_.body_field) != csv_columns_.end();
  if (!has_text) {
    return invalid_argument(name_ + ":1: the CSV header has neither a '" + fields_.title_field + "' nor a '" +
                            fields_.body_field + "' column");
  }
  return ok_status();
}

std::optional<Result<Article>> ArticleReader::next_csv() {
  if (!header_read_) {
    Status header = read_csv_header();
    if (!header.ok()) {
      csv_columns_.clear();
      return Result<Article>(header);
    }
  }
  if (csv_columns_.empty()) return std::nullopt;  // the header was refused: nothing can be read
  std::string line;
  for (;;) {
    if (!read_line(&line)) return std::nullopt;
    if (!line.empty()) break;
  }
  const int64_t first_line = line_number_;
  const std::string where = name_ + ":" + std::to_string(first_line);
  std::vector<std::string> values;
  std::string error;
  if (!parse_csv_record(line, [this](std::string* more) { return read_line(more); }, &values, &error)) {
    return Result<Article>(invalid_argument(where + ": bad CSV row: " + error));
  }
  if (values.size() != csv_columns_.size()) {
    return Result<Article>(invalid_argument(where + ": expected " + std::to_string(csv_columns_.size()) +
                                            " columns as in the header, found " + std::to_string(values.size())));
  }
  Article article;
  article.line_number = first_line;
  auto column = [&](const std::string& field) -> std::string {
    auto found = std::find(csv_columns_.begin(), csv_columns_.end(), field);
    return found == csv_columns_.end() ? std::string() : values[static_cast<size_t>(found - csv_columns_.begin())];
  };
  article.id = column(fields_.id_field);
  article.title = column(fields_.title_field);
  article.body = column(fields_.body_field);
  article.url = column(fields_.url_field);
  article.published = column(fields_.published_field);
  if (article.title.empty() && article.body.empty()) {
    return Result<Article>(invalid_argument(where + ": neither '" + fields_.title_field + "' nor '" +
                                            fields_.body_field + "' holds any text"));
  }
  return Result<Article>(std::move(article));
}

}  // namespace justnews
