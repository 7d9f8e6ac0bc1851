// End-to-end tests of the justnews binary: `embed` on news titles gives the vectors
// sentence-transformers gives; `inspect` describes a checkpoint; `classify` labels text; bad input
// is reported with the line number and loses nothing else.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "model/weight_file.h"

namespace justnews {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const fs::path kSource = JUSTNEWS_SOURCE_DIR;
const fs::path kMiniLm = kSource / "models" / "all-MiniLM-L6-v2";
const fs::path kNewsDir = kSource / ".." / "shared" / "data" / "news";

struct CommandOutput {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs the CLI with `args` (already shell-quoted), capturing stdout and stderr.
CommandOutput run_cli(const std::string& args) {
  const fs::path err_path = fs::temp_directory_path() / ("justnews_cli_err_" + std::to_string(getpid()));
  const std::string command = std::string(JUSTNEWS_CLI_PATH) + " " + args + " 2>" + err_path.string();
  CommandOutput out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[65536];
  size_t read_bytes;
  while ((read_bytes = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.stdout_text.append(buffer, read_bytes);
  const int status = pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::stringstream err_text;
  err_text << err.rdbuf();
  out.stderr_text = err_text.str();
  fs::remove(err_path);
  return out;
}

std::vector<Json> parse_lines(const std::string& text) {
  std::vector<Json> rows;
  std::stringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) rows.push_back(Json::parse(line));
  return rows;
}

fs::path write_temp(const std::string& name, const std::string& contents) {
  const fs::path path = fs::temp_directory_path() / (std::to_string(getpid()) + "_" + name);
  std::ofstream(path) << contents;
  return path;
}

// The 64 titles of tests/fixtures/minilm/titles.json, looked up in the corpora by file and line
// (ids repeat in the SemEval file).
std::vector<std::pair<std::string, std::string>> reference_titles() {
  std::ifstream picks_file(kSource / "tests" / "fixtures" / "minilm" / "titles.json");
  Json picks = Json::parse(picks_file);
  std::map<std::string, std::vector<std::string>> corpus_lines;
  std::vector<std::pair<std::string, std::string>> titles;
  for (const auto& pick : picks) {
    const std::string corpus = pick["corpus"];
    auto& lines = corpus_lines[corpus];
    if (lines.empty()) {
      std::ifstream in(kNewsDir / corpus);
      for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    const size_t line_number = pick["line"];
    if (line_number == 0 || line_number > lines.size()) {
      titles.emplace_back(pick["id"], "");
      continue;
    }
    Json article = Json::parse(lines[line_number - 1]);
    EXPECT_EQ(article["id"], pick["id"]) << corpus << ":" << line_number;
    titles.emplace_back(pick["id"], article["title"]);
  }
  return titles;
}

TEST(CliEmbed, TitlesMatchSentenceTransformers) {
  if (!fs::exists(kMiniLm / "model.safetensors")) {
    if (std::getenv("JUSTNEWS_ALLOW_MISSING_REFERENCE")) GTEST_SKIP() << "run tools/fetch_models.sh";
    FAIL() << kMiniLm << " is missing: run tools/fetch_models.sh";
  }
  auto titles = reference_titles();
  ASSERT_EQ(titles.size(), 64u);
  std::string input;
  for (const auto& [id, title] : titles) {
    ASSERT_FALSE(title.empty()) << "title of " << id << " not found under " << kNewsDir;
    input += Json{{"id", id}, {"text", title}}.dump() + "\n";
  }
  const fs::path input_path = write_temp("titles.jsonl", input);
  CommandOutput out = run_cli("embed --model " + kMiniLm.string() + " --batch-size 7 " + input_path.string());
  fs::remove(input_path);
  ASSERT_EQ(out.exit_code, 0) << out.stderr_text;
  std::vector<Json> rows = parse_lines(out.stdout_text);
  ASSERT_EQ(rows.size(), 64u);

  auto reference = open_safetensors((kSource / "tests" / "fixtures" / "minilm" / "reference.safetensors").string());
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  auto expected = (*reference)->tensor("embeddings");
  ASSERT_TRUE(expected.ok());
  const int64_t dim = expected->dim(1);
  for (size_t row = 0; row < rows.size(); ++row) {
    EXPECT_EQ(rows[row]["id"], titles[row].first);
    const std::vector<float> ours = rows[row]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(static_cast<int64_t>(ours.size()), dim);
    const float* theirs = expected->data_as<float>() + row * dim;
    double dot = 0, ours_norm = 0, theirs_norm = 0;
    for (int64_t col = 0; col < dim; ++col) {
      dot += double(ours[col]) * theirs[col];
      ours_norm += double(ours[col]) * ours[col];
      theirs_norm += double(theirs[col]) * theirs[col];
    }
    EXPECT_GE(dot / std::sqrt(ours_norm * theirs_norm), 0.99999) << "title " << titles[row].first;
  }
}

TEST(CliEmbed, MalformedLinesAreReportedAndTheRestProcessed) {
  const fs::path input_path =
      write_temp("mixed.jsonl", "plain text line\n{\"text\": \"json line\"}\n{broken json\n{\"title\": 5}\nlast line\n");
  const fs::path fixture = kSource / "tests" / "fixtures" / "bert_base";
  const fs::path model_dir = fs::temp_directory_path() / (std::to_string(getpid()) + "_bert_base");
  fs::create_directories(model_dir);
  fs::copy(fixture, model_dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::ofstream vocab(model_dir / "vocab.txt");
  for (const char* token : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "plain", "text", "line", "json", "last"})
    vocab << token << "\n";
  vocab.close();
  CommandOutput out = run_cli("embed --model " + model_dir.string() + " " + input_path.string());
  fs::remove(input_path);
  fs::remove_all(model_dir);
  EXPECT_EQ(out.exit_code, 1);
  std::vector<Json> rows = parse_lines(out.stdout_text);
  ASSERT_EQ(rows.size(), 3u) << out.stderr_text;
  EXPECT_EQ(rows[0]["line"], 1);
  EXPECT_EQ(rows[1]["line"], 2);
  EXPECT_EQ(rows[2]["line"], 5);
  EXPECT_NE(out.stderr_text.find(":3: line starts with '{' but is not a JSON object"), std::string::npos)
      << out.stderr_text;
  EXPECT_NE(out.stderr_text.find(":4: JSON object has no string field 'text'"), std::string::npos)
      << out.stderr_text;
}

TEST(CliInspect, DescribesAFixture) {
  CommandOutput out = run_cli("inspect --json " + (kSource / "tests" / "fixtures" / "bert_multilabel").string());
  ASSERT_EQ(out.exit_code, 0) << out.stderr_text;
  Json info = Json::parse(out.stdout_text);
  EXPECT_EQ(info["architecture"], "bert");
  EXPECT_EQ(info["head"], "sequence classification");
  EXPECT_EQ(info["problem_type"], "multi-label (sigmoid)");
  EXPECT_EQ(info["labels"].size(), 6u);
  EXPECT_EQ(info["dtypes"]["F32"], info["parameters"]);
}

TEST(CliInspect, MissingDirectoryIsAClearError) {
  CommandOutput out = run_cli("inspect /nonexistent/model");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.stderr_text.find("/nonexistent/model"), std::string::npos) << out.stderr_text;
}

TEST(CliClassify, GivesProbabilitiesPerLabel) {
  const fs::path model_dir = fs::temp_directory_path() / (std::to_string(getpid()) + "_bert_seqcls");
  fs::create_directories(model_dir);
  fs::copy(kSource / "tests" / "fixtures" / "bert_seqcls", model_dir,
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::ofstream vocab(model_dir / "vocab.txt");
  for (const char* token : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "rates", "rise", "storm"})
    vocab << token << "\n";
  vocab.close();
  const fs::path input_path = write_temp("classify.txt", "rates rise\nstorm\n");
  CommandOutput out = run_cli("classify --model " + model_dir.string() + " " + input_path.string());
  fs::remove(input_path);
  fs::remove_all(model_dir);
  ASSERT_EQ(out.exit_code, 0) << out.stderr_text;
  std::vector<Json> rows = parse_lines(out.stdout_text);
  ASSERT_EQ(rows.size(), 2u);
  for (const Json& row : rows) {
    double total = 0;
    for (const auto& [label, probability] : row["scores"].items()) total += probability.get<double>();
    EXPECT_NEAR(total, 1.0, 1e-5);
    EXPECT_TRUE(row["scores"].contains(row["label"].get<std::string>()));
  }
}

TEST(CliClassify, RefusesABaseModel) {
  CommandOutput out = run_cli("classify --model " + kMiniLm.string() + " /dev/null");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.stderr_text.find("sequence-classification"), std::string::npos) << out.stderr_text;
}

}  // namespace
}  // namespace justnews
