// SQLite Store over the C API with prepared statements. One connection, guarded by a mutex.
#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <cstring>
#include <mutex>

namespace justnews {
namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA foreign_keys=ON;
CREATE TABLE IF NOT EXISTS articles(
  id INTEGER PRIMARY KEY,
  content_hash TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL DEFAULT '',
  source_id TEXT NOT NULL DEFAULT '',
  title TEXT NOT NULL DEFAULT '',
  published TEXT NOT NULL DEFAULT '',
  analyzed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX IF NOT EXISTS articles_by_url ON articles(url) WHERE url <> '';
CREATE TABLE IF NOT EXISTS results(
  article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
  agent TEXT NOT NULL,
  output TEXT NOT NULL,
  vector BLOB,
  PRIMARY KEY(article_id, agent));
)sql";

// A prepared statement that finalises itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  bool valid() const { return stmt_ != nullptr; }
  void bind_text(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  std::string column_text(int index) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
    return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, index))) : "";
  }
  std::vector<float> column_floats(int index) const {
    const void* blob = sqlite3_column_blob(stmt_, index);
    const int bytes = sqlite3_column_bytes(stmt_, index);
    std::vector<float> values(static_cast<size_t>(bytes) / sizeof(float));
    if (blob && !values.empty()) std::memcpy(values.data(), blob, values.size() * sizeof(float));
    return values;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  // close_v2: the connection closes once the member statements below are finalised.
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  std::string name() const override { return "sqlite:" + path_; }

  Result<bool> contains(const std::string& content_hash, const std::string& url) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return contains_locked(content_hash, url);
  }

  Status write(const std::vector<AnalyzedArticle>& articles) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return error("begin transaction");
    }
    Status status = write_locked(articles);
    if (!status.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return status;
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      Status commit_error = error("commit");
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return commit_error;
    }
    return ok_status();
  }

  Result<int64_t> count_articles() override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement stmt(db_, "SELECT COUNT(*) FROM articles");
    if (!stmt.valid() || sqlite3_step(stmt.get()) != SQLITE_ROW) return error("count articles");
    return static_cast<int64_t>(sqlite3_column_int64(stmt.get(), 0));
  }

  Result<std::vector<AgentResultRecord>> results_for(const std::string& content_hash) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement stmt(db_,
                   "SELECT r.agent, r.output, r.vector FROM results r JOIN articles a ON a.id = r.article_id "
                   "WHERE a.content_hash = ?1 ORDER BY r.agent");
    if (!stmt.valid()) return error("prepare results query");
    stmt.bind_text(1, content_hash);
    std::vector<AgentResultRecord> results;
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      results.push_back({stmt.column_text(0), stmt.column_text(1), stmt.column_floats(2)});
    }
    if (rc != SQLITE_DONE) return error("read results of article " + content_hash);
    return results;
  }

  Result<std::vector<StoredVector>> load_vectors(const std::string& agent) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement stmt(db_,
                   "SELECT a.content_hash, r.output, r.vector FROM results r JOIN articles a ON a.id = "
                   "r.article_id WHERE r.agent = ?1 AND r.vector IS NOT NULL ORDER BY a.id");
    if (!stmt.valid()) return error("prepare vector query");
    stmt.bind_text(1, agent);
    std::vector<StoredVector> vectors;
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      vectors.push_back({stmt.column_text(0), stmt.column_text(1), stmt.column_floats(2)});
    }
    if (rc != SQLITE_DONE) return error("read vectors of agent '" + agent + "'");
    return vectors;
  }

 private:
  Status error(const std::string& what) const {
    return io_error(path_ + ": sqlite cannot " + what + ": " + sqlite3_errmsg(db_));
  }

  // Two single-index lookups: an OR across the two columns would make SQLite scan the table.
  Result<bool> contains_locked(const std::string& content_hash, const std::string& url) {
    if (!by_hash_.valid() || !by_url_.valid()) return error("prepare membership queries");
    sqlite3_reset(by_hash_.get());
    by_hash_.bind_text(1, content_hash);
    int rc = sqlite3_step(by_hash_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) return error("query article by content hash");
    if (url.empty()) return false;
    sqlite3_reset(by_url_.get());
    by_url_.bind_text(1, url);
    rc = sqlite3_step(by_url_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) return error("query article by url");
    return false;
  }

  Status write_locked(const std::vector<AnalyzedArticle>& articles) {
    Statement& insert_article = insert_article_;
    Statement& insert_result = insert_result_;
    if (!insert_article.valid() || !insert_result.valid()) return error("prepare insert");
    for (const AnalyzedArticle& analyzed : articles) {
      const ArticleRecord& article = analyzed.article;
      JN_ASSIGN_OR_RETURN(const bool stored, contains_locked(article.content_hash, article.url));
      if (stored) continue;  // already stored: keep the first analysis
      sqlite3_reset(insert_article.get());
      insert_article.bind_text(1, article.content_hash);
      insert_article.bind_text(2, article.url);
      insert_article.bind_text(3, article.source_id);
      insert_article.bind_text(4, article.title);
      insert_article.bind_text(5, article.published);
      if (sqlite3_step(insert_article.get()) != SQLITE_DONE) {
        return error("insert article " + article.content_hash);
      }
      const sqlite3_int64 article_id = sqlite3_last_insert_rowid(db_);
      for (const AgentResultRecord& result : analyzed.results) {
        sqlite3_reset(insert_result.get());
        sqlite3_bind_int64(insert_result.get(), 1, article_id);
        insert_result.bind_text(2, result.agent);
        insert_result.bind_text(3, result.output_json);
        if (result.vector.empty()) {
          sqlite3_bind_null(insert_result.get(), 4);
        } else {
          sqlite3_bind_blob(insert_result.get(), 4, result.vector.data(),
                            static_cast<int>(result.vector.size() * sizeof(float)), SQLITE_TRANSIENT);
        }
        if (sqlite3_step(insert_result.get()) != SQLITE_DONE) {
          return error("insert result of agent '" + result.agent + "' for article " + article.content_hash);
        }
      }
    }
    return ok_status();
  }

  sqlite3* db_;
  std::string path_;
  std::mutex mutex_;
  // Prepared once, reset per use (declared after db_, which they need).
  Statement by_hash_{db_, "SELECT 1 FROM articles WHERE content_hash = ?1"};
  Statement by_url_{db_, "SELECT 1 FROM articles WHERE url = ?1 AND url <> ''"};
  Statement insert_article_{db_, "INSERT INTO articles(content_hash, url, source_id, title, published) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5)"};
  Statement insert_result_{db_, "INSERT OR REPLACE INTO results(article_id, agent, output, vector) "
                                "VALUES (?1, ?2, ?3, ?4)"};
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return io_error("store '" + path + "': sqlite cannot open the database: " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  char* schema_error = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &schema_error) != SQLITE_OK) {
    std::string message = schema_error ? schema_error : sqlite3_errmsg(db);
    sqlite3_free(schema_error);
    sqlite3_close(db);
    return io_error("store '" + path + "': not a usable JustNews database: " + message);
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(db, path));
}

}  // namespace justnews
