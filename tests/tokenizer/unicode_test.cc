// Unit tests for the Unicode helpers, normalisers and pre-tokenisers, against values worked out
// from the Unicode tables and the GPT-2 pattern by hand.
#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"

namespace justnews::tokenizer {
namespace {

std::vector<std::string> gpt2_split(std::string_view text) {
  std::vector<std::string> parts;
  split_gpt2_pattern(text, [&](size_t begin, size_t end) { parts.emplace_back(text.substr(begin, end - begin)); });
  return parts;
}

TEST(Unicode, ValidatesUtf8) {
  EXPECT_TRUE(validate_utf8("").ok());
  EXPECT_TRUE(validate_utf8("plain ascii text that is longer than eight bytes").ok());
  EXPECT_TRUE(validate_utf8("\xc3\xa9\xe6\x9d\xb1\xf0\x9f\x9a\x80").ok());
  EXPECT_FALSE(validate_utf8("\x80").ok());              // lone continuation byte
  EXPECT_FALSE(validate_utf8("\xc0\xaf").ok());          // overlong '/'
  EXPECT_FALSE(validate_utf8("\xf4\x90\x80\x80").ok());  // above U+10FFFF
  EXPECT_FALSE(validate_utf8("\xed\xbf\xbf").ok());      // surrogate
  EXPECT_FALSE(validate_utf8("abcdefgh\xe6\x9d").ok());  // truncated after the fast path
}

TEST(Unicode, CharacterClasses) {
  EXPECT_TRUE(is_whitespace(0x3000));
  EXPECT_TRUE(is_whitespace(0x85));
  EXPECT_FALSE(is_whitespace(0x200B));  // zero width space is Cf, not White_Space
  EXPECT_TRUE(is_bert_punctuation('$'));  // ASCII symbols count as punctuation for BERT
  EXPECT_TRUE(is_bert_punctuation(0x3001));
  EXPECT_FALSE(is_bert_punctuation(0x20AC));  // the euro sign is a symbol (Sc)
  EXPECT_TRUE(is_chinese_char(0x4E1C));
  EXPECT_FALSE(is_chinese_char(0x3042));  // hiragana is not in BERT's CJK blocks
  EXPECT_TRUE(is_nonspacing_mark(0x301));
  char32_t lowered[2];
  ASSERT_EQ(lowercase_code_points(0x130, lowered), 2);  // 'İ' → "i̇" as Rust's to_lowercase
  EXPECT_EQ(lowered[0], U'i');
  EXPECT_EQ(lowered[1], char32_t{0x307});
  ASSERT_EQ(lowercase_code_points(0x3A3, lowered), 1);  // 'Σ' → 'σ' (no final-sigma rule per char)
  EXPECT_EQ(lowered[0], char32_t{0x3C3});
}

TEST(PreTokenizer, Gpt2Pattern) {
  EXPECT_EQ(gpt2_split("Hello world's 123 abc!!  x\n"),
            (std::vector<std::string>{"Hello", " world", "'s", " 123", " abc", "!!", " ", " x", "\n"}));
  EXPECT_EQ(gpt2_split("  "), (std::vector<std::string>{"  "}));
  EXPECT_EQ(gpt2_split("a \nb"), (std::vector<std::string>{"a", " ", "\n", "b"}));
  EXPECT_EQ(gpt2_split("they'll I'M"), (std::vector<std::string>{"they", "'ll", " I", "'", "M"}));
}

NormalizedText normalize(const Normalizer& normalizer, std::string_view text) {
  NormalizedText normalized;
  NormalizedText scratch;
  normalized.reset(text, 0, static_cast<uint32_t>(text.size()));
  normalizer.normalize(normalized, scratch);
  return normalized;
}

TEST(Normalizer, UnicodeFormsKeepAlignments) {
  auto nfd = make_unicode_normalizer(UnicodeForm::kNfd);
  NormalizedText decomposed = normalize(*nfd, "\xc3\xa9x");  // "éx"
  EXPECT_EQ(decomposed.text, "e\xcc\x81x");
  ASSERT_EQ(decomposed.alignment.size(), 4u);
  EXPECT_EQ(decomposed.alignment[2].start, 0u);  // the accent still points at 'é'
  EXPECT_EQ(decomposed.alignment[2].end, 2u);
  EXPECT_EQ(decomposed.alignment[3].start, 2u);
  auto nfc = make_unicode_normalizer(UnicodeForm::kNfc);
  EXPECT_EQ(normalize(*nfc, "e\xcc\x81").text, "\xc3\xa9");
  auto nfkc = make_unicode_normalizer(UnicodeForm::kNfkc);
  EXPECT_EQ(normalize(*nfkc, "\xef\xac\x81").text, "fi");  // the ligature 'ﬁ'
  auto strip = make_strip_normalizer(true, true);
  NormalizedText stripped = normalize(*strip, " \t ab \xe3\x80\x80");
  EXPECT_EQ(stripped.text, "ab");
  EXPECT_EQ(stripped.alignment[0].start, 3u);
  auto replace = make_replace_normalizer("``", "\"");
  EXPECT_EQ(normalize(*replace, "a``b``").text, "a\"b\"");
}

TEST(PreTokenizer, SplitBehaviors) {
  NormalizedText text;
  const std::string input = "a-b--c";
  text.reset(input, 0, static_cast<uint32_t>(input.size()));
  auto run = [&](const PreTokenizer& pre_tokenizer) {
    std::vector<Piece> out;
    pre_tokenizer.split(text, {Piece{0, static_cast<uint32_t>(input.size()), false}}, out);
    std::vector<std::string> parts;
    for (const Piece& piece : out) parts.push_back(input.substr(piece.start, piece.end - piece.start));
    return parts;
  };
  EXPECT_EQ(run(*make_split_pre_tokenizer("-", SplitBehavior::kRemoved, false)),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(run(*make_split_pre_tokenizer("-", SplitBehavior::kIsolated, false)),
            (std::vector<std::string>{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(run(*make_split_pre_tokenizer("-", SplitBehavior::kContiguous, false)),
            (std::vector<std::string>{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(run(*make_split_pre_tokenizer("-", SplitBehavior::kMergedWithPrevious, false)),
            (std::vector<std::string>{"a-", "b-", "-", "c"}));
  EXPECT_EQ(run(*make_split_pre_tokenizer("-", SplitBehavior::kMergedWithNext, false)),
            (std::vector<std::string>{"a", "-b", "-", "-c"}));
  EXPECT_EQ(run(*make_punctuation_pre_tokenizer(SplitBehavior::kIsolated)),
            (std::vector<std::string>{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(run(*make_whitespace_pre_tokenizer()), (std::vector<std::string>{"a", "-", "b", "--", "c"}));
}

}  // namespace
}  // namespace justnews::tokenizer
