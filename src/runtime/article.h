// Article: one news item as the analyze pipeline sees it, and its content hash (the identity used
// for de-duplication and resuming).
#pragma once

#include <cstdint>
#include <string>

namespace justnews {

struct Article {
  int64_t line_number = 0;  // where it started in the input (1-based)
  std::string id;
  std::string title;
  std::string body;
  std::string url;
  std::string published;

  // The text the agents analyse: title and body, separated by a newline.
  std::string text() const;
};

// 128-bit hash (hex) of the whitespace-normalised title and body: the same story re-sent with
// different spacing or under another URL hashes the same.
std::string content_hash(const Article& article);

}  // namespace justnews
