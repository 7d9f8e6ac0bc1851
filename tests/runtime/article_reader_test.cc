// ArticleReader: JSONL and CSV, configurable field names, and every malformed line reported with
// its line number while the good ones around it are still read. Also the content hash.
#include "runtime/article_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace justnews {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

struct ReadAll {
  std::vector<Article> articles;
  std::vector<std::string> errors;
};

ReadAll read_all(ArticleReader& reader) {
  ReadAll all;
  while (auto next = reader.next()) {
    if (next->ok()) all.articles.push_back(next->value());
    else all.errors.push_back(next->status().message());
  }
  return all;
}

TEST(ArticleReader, JsonlSkipsAndNamesMalformedLines) {
  const std::string path = write_temp("jn_reader.jsonl",
                                      "{\"id\":\"a1\",\"title\":\"First\",\"body\":\"Body one\",\"url\":\"http://x/1\"}\n"
                                      "{not json\n"
                                      "\n"
                                      "[1,2,3]\n"
                                      "{\"title\":42,\"body\":\"numbers are text\"}\n"
                                      "{\"title\":{\"nested\":true}}\n"
                                      "{\"url\":\"http://x/empty\"}\n"
                                      "{\"title\":\"Last\",\"published\":\"2026-01-01\"}\r\n");
  auto reader = ArticleReader::open(path, InputConfig{});
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  ReadAll all = read_all(*reader);
  ASSERT_EQ(all.articles.size(), 3u);
  EXPECT_EQ(all.articles[0].id, "a1");
  EXPECT_EQ(all.articles[0].url, "http://x/1");
  EXPECT_EQ(all.articles[0].line_number, 1);
  EXPECT_EQ(all.articles[1].title, "42");
  EXPECT_EQ(all.articles[2].title, "Last");
  EXPECT_EQ(all.articles[2].published, "2026-01-01");
  EXPECT_EQ(all.articles[2].line_number, 8);
  ASSERT_EQ(all.errors.size(), 4u);
  EXPECT_NE(all.errors[0].find("jn_reader.jsonl:2: not valid JSON"), std::string::npos) << all.errors[0];
  EXPECT_NE(all.errors[1].find(":4: expected a JSON object"), std::string::npos) << all.errors[1];
  EXPECT_NE(all.errors[2].find(":6: field 'title' must be a string"), std::string::npos) << all.errors[2];
  EXPECT_NE(all.errors[3].find(":7: neither 'title' nor 'body'"), std::string::npos) << all.errors[3];
}

TEST(ArticleReader, FieldNamesAreConfigurable) {
  const std::string path = write_temp("jn_reader_fields.jsonl", "{\"headline\":\"H\",\"text\":\"T\",\"link\":\"L\"}\n");
  InputConfig fields;
  fields.title_field = "headline";
  fields.body_field = "text";
  fields.url_field = "link";
  auto reader = ArticleReader::open(path, fields);
  ASSERT_TRUE(reader.ok());
  ReadAll all = read_all(*reader);
  ASSERT_EQ(all.articles.size(), 1u);
  EXPECT_EQ(all.articles[0].title, "H");
  EXPECT_EQ(all.articles[0].body, "T");
  EXPECT_EQ(all.articles[0].url, "L");
  EXPECT_EQ(all.articles[0].text(), "H\nT");
}

TEST(ArticleReader, CsvWithQuotesNewlinesAndBadRows) {
  const std::string path = write_temp("jn_reader.csv",
                                      "id,title,body,url\n"
                                      "1,Plain,Simple body,http://x/1\n"
                                      "2,\"Quoted, with comma\",\"Two\nlines and \"\"quotes\"\"\",\n"
                                      "3,Too,many,columns,here\n"
                                      "4,\"Stray\"quote,body,\n"
                                      "5,Fine again,ok,\n");
  auto reader = ArticleReader::open(path, InputConfig{});
  ASSERT_TRUE(reader.ok());
  ReadAll all = read_all(*reader);
  ASSERT_EQ(all.articles.size(), 3u);
  EXPECT_EQ(all.articles[1].title, "Quoted, with comma");
  EXPECT_EQ(all.articles[1].body, "Two\nlines and \"quotes\"");
  EXPECT_EQ(all.articles[1].line_number, 3);
  EXPECT_EQ(all.articles[2].id, "5");
  EXPECT_EQ(all.articles[2].line_number, 7) << "line numbers count the embedded newline";
  ASSERT_EQ(all.errors.size(), 2u);
  EXPECT_NE(all.errors[0].find("jn_reader.csv:5: expected 4 columns"), std::string::npos) << all.errors[0];
  EXPECT_NE(all.errors[1].find("jn_reader.csv:6: bad CSV row"), std::string::npos) << all.errors[1];
}

TEST(ArticleReader, CsvWithoutTextColumnsOrUnclosedQuoteIsReported) {
  auto no_text = ArticleReader::open(write_temp("jn_reader_bad.csv", "a,b\n1,2\n"), InputConfig{});
  ASSERT_TRUE(no_text.ok());
  ReadAll all = read_all(*no_text);
  EXPECT_TRUE(all.articles.empty());
  ASSERT_EQ(all.errors.size(), 1u);
  EXPECT_NE(all.errors[0].find(":1: the CSV header has neither"), std::string::npos);

  auto unclosed = ArticleReader::open(write_temp("jn_reader_open.csv", "title,body\n\"never closed,x\n"), InputConfig{});
  ASSERT_TRUE(unclosed.ok());
  all = read_all(*unclosed);
  ASSERT_EQ(all.errors.size(), 1u);
  EXPECT_NE(all.errors[0].find(":2: bad CSV row: a quoted field is not closed"), std::string::npos) << all.errors[0];
}

TEST(ArticleReader, MissingFileAndBadFormatAreErrors) {
  auto missing = ArticleReader::open("/nonexistent/input.jsonl", InputConfig{});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/input.jsonl"), std::string::npos);
  EXPECT_FALSE(ArticleReader::open("x.jsonl", InputConfig{}, "xml").ok());
}

TEST(ContentHash, IgnoresWhitespaceButNotText) {
  Article a;
  a.title = "Oil prices rise";
  a.body = "Brent rose  2 pct\non Monday.";
  Article b = a;
  b.title = "  Oil   prices rise ";
  b.body = "Brent rose 2 pct on Monday.\n";
  b.url = "http://other/url";
  EXPECT_EQ(content_hash(a), content_hash(b));
  EXPECT_EQ(content_hash(a).size(), 32u);
  Article c = a;
  c.body = "Brent rose 3 pct on Monday.";
  EXPECT_NE(content_hash(a), content_hash(c));
  Article moved;
  moved.title = "Oil prices rise Brent";
  moved.body = "rose 2 pct on Monday.";
  EXPECT_NE(content_hash(a), content_hash(moved)) << "the title/body boundary counts";
}

}  // namespace
}  // namespace justnews
