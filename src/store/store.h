// Store: where analysed articles and their per-agent results are kept. The interface is small on
// purpose so that SQLite (embedded, the default) and PostgreSQL can both implement it: a
// membership test for de-duplication and resuming, one transactional write per group of articles
// (an article and all of its results land together or not at all), and the reads that resuming
// and the tests need.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace justnews {

struct ArticleRecord {
  std::string content_hash;  // of the normalised title + body; the article's identity
  std::string url;           // may be empty
  std::string source_id;     // the input's own id field, when it has one
  std::string title;
  std::string published;
};

struct AgentResultRecord {
  std::string agent;
  std::string output_json;   // the agent's output for this article (a JSON object)
  std::vector<float> vector; // an embedding, kept so near-duplicate / story state can resume
};

struct AnalyzedArticle {
  ArticleRecord article;
  std::vector<AgentResultRecord> results;
};

struct StoredVector {
  std::string content_hash;
  std::string output_json;
  std::vector<float> vector;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string name() const = 0;
  // True when an article with this content hash, or this URL (when not empty), is stored.
  virtual Result<bool> contains(const std::string& content_hash, const std::string& url) = 0;
  // One transaction. Articles already present (same content hash or URL) are left as they are, so
  // rewriting after a crash never duplicates.
  virtual Status write(const std::vector<AnalyzedArticle>& articles) = 0;
  virtual Result<int64_t> count_articles() = 0;
  // Results of one article, by agent name order.
  virtual Result<std::vector<AgentResultRecord>> results_for(const std::string& content_hash) = 0;
  // Every stored vector of `agent`, oldest article first.
  virtual Result<std::vector<StoredVector>> load_vectors(const std::string& agent) = 0;
};

// Opens the backend that `config.backend` names; `sqlite_path`, when not empty, overrides
// config.sqlite_path.
Result<std::unique_ptr<Store>> open_store(const StoreConfig& config, const std::string& sqlite_path = "");

}  // namespace justnews
