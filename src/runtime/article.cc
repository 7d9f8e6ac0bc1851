// Article text and content hashing (two independent 64-bit FNV-1a lanes over normalised text).
#include "runtime/article.h"

#include <cstdio>

namespace justnews {
namespace {

// Collapses runs of ASCII whitespace to one space and trims both ends.
void append_normalised(const std::string& text, std::string* out) {
  bool pending_space = false;
  for (char ch : text) {
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
      pending_space = !out->empty();
      continue;
    }
    if (pending_space) out->push_back(' ');
    pending_space = false;
    out->push_back(ch);
  }
}

}  // namespace

std::string Article::text() const {
  if (title.empty()) return body;
  if (body.empty()) return title;
  return title + "\n" + body;
}

std::string content_hash(const Article& article) {
  std::string normalised;
  append_normalised(article.title, &normalised);
  normalised.push_back('\x1f');  // a unit separator, so title/body boundaries matter
  std::string body;
  append_normalised(article.body, &body);
  normalised += body;

  uint64_t lane_a = 0xcbf29ce484222325ULL;
  uint64_t lane_b = 0x84222325cbf29ce4ULL;
  for (unsigned char byte : normalised) {
    lane_a = (lane_a ^ byte) * 0x100000001b3ULL;
    lane_b = (lane_b ^ static_cast<unsigned char>(byte + 0x5b)) * 0x100000001b3ULL;
    lane_b ^= lane_b >> 29;
  }
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%016llx%016llx", static_cast<unsigned long long>(lane_a),
                static_cast<unsigned long long>(lane_b));
  return hex;
}

}  // namespace justnews
