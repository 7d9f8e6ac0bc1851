// ArticleReader: articles from JSONL (one object per line) or CSV (RFC 4180 with a header row;
// quoted fields may span lines), from a file or stdin. Field names come from the config's input
// section. A malformed line or row is returned as an error naming the input and line number; the
// caller reports it and reads on, so one bad line never loses the rest.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "runtime/article.h"

namespace justnews {

enum class InputFormat { kJsonl, kCsv };

class ArticleReader {
 public:
  // `path` "-" reads stdin. `format` "jsonl" | "csv" | "" (by extension: .csv is CSV, else JSONL).
  static Result<ArticleReader> open(const std::string& path, const InputConfig& fields,
                                    const std::string& format = "");
  ArticleReader(ArticleReader&& other) noexcept;
  ArticleReader& operator=(ArticleReader&&) = delete;
  ~ArticleReader();

  // The next article; an error for a malformed line; std::nullopt at the end of the input.
  std::optional<Result<Article>> next();
  const std::string& name() const { return name_; }

 private:
  ArticleReader(std::FILE* file, bool owns_file, std::string name, InputConfig fields, InputFormat format);
  bool read_line(std::string* line);
  std::optional<Result<Article>> next_jsonl();
  std::optional<Result<Article>> next_csv();
  Status read_csv_header();

  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  std::string name_;
  InputConfig fields_;
  InputFormat format_;
  int64_t line_number_ = 0;
  bool header_read_ = false;
  std::vector<std::string> csv_columns_;
};

}  // namespace justnews
