// Parity with Hugging Face `tokenizers`: every title and body of the news corpora (and Reuters
// title/body pairs) must give identical ids, type ids, special-token masks and character
// offsets, with and without truncation. The expected encodings come from
// tools/dump_tokenizer_reference.py; see make_hint() for the commands.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "reference_dump.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace justnews::tokenizer {
namespace {

std::string make_hint(const std::string& tokenizer_json, const std::string& dump) {
  return "reference dump " + dump + " is missing; make it with\n  pip install tokenizers && python3 "
         "tools/dump_tokenizer_reference.py " + tokenizer_json + " " + dump +
         "\n(or set JUSTNEWS_ALLOW_MISSING_REFERENCE=1 to skip)";
}

template <typename T>
std::string describe_mismatch(const char* field, const std::vector<T>& ours, const std::vector<T>& theirs) {
  std::ostringstream out;
  size_t limit = std::max(ours.size(), theirs.size());
  for (size_t i = 0; i < limit; ++i) {
    bool differ = i >= ours.size() || i >= theirs.size() || !(ours[i] == theirs[i]);
    if (!differ) continue;
    out << field << " differ at position " << i << " (lengths ours " << ours.size() << ", theirs " << theirs.size()
        << "): ours ";
    if (i < ours.size()) out << ::testing::PrintToString(ours[i]); else out << "<end>";
    out << " theirs ";
    if (i < theirs.size()) out << ::testing::PrintToString(theirs[i]); else out << "<end>";
    return out.str();
  }
  return "";
}

void check_parity(const std::string& tokenizer_json, const std::string& dump_name) {
  const std::string dump = testing::reference_dir() + "/" + dump_name;
  if (!std::filesystem::exists(dump)) {
    if (testing::allow_missing_reference()) GTEST_SKIP() << make_hint(tokenizer_json, dump);
    FAIL() << make_hint(tokenizer_json, dump);
  }
  if (!std::filesystem::exists(tokenizer_json)) {
    if (testing::allow_missing_reference()) GTEST_SKIP() << tokenizer_json << " is missing";
    FAIL() << tokenizer_json << " is missing (run tools/fetch_models.sh or set JUSTNEWS_MINILM_DIR)";
  }
  auto tokenizer = Tokenizer::from_file(tokenizer_json);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  auto records = read_reference_dump(dump);
  ASSERT_TRUE(records.ok()) << records.status().to_string();
  ASSERT_GT(records->size(), 20000u) << "the dump should cover every title and body";

  size_t mismatches = 0;
  size_t tokens = 0;
  for (size_t index = 0; index < records->size(); ++index) {
    const ReferenceRecord& record = (*records)[index];
    tokenizer->set_truncation(static_cast<int>(record.max_length));
    auto encoding = record.is_pair ? tokenizer->encode_pair(record.first, record.second) : tokenizer->encode(record.first);
    std::string problem;
    if (!encoding.ok()) {
      problem = "encode failed: " + encoding.status().to_string();
    } else {
      tokens += encoding->size();
      problem = describe_mismatch("ids", encoding->ids, record.ids);
      if (problem.empty()) problem = describe_mismatch("type_ids", encoding->type_ids, record.type_ids);
      if (problem.empty()) {
        problem = describe_mismatch("special_tokens_mask", encoding->special_tokens_mask, record.special_tokens_mask);
      }
      if (problem.empty()) problem = describe_mismatch("offsets", encoding->offsets, record.offsets);
      if (problem.empty() && encoding->attention_mask != std::vector<int32_t>(record.ids.size(), 1)) {
        problem = "attention_mask is not all ones";
      }
    }
    if (!problem.empty()) {
      ++mismatches;
      if (mismatches <= 10) {
        ADD_FAILURE() << "record " << index << " (" << record.label << (record.is_pair ? ", pair" : "")
                      << ", max_length " << record.max_length << "): " << problem;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << records->size() << " records";
  std::cout << dump_name << ": " << records->size() << " records, " << tokens << " tokens, " << mismatches
            << " mismatches\n";
}

TEST(TokenizerParity, MiniLmWordPieceMatchesHuggingFace) {
  check_parity(testing::minilm_dir() + "/tokenizer.json", "minilm.bin");
}

TEST(TokenizerParity, RobertaByteLevelBpeMatchesHuggingFace) {
  check_parity(testing::roberta_bpe_json(), "roberta_bpe.bin");
}

TEST(TokenizerParity, RegexByteLevelBpeMatchesHuggingFace) {
  check_parity(testing::regex_bpe_json(), "regex_bpe.bin");
}

}  // namespace
}  // namespace justnews::tokenizer
