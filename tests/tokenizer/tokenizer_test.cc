// Tokenizer unit tests: hand-picked edge cases whose expected ids and offsets were produced by
// Hugging Face `tokenizers` 0.23.3 in Python, e.g. for the MiniLM rows
//   t = Tokenizer.from_file("tests/fixtures/tokenizers/minilm_wordpiece/tokenizer.json")
//   t.no_padding(); t.no_truncation(); e = t.encode(text); print(e.ids, e.offsets)
// and the same with tests/fixtures/tokenizers/roberta_bpe/tokenizer.json for the RobertaBpe rows;
// plus error handling, the vocab-file layouts, truncation, pairs and the batch API.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "test_paths.h"

namespace justnews::tokenizer {
namespace {

using namespace std::string_literals;
using Offsets = std::vector<std::pair<int32_t, int32_t>>;

struct EdgeCase {
  std::string name;
  std::string text;
  std::vector<int32_t> ids;
  Offsets offsets;
};

const std::vector<EdgeCase>& edge_cases() {
  // Strings use "\xNN""" so a hex escape never swallows the next character, and the s suffix
  // keeps embedded NULs.
  static const std::vector<EdgeCase> cases = {
    {"MiniLmEmpty", ""s, {101, 102}, {{0, 0}, {0, 0}}},
    {"RobertaBpeEmpty", ""s, {0, 2}, {{0, 0}, {0, 0}}},
    {"MiniLmOnlyWhitespace", " \x09""\x0a""  \xe3\x80\x80"" "s, {101, 102}, {{0, 0}, {0, 0}}},
    {"RobertaBpeOnlyWhitespace", " \x09""\x0a""  \xe3\x80\x80"" "s, {0, 225, 202, 203, 355, 164, 227, 227, 225, 2}, {{0, 0}, {1, 1}, {1, 2}, {2, 3}, {5, 5}, {5, 6}, {5, 6}, {5, 6}, {7, 7}, {0, 0}}},
    {"MiniLmEmoji", "Stocks \xf0\x9f\x93\x88"" rose \xf0\x9f\x9a\x80""!"s, {101, 15768, 100, 3123, 100, 999, 102}, {{0, 0}, {0, 6}, {7, 8}, {9, 13}, {14, 15}, {15, 16}, {0, 0}}},
    {"RobertaBpeEmoji", "Stocks \xf0\x9f\x93\x88"" rose \xf0\x9f\x9a\x80""!"s, {0, 6362, 87, 225, 177, 258, 246, 235, 948, 225, 177, 258, 253, 227, 5, 2}, {{0, 0}, {0, 5}, {5, 6}, {7, 7}, {7, 8}, {7, 8}, {7, 8}, {7, 8}, {9, 13}, {14, 14}, {14, 15}, {14, 15}, {14, 15}, {14, 15}, {15, 16}, {0, 0}}},
    {"MiniLmCombiningAccents", "Cafe\xcc\x81"" na\xcc\x88""ive \xc3\x9c""n\xc3\xaf""c\xc3\xb6""d\xc3\xa9"""s, {101, 7668, 15743, 27260, 102}, {{0, 0}, {0, 4}, {6, 12}, {13, 20}, {0, 0}}},
    {"RobertaBpeCombiningAccents", "Cafe\xcc\x81"" na\xcc\x88""ive \xc3\x9c""n\xc3\xaf""c\xc3\xb6""d\xc3\xa9"""s, {0, 39, 1483, 73, 141, 228, 312, 69, 141, 235, 434, 225, 132, 255, 82, 132, 112, 71, 132, 119, 72, 132, 107, 2}, {{0, 0}, {0, 1}, {1, 3}, {3, 4}, {4, 5}, {4, 5}, {6, 7}, {7, 8}, {8, 9}, {8, 9}, {9, 12}, {13, 13}, {13, 14}, {13, 14}, {14, 15}, {15, 16}, {15, 16}, {16, 17}, {17, 18}, {17, 18}, {18, 19}, {19, 20}, {19, 20}, {0, 0}}},
    {"MiniLmCjk", "\xe4\xb8\x9c""\xe4\xba\xac""\xe8\x82\xa1""\xe5\xb8\x82"" rose 2%"s, {101, 100, 1755, 100, 100, 3123, 1016, 1003, 102}, {{0, 0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {5, 9}, {10, 11}, {11, 12}, {0, 0}}},
    {"RobertaBpeCjk", "\xe4\xb8\x9c""\xe4\xba\xac""\xe8\x82\xa1""\xe5\xb8\x82"" rose 2%"s, {0, 165, 121, 255, 165, 123, 110, 169, 229, 99, 166, 121, 229, 948, 360, 9, 2}, {{0, 0}, {0, 1}, {0, 1}, {0, 1}, {1, 2}, {1, 2}, {1, 2}, {2, 3}, {2, 3}, {2, 3}, {3, 4}, {3, 4}, {3, 4}, {5, 9}, {10, 11}, {11, 12}, {0, 0}}},
    {"MiniLmControlChars", "a\x00""b\x07""c\xe2\x80\x8b""d\xef\xbf\xbd""e\xc2\x85""f"s, {101, 5925, 3207, 2546, 102}, {{0, 0}, {0, 5}, {6, 9}, {10, 11}, {0, 0}}},
    {"RobertaBpeControlChars", "a\x00""b\x07""c\xe2\x80\x8b""d\xef\xbf\xbd""e\xc2\x85""f"s, {0, 69, 193, 70, 200, 71, 163, 227, 238, 72, 176, 128, 126, 73, 131, 232, 74, 2}, {{0, 0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {5, 6}, {5, 6}, {6, 7}, {7, 8}, {7, 8}, {7, 8}, {8, 9}, {9, 10}, {9, 10}, {10, 11}, {0, 0}}},
    {"MiniLmDottedCapitalI", "\xc4\xb0""stanbul \xce\xa3""\xce\x91""\xce\xa3"""s, {101, 9960, 1173, 14608, 29733, 102}, {{0, 0}, {0, 8}, {9, 10}, {10, 11}, {11, 12}, {0, 0}}},
    {"RobertaBpeDottedCapitalI", "\xc4\xb0""stanbul \xce\xa3""\xce\x91""\xce\xa3"""s, {0, 133, 113, 311, 269, 70, 399, 225, 143, 101, 143, 244, 143, 101, 2}, {{0, 0}, {0, 1}, {0, 1}, {1, 3}, {3, 5}, {5, 6}, {6, 8}, {9, 9}, {9, 10}, {9, 10}, {10, 11}, {10, 11}, {11, 12}, {11, 12}, {0, 0}}},
    {"MiniLmSpecialTokensInText", "hello [MASK] world <s> </s>"s, {101, 7592, 103, 2088, 1026, 1055, 1028, 1026, 1013, 1055, 1028, 102}, {{0, 0}, {0, 5}, {6, 12}, {13, 18}, {19, 20}, {20, 21}, {21, 22}, {23, 24}, {24, 25}, {25, 26}, {26, 27}, {0, 0}}},
    {"RobertaBpeSpecialTokensInText", "hello [MASK] world <s> </s>"s, {0, 2224, 1045, 225, 63, 49, 2097, 47, 65, 1168, 225, 0, 225, 2, 2}, {{0, 0}, {0, 3}, {3, 5}, {6, 6}, {6, 7}, {7, 8}, {8, 10}, {10, 11}, {11, 12}, {13, 18}, {19, 19}, {19, 22}, {23, 23}, {23, 27}, {0, 0}}},
    {"MiniLmLongWord", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ok"s, {101, 100, 7929, 102}, {{0, 0}, {0, 101}, {102, 104}, {0, 0}}},
    {"RobertaBpeLongWord", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ok"s, {0, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 92, 271, 79, 2}, {{0, 0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}, {9, 10}, {10, 11}, {11, 12}, {12, 13}, {13, 14}, {14, 15}, {15, 16}, {16, 17}, {17, 18}, {18, 19}, {19, 20}, {20, 21}, {21, 22}, {22, 23}, {23, 24}, {24, 25}, {25, 26}, {26, 27}, {27, 28}, {28, 29}, {29, 30}, {30, 31}, {31, 32}, {32, 33}, {33, 34}, {34, 35}, {35, 36}, {36, 37}, {37, 38}, {38, 39}, {39, 40}, {40, 41}, {41, 42}, {42, 43}, {43, 44}, {44, 45}, {45, 46}, {46, 47}, {47, 48}, {48, 49}, {49, 50}, {50, 51}, {51, 52}, {52, 53}, {53, 54}, {54, 55}, {55, 56}, {56, 57}, {57, 58}, {58, 59}, {59, 60}, {60, 61}, {61, 62}, {62, 63}, {63, 64}, {64, 65}, {65, 66}, {66, 67}, {67, 68}, {68, 69}, {69, 70}, {70, 71}, {71, 72}, {72, 73}, {73, 74}, {74, 75}, {75, 76}, {76, 77}, {77, 78}, {78, 79}, {79, 80}, {80, 81}, {81, 82}, {82, 83}, {83, 84}, {84, 85}, {85, 86}, {86, 87}, {87, 88}, {88, 89}, {89, 90}, {90, 91}, {91, 92}, {92, 93}, {93, 94}, {94, 95}, {95, 96}, {96, 97}, {97, 98}, {98, 99}, {99, 100}, {100, 101}, {102, 103}, {103, 104}, {0, 0}}},
  };
  return cases;
}

Tokenizer load(const std::string& path) {
  auto tokenizer = Tokenizer::from_file(path);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  tokenizer->set_truncation(0);
  return std::move(tokenizer).value();
}

const Tokenizer& minilm() {
  static Tokenizer tokenizer = load(testing::minilm_dir() + "/tokenizer.json");
  return tokenizer;
}

const Tokenizer& roberta() {
  static Tokenizer tokenizer = load(testing::roberta_bpe_json());
  return tokenizer;
}

TEST(Tokenizer, EdgeCasesMatchHuggingFace) {
  for (const EdgeCase& edge : edge_cases()) {
    const Tokenizer& tokenizer = edge.name.rfind("MiniLm", 0) == 0 ? minilm() : roberta();
    auto encoding = tokenizer.encode(edge.text);
    ASSERT_TRUE(encoding.ok()) << edge.name << ": " << encoding.status().to_string();
    EXPECT_EQ(encoding->ids, edge.ids) << edge.name;
    EXPECT_EQ(encoding->offsets, edge.offsets) << edge.name;
    EXPECT_EQ(encoding->attention_mask, std::vector<int32_t>(edge.ids.size(), 1)) << edge.name;
  }
}

TEST(Tokenizer, PairsMatchHuggingFace) {
  // t.encode("Who won?", "The team won the cup.") with each tokenizer.
  auto bert = minilm().encode_pair("Who won?", "The team won the cup.");
  ASSERT_TRUE(bert.ok()) << bert.status().to_string();
  EXPECT_EQ(bert->ids, (std::vector<int32_t>{101, 2040, 2180, 1029, 102, 1996, 2136, 2180, 1996, 2452, 1012, 102}));
  EXPECT_EQ(bert->type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(bert->special_tokens_mask, (std::vector<int32_t>{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(bert->offsets, (Offsets{{0, 0}, {0, 3}, {4, 7}, {7, 8}, {0, 0}, {0, 3}, {4, 8}, {9, 12}, {13, 16},
                                    {17, 20}, {20, 21}, {0, 0}}));
  auto bpe = roberta().encode_pair("Who won?", "The team won the cup.");
  ASSERT_TRUE(bpe.ok()) << bpe.status().to_string();
  EXPECT_EQ(bpe->ids, (std::vector<int32_t>{0, 2520, 83, 2944, 35, 2, 2, 327, 5094, 2944, 270, 278, 404, 18, 2}));
  EXPECT_EQ(bpe->type_ids, std::vector<int32_t>(15, 0));
  EXPECT_EQ(bpe->special_tokens_mask, (std::vector<int32_t>{1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(bpe->offsets, (Offsets{{0, 0}, {0, 2}, {2, 3}, {4, 7}, {7, 8}, {0, 0}, {0, 0}, {0, 3}, {4, 8}, {9, 12},
                                   {13, 16}, {17, 18}, {18, 20}, {20, 21}, {0, 0}}));
}

TEST(Tokenizer, TruncatesLongTextsAndPairs) {
  Tokenizer tokenizer = load(testing::minilm_dir() + "/tokenizer.json");
  std::string words;
  for (int i = 0; i < 600; ++i) words += "word ";
  tokenizer.set_truncation(512);
  // t.enable_truncation(512); e = t.encode("word " * 600): 512 ids ending [2773, 2773, 102].
  auto single = tokenizer.encode(words);
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->size(), 512u);
  EXPECT_EQ(single->ids[509], 2773);
  EXPECT_EQ(single->ids[511], 102);
  EXPECT_EQ(single->offsets[510], (std::pair<int32_t, int32_t>{2545, 2549}));
  // t.enable_truncation(10); longest-first trims the longer first sequence down to 4 tokens.
  tokenizer.set_truncation(10);
  auto pair = tokenizer.encode_pair("one two three four five six seven", "alpha beta gamma");
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->ids, (std::vector<int32_t>{101, 2028, 2048, 2093, 2176, 102, 6541, 8247, 13091, 102}));
  EXPECT_EQ(pair->type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(tokenizer.truncation(), std::optional<int>(10));
  tokenizer.set_truncation(0);
  EXPECT_EQ(tokenizer.truncation(), std::nullopt);
  EXPECT_EQ(tokenizer.encode(words)->size(), 602u);
}

TEST(Tokenizer, DefaultTruncationComesFromTokenizerJson) {
  auto tokenizer = Tokenizer::from_file(testing::minilm_dir() + "/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ(tokenizer->truncation(), std::optional<int>(128));  // MiniLM's tokenizer.json says 128
  auto bpe = Tokenizer::from_file(testing::roberta_bpe_json());
  ASSERT_TRUE(bpe.ok());
  EXPECT_EQ(bpe->truncation(), std::optional<int>(512));  // none in the file: 512
}

TEST(Tokenizer, OneMegabyteOfTextEncodesConsistently) {
  // Starts with a space and ends without one, so every repetition pre-tokenises identically.
  std::string sentence = " Reuters reported that cocoa prices rose 3.5% in Bahia, São Paulo.";
  std::string text;
  while (text.size() < (1 << 20)) text += sentence;
  for (const Tokenizer* tokenizer : {&minilm(), &roberta()}) {
    auto whole = tokenizer->encode(text, false);
    auto once = tokenizer->encode(sentence, false);
    ASSERT_TRUE(whole.ok() && once.ok());
    const size_t repeats = text.size() / sentence.size();
    ASSERT_EQ(whole->size(), once->size() * repeats);
    // The last repetition's tokens are the sentence's tokens, shifted by its character offset.
    const int32_t shift = static_cast<int32_t>((repeats - 1) * (sentence.size() - 1));  // 'ã' is 2 bytes
    for (size_t i = 0; i < once->size(); ++i) {
      size_t j = whole->size() - once->size() + i;
      EXPECT_EQ(whole->ids[j], once->ids[i]);
      EXPECT_EQ(whole->offsets[j].first, once->offsets[i].first + shift);
    }
  }
}

TEST(Tokenizer, LongWordWithoutSpacesDoesNotBlowUp) {
  // 1 MB of letters is one BPE word: merging must stay O(n log n).
  std::string word(1 << 20, 'a');
  auto encoding = roberta().encode(word, false);
  ASSERT_TRUE(encoding.ok());
  EXPECT_GT(encoding->size(), 1000u);
  EXPECT_EQ(encoding->offsets.back().second, 1 << 20);
  auto unk = minilm().encode(word, false);
  ASSERT_TRUE(unk.ok());
  EXPECT_EQ(unk->ids, std::vector<int32_t>{100});
}

TEST(Tokenizer, RefusesInvalidUtf8WithTheByteOffset) {
  for (const Tokenizer* tokenizer : {&minilm(), &roberta()}) {
    auto bad = tokenizer->encode(std::string("abc\xff" "def"));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("byte offset 3"), std::string::npos) << bad.status().message();
    auto truncated = tokenizer->encode(std::string("ab\xe2\x82"));
    ASSERT_FALSE(truncated.ok());
    EXPECT_NE(truncated.status().message().find("byte offset 2"), std::string::npos);
    auto surrogate = tokenizer->encode(std::string("\xed\xa0\x80"));
    EXPECT_FALSE(surrogate.ok());
    auto pair = tokenizer->encode_pair("fine", std::string("\xc0\x80"));
    ASSERT_FALSE(pair.ok());
    EXPECT_NE(pair.status().message().find("second sequence"), std::string::npos);
  }
}

TEST(Tokenizer, VocabTxtLayoutMatchesTokenizerJson) {
  auto from_dir = Tokenizer::from_model_dir("tests/fixtures/tokenizers/minilm_wordpiece");
  ASSERT_TRUE(from_dir.ok()) << from_dir.status().to_string();
  // from_model_dir prefers tokenizer.json; load vocab.txt alone through a directory without it.
  const std::string dir = ::testing::TempDir() + "/jn_vocab_only";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(testing::minilm_dir() + "/vocab.txt", dir + "/vocab.txt",
                             std::filesystem::copy_options::overwrite_existing);
  auto from_vocab = Tokenizer::from_model_dir(dir);
  ASSERT_TRUE(from_vocab.ok()) << from_vocab.status().to_string();
  from_vocab->set_truncation(0);
  for (const EdgeCase& edge : edge_cases()) {
    if (edge.name.rfind("MiniLm", 0) != 0) continue;
    auto encoding = from_vocab->encode(edge.text);
    ASSERT_TRUE(encoding.ok());
    EXPECT_EQ(encoding->ids, edge.ids) << edge.name;
    EXPECT_EQ(encoding->offsets, edge.offsets) << edge.name;
  }
  EXPECT_EQ(from_vocab->vocab_size(), 30522);
}

TEST(Tokenizer, VocabularyLookups) {
  EXPECT_EQ(minilm().token_to_id("[CLS]"), std::optional<int32_t>(101));
  EXPECT_EQ(minilm().token_to_id("##ing"), std::optional<int32_t>(2075));
  EXPECT_EQ(minilm().token_to_id("no-such-token"), std::nullopt);
  EXPECT_EQ(minilm().id_to_token(7592), "hello");
  EXPECT_EQ(minilm().id_to_token(-1), "");
  EXPECT_EQ(minilm().id_to_token(1 << 30), "");
  EXPECT_EQ(minilm().vocab_size(), 30522);
  EXPECT_EQ(roberta().vocab_size(), 8000);
  EXPECT_EQ(roberta().token_to_id("<mask>"), std::optional<int32_t>(4));
}

TEST(Tokenizer, BatchMatchesSequentialEncoding) {
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("Text number " + std::to_string(i) + " about markets, ümlauts & 東京.");
  texts.push_back(std::string("bad \xff byte"));
  ThreadPool pool(2);
  auto results = roberta().encode_batch(texts, pool);
  ASSERT_EQ(results.size(), texts.size());
  for (size_t i = 0; i + 1 < texts.size(); ++i) {
    auto expected = roberta().encode(texts[i]);
    ASSERT_TRUE(results[i].ok());
    EXPECT_EQ(results[i]->ids, expected->ids);
    EXPECT_EQ(results[i]->offsets, expected->offsets);
  }
  EXPECT_FALSE(results.back().ok());
}

TEST(Tokenizer, RefusesMalformedTokenizerJson) {
  struct BadJson {
    std::string text;
    std::string expected_in_message;
  };
  const std::vector<BadJson> cases = {
      {"not json", "not valid JSON"},
      {"[]", "top level"},
      {"{}", "model: missing"},
      {R"({"model": {"type": "Unigram", "vocab": {}}})", "Unigram"},
      {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "[UNK]"}})", "unk_token"},
      {R"({"model": {"type": "WordPiece", "vocab": {"a": "x"}}})", "integer id"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})", "merge 0"},
      {R"({"normalizer": {"type": "Precompiled"}, "model": {"type": "BPE", "vocab": {}, "merges": []}})",
       "Precompiled"},
      {R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(\\s"}, "behavior": "Removed"},
           "model": {"type": "BPE", "vocab": {}, "merges": []}})", "pre_tokenizer.pattern.Regex"},
      {R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "post_processor": {"type": "BertProcessing"}})",
       "cls"},
      {R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "added_tokens": [{"id": "x"}]})",
       "added_tokens[0]"},
  };
  for (const BadJson& bad : cases) {
    auto tokenizer = Tokenizer::from_json(bad.text, "bad.json");
    ASSERT_FALSE(tokenizer.ok()) << bad.text;
    EXPECT_NE(tokenizer.status().message().find(bad.expected_in_message), std::string::npos)
        << tokenizer.status().message();
    EXPECT_NE(tokenizer.status().message().find("bad.json"), std::string::npos) << tokenizer.status().message();
  }
  EXPECT_EQ(Tokenizer::from_file("/nonexistent/tokenizer.json").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Tokenizer::from_model_dir("/nonexistent").status().code(), StatusCode::kNotFound);
}

TEST(Tokenizer, WithoutSpecialTokens) {
  auto encoding = minilm().encode("Hello world", false);
  ASSERT_TRUE(encoding.ok());
  EXPECT_EQ(encoding->ids, (std::vector<int32_t>{7592, 2088}));
  EXPECT_EQ(encoding->special_tokens_mask, (std::vector<int32_t>{0, 0}));
}

}  // namespace
}  // namespace justnews::tokenizer
