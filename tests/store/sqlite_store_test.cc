// The SQLite store on real files: round trips, de-duplication by hash and URL, persistence across
// reopen, transactional rewrites, and unusable paths / files reported with their name.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace justnews {
namespace {

namespace fs = std::filesystem;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("jn_store_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string db_path() const { return (dir_ / "store.db").string(); }

  fs::path dir_;
};

AnalyzedArticle article(const std::string& hash, const std::string& url, float seed) {
  AnalyzedArticle analyzed;
  analyzed.article = {hash, url, "id-" + hash, "Title " + hash, "2026-01-02"};
  analyzed.results.push_back({"sentiment", R"({"label":"positive"})", {}});
  analyzed.results.push_back({"embeddings", R"({"story":"s1"})", {seed, seed + 1, seed + 2}});
  return analyzed;
}

TEST_F(SqliteStoreTest, WritesReadsAndSurvivesReopen) {
  {
    auto store = open_sqlite_store(db_path());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    EXPECT_EQ(*(*store)->count_articles(), 0);
    ASSERT_TRUE((*store)->write({article("h1", "http://a/1", 1), article("h2", "", 5)}).ok());
  }
  auto store = open_sqlite_store(db_path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->count_articles(), 2);
  EXPECT_TRUE(*(*store)->contains("h1", ""));
  EXPECT_TRUE(*(*store)->contains("other", "http://a/1")) << "URL match counts";
  EXPECT_FALSE(*(*store)->contains("other", ""));
  EXPECT_FALSE(*(*store)->contains("h3", "http://a/3"));

  auto results = (*store)->results_for("h2");
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].agent, "embeddings");
  EXPECT_EQ((*results)[0].vector, (std::vector<float>{5, 6, 7}));
  EXPECT_EQ((*results)[1].output_json, R"({"label":"positive"})");
  EXPECT_TRUE((*results)[1].vector.empty());

  auto vectors = (*store)->load_vectors("embeddings");
  ASSERT_TRUE(vectors.ok());
  ASSERT_EQ(vectors->size(), 2u);
  EXPECT_EQ((*vectors)[0].content_hash, "h1");
  EXPECT_EQ((*vectors)[1].vector[0], 5.0f);
}

TEST_F(SqliteStoreTest, RewritingNeverDuplicates) {
  auto store = open_sqlite_store(db_path());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->write({article("h1", "http://a/1", 1)}).ok());
  // The same content again, the same URL with other content, and one duplicate inside a batch.
  ASSERT_TRUE((*store)->write({article("h1", "", 9), article("h9", "http://a/1", 9),
                               article("h2", "", 2), article("h2", "", 3)})
                  .ok());
  EXPECT_EQ(*(*store)->count_articles(), 2);
  EXPECT_EQ((*store)->results_for("h1")->at(0).vector[0], 1.0f) << "the first analysis is kept";
  EXPECT_EQ((*store)->results_for("h2")->at(0).vector[0], 2.0f);
  EXPECT_TRUE((*store)->results_for("h9")->empty());
}

TEST_F(SqliteStoreTest, UnusablePathsAreNamed) {
  auto missing_dir = open_sqlite_store((dir_ / "no" / "such" / "dir" / "x.db").string());
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_NE(missing_dir.status().message().find("no/such/dir/x.db"), std::string::npos);

  const std::string not_a_db = (dir_ / "garbage.db").string();
  std::ofstream(not_a_db) << std::string(4096, 'x');
  auto garbage = open_sqlite_store(not_a_db);
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("garbage.db"), std::string::npos);
}

TEST_F(SqliteStoreTest, OpenStorePicksTheConfiguredBackend) {
  StoreConfig config;
  config.sqlite_path = db_path();
  auto store = open_store(config);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  EXPECT_NE((*store)->name().find("store.db"), std::string::npos);
  config.backend = "postgres";
  auto postgres = open_store(config);
  ASSERT_FALSE(postgres.ok());
  EXPECT_EQ(postgres.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace justnews
