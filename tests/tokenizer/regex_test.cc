// Regex patterns (Split pre-tokenizer, Replace normaliser) against Hugging Face `tokenizers`
// 0.23.3 (Oniguruma). The SplitCase and ReplaceCase rows were printed by
//   .venv/bin/python tools/print_regex_cases.py
// and the RegexBpe encodings by
//   t = Tokenizer.from_file("tests/fixtures/tokenizers/regex_bpe/tokenizer.json")
//   t.no_padding(); t.no_truncation(); e = t.encode(text); print(e.ids, e.offsets)
// They cover every split behaviour with and without invert, empty matches (lookahead, x*), and
// the escapes whose meaning differs between Oniguruma and ICU (\s with \v and U+0085, \w with
// No and Pc, ^ per line, '.' and \n).
#include "tokenizer/regex.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace justnews::tokenizer {
namespace {

using Offsets = std::vector<std::pair<int32_t, int32_t>>;

struct ExpectedPiece {
  std::string text;
  uint32_t char_start;
  uint32_t char_end;
  bool operator==(const ExpectedPiece& other) const {
    return text == other.text && char_start == other.char_start && char_end == other.char_end;
  }
};

void PrintTo(const ExpectedPiece& piece, std::ostream* out) {
  *out << "{\"" << piece.text << "\", " << piece.char_start << ", " << piece.char_end << "}";
}

struct SplitCase {
  std::string pattern;
  std::string text;
  std::string behavior;
  bool invert;
  std::vector<ExpectedPiece> pieces;
};

struct ReplaceCase {
  std::string pattern;
  std::string content;
  std::string text;
  std::string expected;
};

const std::vector<SplitCase>& split_cases() {
  static const std::vector<SplitCase> cases = {
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "removed", false, {{"Q", 0, 1}, {" sales rose ", 2, 14}, {"% to ", 16, 21}, {",", 22, 23}, {" units", 26, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "removed", true, {{"3", 1, 2}, {"12", 14, 16}, {"4", 21, 22}, {"500", 23, 26}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "isolated", false, {{"Q", 0, 1}, {"3", 1, 2}, {" sales rose ", 2, 14}, {"12", 14, 16}, {"% to ", 16, 21}, {"4", 21, 22}, {",", 22, 23}, {"500", 23, 26}, {" units", 26, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "isolated", true, {{"Q", 0, 1}, {"3", 1, 2}, {" sales rose ", 2, 14}, {"12", 14, 16}, {"% to ", 16, 21}, {"4", 21, 22}, {",", 22, 23}, {"500", 23, 26}, {" units", 26, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "merged_with_previous", false, {{"Q3", 0, 2}, {" sales rose 12", 2, 16}, {"% to 4", 16, 22}, {",500", 22, 26}, {" units", 26, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "merged_with_previous", true, {{"Q", 0, 1}, {"3 sales rose ", 1, 14}, {"12% to ", 14, 21}, {"4,", 21, 23}, {"500 units", 23, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "merged_with_next", false, {{"Q", 0, 1}, {"3 sales rose ", 1, 14}, {"12% to ", 14, 21}, {"4,", 21, 23}, {"500 units", 23, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "merged_with_next", true, {{"Q3", 0, 2}, {" sales rose 12", 2, 16}, {"% to 4", 16, 22}, {",500", 22, 26}, {" units", 26, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "contiguous", false, {{"Q", 0, 1}, {"3", 1, 2}, {" sales rose ", 2, 14}, {"12", 14, 16}, {"% to ", 16, 21}, {"4", 21, 22}, {",", 22, 23}, {"500", 23, 26}, {" units", 26, 32}}},
    {R"(\d+)", "Q3 sales rose 12% to 4,500 units", "contiguous", true, {{"Q", 0, 1}, {"3", 1, 2}, {" sales rose ", 2, 14}, {"12", 14, 16}, {"% to ", 16, 21}, {"4", 21, 22}, {",", 22, 23}, {"500", 23, 26}, {" units", 26, 32}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "removed", false, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "removed", true, {}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "isolated", false, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "isolated", true, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "merged_with_previous", false, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "merged_with_previous", true, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "merged_with_next", false, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "merged_with_next", true, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "contiguous", false, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"((?=[A-Z]))", "NewYorkStockExchange", "contiguous", true, {{"New", 0, 3}, {"York", 3, 7}, {"Stock", 7, 12}, {"Exchange", 12, 20}}},
    {R"(a*)", "baab", "removed", false, {{"b", 0, 1}, {"b", 3, 4}}},
    {R"(a*)", "baab", "removed", true, {{"aa", 1, 3}}},
    {R"(a*)", "baab", "isolated", false, {{"b", 0, 1}, {"aa", 1, 3}, {"b", 3, 4}}},
    {R"(a*)", "baab", "isolated", true, {{"b", 0, 1}, {"aa", 1, 3}, {"b", 3, 4}}},
    {R"(a*)", "baab", "merged_with_previous", false, {{"baa", 0, 3}, {"b", 3, 4}}},
    {R"(a*)", "baab", "merged_with_previous", true, {{"b", 0, 1}, {"aab", 1, 4}}},
    {R"(a*)", "baab", "merged_with_next", false, {{"b", 0, 1}, {"aab", 1, 4}}},
    {R"(a*)", "baab", "merged_with_next", true, {{"baa", 0, 3}, {"b", 3, 4}}},
    {R"(a*)", "baab", "contiguous", false, {{"b", 0, 1}, {"aa", 1, 3}, {"b", 3, 4}}},
    {R"(a*)", "baab", "contiguous", true, {{"b", 0, 1}, {"aa", 1, 3}, {"b", 3, 4}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "removed", false, {{"a", 0, 1}, {"b", 2, 3}, {"c", 4, 5}, {"d", 6, 7}, {"e", 8, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "removed", true, {{"\x0b""", 1, 2}, {"\xc2\x85""", 3, 4}, {" ", 5, 6}, {"\xe3\x80\x80""", 7, 8}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "isolated", false, {{"a", 0, 1}, {"\x0b""", 1, 2}, {"b", 2, 3}, {"\xc2\x85""", 3, 4}, {"c", 4, 5}, {" ", 5, 6}, {"d", 6, 7}, {"\xe3\x80\x80""", 7, 8}, {"e", 8, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "isolated", true, {{"a", 0, 1}, {"\x0b""", 1, 2}, {"b", 2, 3}, {"\xc2\x85""", 3, 4}, {"c", 4, 5}, {" ", 5, 6}, {"d", 6, 7}, {"\xe3\x80\x80""", 7, 8}, {"e", 8, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "merged_with_previous", false, {{"a\x0b""", 0, 2}, {"b\xc2\x85""", 2, 4}, {"c ", 4, 6}, {"d\xe3\x80\x80""", 6, 8}, {"e", 8, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "merged_with_previous", true, {{"a", 0, 1}, {"\x0b""b", 1, 3}, {"\xc2\x85""c", 3, 5}, {" d", 5, 7}, {"\xe3\x80\x80""e", 7, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "merged_with_next", false, {{"a", 0, 1}, {"\x0b""b", 1, 3}, {"\xc2\x85""c", 3, 5}, {" d", 5, 7}, {"\xe3\x80\x80""e", 7, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "merged_with_next", true, {{"a\x0b""", 0, 2}, {"b\xc2\x85""", 2, 4}, {"c ", 4, 6}, {"d\xe3\x80\x80""", 6, 8}, {"e", 8, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "contiguous", false, {{"a", 0, 1}, {"\x0b""", 1, 2}, {"b", 2, 3}, {"\xc2\x85""", 3, 4}, {"c", 4, 5}, {" ", 5, 6}, {"d", 6, 7}, {"\xe3\x80\x80""", 7, 8}, {"e", 8, 9}}},
    {R"(\s)", "a\x0b""b\xc2\x85""c d\xe3\x80\x80""e", "contiguous", true, {{"a", 0, 1}, {"\x0b""", 1, 2}, {"b", 2, 3}, {"\xc2\x85""", 3, 4}, {"c", 4, 5}, {" ", 5, 6}, {"d", 6, 7}, {"\xe3\x80\x80""", 7, 8}, {"e", 8, 9}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "removed", false, {{" ", 5, 6}, {" ", 12, 13}, {" ", 14, 15}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "removed", true, {{"na\xc3\xaf""ve", 0, 5}, {"caf\xc3\xa9""_x", 6, 12}, {"\xc2\xbd""", 13, 14}, {"\xe6\x9d\xb1""\xe4\xba\xac""", 15, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "isolated", false, {{"na\xc3\xaf""ve", 0, 5}, {" ", 5, 6}, {"caf\xc3\xa9""_x", 6, 12}, {" ", 12, 13}, {"\xc2\xbd""", 13, 14}, {" ", 14, 15}, {"\xe6\x9d\xb1""\xe4\xba\xac""", 15, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "isolated", true, {{"na\xc3\xaf""ve", 0, 5}, {" ", 5, 6}, {"caf\xc3\xa9""_x", 6, 12}, {" ", 12, 13}, {"\xc2\xbd""", 13, 14}, {" ", 14, 15}, {"\xe6\x9d\xb1""\xe4\xba\xac""", 15, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "merged_with_previous", false, {{"na\xc3\xaf""ve", 0, 5}, {" caf\xc3\xa9""_x", 5, 12}, {" \xc2\xbd""", 12, 14}, {" \xe6\x9d\xb1""\xe4\xba\xac""", 14, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "merged_with_previous", true, {{"na\xc3\xaf""ve ", 0, 6}, {"caf\xc3\xa9""_x ", 6, 13}, {"\xc2\xbd"" ", 13, 15}, {"\xe6\x9d\xb1""\xe4\xba\xac""", 15, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "merged_with_next", false, {{"na\xc3\xaf""ve ", 0, 6}, {"caf\xc3\xa9""_x ", 6, 13}, {"\xc2\xbd"" ", 13, 15}, {"\xe6\x9d\xb1""\xe4\xba\xac""", 15, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "merged_with_next", true, {{"na\xc3\xaf""ve", 0, 5}, {" caf\xc3\xa9""_x", 5, 12}, {" \xc2\xbd""", 12, 14}, {" \xe6\x9d\xb1""\xe4\xba\xac""", 14, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "contiguous", false, {{"na\xc3\xaf""ve", 0, 5}, {" ", 5, 6}, {"caf\xc3\xa9""_x", 6, 12}, {" ", 12, 13}, {"\xc2\xbd""", 13, 14}, {" ", 14, 15}, {"\xe6\x9d\xb1""\xe4\xba\xac""", 15, 17}}},
    {R"(\w+)", "na\xc3\xaf""ve caf\xc3\xa9""_x \xc2\xbd"" \xe6\x9d\xb1""\xe4\xba\xac""", "contiguous", true, {{"na\xc3\xaf""ve", 0, 5}, {" ", 5, 6}, {"caf\xc3\xa9""_x", 6, 12}, {" ", 12, 13}, {"\xc2\xbd""", 13, 14}, {" ", 14, 15}, {"\xe6\x9d\xb1""\xe4\xba\xac""", 15, 17}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "removed", false, {{"Z\xc3\xbc""rich", 0, 6}, {"\xc2\xb7""", 8, 9}, {"B\xc3\xb6""rse", 10, 15}, {"up", 18, 20}, {"\xf0\x9f\x93\x88""", 21, 22}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "removed", true, {{" ", 6, 7}, {" ", 7, 8}, {" ", 9, 10}, {"  ", 15, 17}, {" ", 17, 18}, {" ", 20, 21}, {"  ", 22, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "isolated", false, {{"Z\xc3\xbc""rich", 0, 6}, {" ", 6, 7}, {" ", 7, 8}, {"\xc2\xb7""", 8, 9}, {" ", 9, 10}, {"B\xc3\xb6""rse", 10, 15}, {"  ", 15, 17}, {" ", 17, 18}, {"up", 18, 20}, {" ", 20, 21}, {"\xf0\x9f\x93\x88""", 21, 22}, {"  ", 22, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "isolated", true, {{"Z\xc3\xbc""rich", 0, 6}, {" ", 6, 7}, {" ", 7, 8}, {"\xc2\xb7""", 8, 9}, {" ", 9, 10}, {"B\xc3\xb6""rse", 10, 15}, {"  ", 15, 17}, {" ", 17, 18}, {"up", 18, 20}, {" ", 20, 21}, {"\xf0\x9f\x93\x88""", 21, 22}, {"  ", 22, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "merged_with_previous", false, {{"Z\xc3\xbc""rich ", 0, 7}, {" ", 7, 8}, {"\xc2\xb7"" ", 8, 10}, {"B\xc3\xb6""rse  ", 10, 17}, {" ", 17, 18}, {"up ", 18, 21}, {"\xf0\x9f\x93\x88""  ", 21, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "merged_with_previous", true, {{"Z\xc3\xbc""rich", 0, 6}, {" ", 6, 7}, {" \xc2\xb7""", 7, 9}, {" B\xc3\xb6""rse", 9, 15}, {"  ", 15, 17}, {" up", 17, 20}, {" \xf0\x9f\x93\x88""", 20, 22}, {"  ", 22, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "merged_with_next", false, {{"Z\xc3\xbc""rich", 0, 6}, {" ", 6, 7}, {" \xc2\xb7""", 7, 9}, {" B\xc3\xb6""rse", 9, 15}, {"  ", 15, 17}, {" up", 17, 20}, {" \xf0\x9f\x93\x88""", 20, 22}, {"  ", 22, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "merged_with_next", true, {{"Z\xc3\xbc""rich ", 0, 7}, {" ", 7, 8}, {"\xc2\xb7"" ", 8, 10}, {"B\xc3\xb6""rse  ", 10, 17}, {" ", 17, 18}, {"up ", 18, 21}, {"\xf0\x9f\x93\x88""  ", 21, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "contiguous", false, {{"Z\xc3\xbc""rich", 0, 6}, {"  ", 6, 8}, {"\xc2\xb7""", 8, 9}, {" ", 9, 10}, {"B\xc3\xb6""rse", 10, 15}, {"   ", 15, 18}, {"up", 18, 20}, {" ", 20, 21}, {"\xf0\x9f\x93\x88""", 21, 22}, {"  ", 22, 24}}},
    {R"(\s+(?!\S)|\s+)", "Z\xc3\xbc""rich  \xc2\xb7"" B\xc3\xb6""rse   up \xf0\x9f\x93\x88""  ", "contiguous", true, {{"Z\xc3\xbc""rich", 0, 6}, {"  ", 6, 8}, {"\xc2\xb7""", 8, 9}, {" ", 9, 10}, {"B\xc3\xb6""rse", 10, 15}, {"   ", 15, 18}, {"up", 18, 20}, {" ", 20, 21}, {"\xf0\x9f\x93\x88""", 21, 22}, {"  ", 22, 24}}},
    {R"(^\w)", "line one\x0a""line two", "removed", false, {{"ine one\x0a""", 1, 9}, {"ine two", 10, 17}}},
    {R"(^\w)", "line one\x0a""line two", "removed", true, {{"l", 0, 1}, {"l", 9, 10}}},
    {R"(^\w)", "line one\x0a""line two", "isolated", false, {{"l", 0, 1}, {"ine one\x0a""", 1, 9}, {"l", 9, 10}, {"ine two", 10, 17}}},
    {R"(^\w)", "line one\x0a""line two", "isolated", true, {{"l", 0, 1}, {"ine one\x0a""", 1, 9}, {"l", 9, 10}, {"ine two", 10, 17}}},
    {R"(^\w)", "line one\x0a""line two", "merged_with_previous", false, {{"l", 0, 1}, {"ine one\x0a""l", 1, 10}, {"ine two", 10, 17}}},
    {R"(^\w)", "line one\x0a""line two", "merged_with_previous", true, {{"line one\x0a""", 0, 9}, {"line two", 9, 17}}},
    {R"(^\w)", "line one\x0a""line two", "merged_with_next", false, {{"line one\x0a""", 0, 9}, {"line two", 9, 17}}},
    {R"(^\w)", "line one\x0a""line two", "merged_with_next", true, {{"l", 0, 1}, {"ine one\x0a""l", 1, 10}, {"ine two", 10, 17}}},
    {R"(^\w)", "line one\x0a""line two", "contiguous", false, {{"l", 0, 1}, {"ine one\x0a""", 1, 9}, {"l", 9, 10}, {"ine two", 10, 17}}},
    {R"(^\w)", "line one\x0a""line two", "contiguous", true, {{"l", 0, 1}, {"ine one\x0a""", 1, 9}, {"l", 9, 10}, {"ine two", 10, 17}}},
    {R"(e.)", "be\x0a""here", "removed", false, {{"be\x0a""h", 0, 4}, {"e", 6, 7}}},
    {R"(e.)", "be\x0a""here", "removed", true, {{"er", 4, 6}}},
    {R"(e.)", "be\x0a""here", "isolated", false, {{"be\x0a""h", 0, 4}, {"er", 4, 6}, {"e", 6, 7}}},
    {R"(e.)", "be\x0a""here", "isolated", true, {{"be\x0a""h", 0, 4}, {"er", 4, 6}, {"e", 6, 7}}},
    {R"(e.)", "be\x0a""here", "merged_with_previous", false, {{"be\x0a""her", 0, 6}, {"e", 6, 7}}},
    {R"(e.)", "be\x0a""here", "merged_with_previous", true, {{"be\x0a""h", 0, 4}, {"ere", 4, 7}}},
    {R"(e.)", "be\x0a""here", "merged_with_next", false, {{"be\x0a""h", 0, 4}, {"ere", 4, 7}}},
    {R"(e.)", "be\x0a""here", "merged_with_next", true, {{"be\x0a""her", 0, 6}, {"e", 6, 7}}},
    {R"(e.)", "be\x0a""here", "contiguous", false, {{"be\x0a""h", 0, 4}, {"er", 4, 6}, {"e", 6, 7}}},
    {R"(e.)", "be\x0a""here", "contiguous", true, {{"be\x0a""h", 0, 4}, {"er", 4, 6}, {"e", 6, 7}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "removed", false, {{"x", 1, 2}, {" ", 4, 5}, {" zz\x09""", 7, 11}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "removed", true, {{"0", 0, 1}, {"1F", 2, 4}, {"ff", 5, 7}, {"9", 11, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "isolated", false, {{"0", 0, 1}, {"x", 1, 2}, {"1F", 2, 4}, {" ", 4, 5}, {"ff", 5, 7}, {" zz\x09""", 7, 11}, {"9", 11, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "isolated", true, {{"0", 0, 1}, {"x", 1, 2}, {"1F", 2, 4}, {" ", 4, 5}, {"ff", 5, 7}, {" zz\x09""", 7, 11}, {"9", 11, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "merged_with_previous", false, {{"0", 0, 1}, {"x1F", 1, 4}, {" ff", 4, 7}, {" zz\x09""9", 7, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "merged_with_previous", true, {{"0x", 0, 2}, {"1F ", 2, 5}, {"ff zz\x09""", 5, 11}, {"9", 11, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "merged_with_next", false, {{"0x", 0, 2}, {"1F ", 2, 5}, {"ff zz\x09""", 5, 11}, {"9", 11, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "merged_with_next", true, {{"0", 0, 1}, {"x1F", 1, 4}, {" ff", 4, 7}, {" zz\x09""9", 7, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "contiguous", false, {{"0", 0, 1}, {"x", 1, 2}, {"1F", 2, 4}, {" ", 4, 5}, {"ff", 5, 7}, {" zz\x09""", 7, 11}, {"9", 11, 12}}},
    {R"(\h+)", "0x1F ff zz\x09""9", "contiguous", true, {{"0", 0, 1}, {"x", 1, 2}, {"1F", 2, 4}, {" ", 4, 5}, {"ff", 5, 7}, {" zz\x09""", 7, 11}, {"9", 11, 12}}},
  };
  return cases;
}

const std::vector<ReplaceCase>& replace_cases() {
  static const std::vector<ReplaceCase> cases = {
    {R"(\s+)", " ", "Oil\x0a""\x0a"" prices\x09"" rose \xc2\xa0"" 5%", "Oil prices rose 5%"},
    {R"(x*)", "-", "axxb", "-a-b-"},
    {R"(\p{N}+)", "#", "Q3 rose 4,500 \xd9\xa1""\xd9\xa2"" units", "Q# rose #,# # units"},
    {R"((?<=\p{Lu})\.)", "", "U.S. and U.K. deals", "US and UK deals"},
  };
  return cases;
}

SplitBehavior behavior_named(const std::string& name) {
  if (name == "removed") return SplitBehavior::kRemoved;
  if (name == "isolated") return SplitBehavior::kIsolated;
  if (name == "merged_with_previous") return SplitBehavior::kMergedWithPrevious;
  if (name == "merged_with_next") return SplitBehavior::kMergedWithNext;
  return SplitBehavior::kContiguous;
}

// Character (code point) index of byte offset `byte` in `text`, as HF Python reports offsets.
uint32_t char_index(const std::string& text, uint32_t byte) {
  uint32_t count = 0;
  for (uint32_t i = 0; i < byte; ++i) count += (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
  return count;
}

std::vector<ExpectedPiece> split_with(const PreTokenizer& pre_tokenizer, const std::string& text) {
  NormalizedText normalized;
  normalized.reset(text, 0, static_cast<uint32_t>(text.size()));
  std::vector<Piece> pieces;
  pre_tokenizer.split(normalized, {Piece{0, static_cast<uint32_t>(text.size()), false}}, pieces);
  std::vector<ExpectedPiece> result;
  for (const Piece& piece : pieces) {
    result.push_back(ExpectedPiece{text.substr(piece.start, piece.end - piece.start), char_index(text, piece.start),
                                   char_index(text, piece.end)});
  }
  return result;
}

std::shared_ptr<const Regex> compile_or_die(const std::string& pattern) {
  auto regex = Regex::compile(pattern, "test");
  EXPECT_TRUE(regex.ok()) << regex.status().to_string();
  return regex.ok() ? *regex : nullptr;
}

TEST(RegexSplit, MatchesHuggingFaceForEveryBehaviourAndInvert) {
  for (const SplitCase& test : split_cases()) {
    auto regex = compile_or_die(test.pattern);
    ASSERT_NE(regex, nullptr);
    auto pre_tokenizer = make_regex_split_pre_tokenizer(regex, behavior_named(test.behavior), test.invert);
    EXPECT_EQ(split_with(*pre_tokenizer, test.text), test.pieces)
        << "pattern " << test.pattern << ", behavior " << test.behavior << ", invert " << test.invert
        << ", text '" << test.text << "'";
  }
}

TEST(RegexSplit, LiteralAndRegexSplitAgreeOnPlainPatterns) {
  // A String pattern is an escaped regex in HF; both of our paths must give the same pieces.
  const std::string text = "rates -- cut -- again --";
  for (const char* behavior : {"removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"}) {
    auto literal = make_split_pre_tokenizer("--", behavior_named(behavior), false);
    auto regex = make_regex_split_pre_tokenizer(compile_or_die("--"), behavior_named(behavior), false);
    EXPECT_EQ(split_with(*regex, text), split_with(*literal, text)) << behavior;
  }
}

TEST(RegexReplace, MatchesHuggingFace) {
  for (const ReplaceCase& test : replace_cases()) {
    auto regex = compile_or_die(test.pattern);
    ASSERT_NE(regex, nullptr);
    auto normalizer = make_regex_replace_normalizer(regex, test.content);
    NormalizedText text;
    NormalizedText scratch;
    text.reset(test.text, 0, static_cast<uint32_t>(test.text.size()));
    normalizer->normalize(text, scratch);
    EXPECT_EQ(text.text, test.expected) << "pattern " << test.pattern;
    ASSERT_EQ(text.alignment.size(), text.text.size()) << "pattern " << test.pattern;
  }
}

TEST(RegexReplace, InsertedTextTakesTheLastReplacedCharactersAlignment) {
  auto normalizer = make_regex_replace_normalizer(compile_or_die("\\s+"), "_");
  NormalizedText text;
  NormalizedText scratch;
  text.reset("a \t\nb", 0, 5);
  normalizer->normalize(text, scratch);
  ASSERT_EQ(text.text, "a_b");
  EXPECT_EQ(text.alignment[1].start, 3u);
  EXPECT_EQ(text.alignment[1].end, 4u);
  EXPECT_EQ(text.alignment[2].start, 4u);
}

TEST(Regex, BadPatternIsAnErrorNamingTheJsonPath) {
  const std::vector<std::string> bad_patterns = {"(unclosed", "[a-", "a{2,1}", "*a", "(?<name", "\\p{NoSuchClass}"};
  for (const std::string& pattern : bad_patterns) {
    auto regex = Regex::compile(pattern, "tokenizer.json: pre_tokenizer.pattern.Regex");
    ASSERT_FALSE(regex.ok()) << pattern;
    EXPECT_EQ(regex.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(regex.status().message().find("pre_tokenizer.pattern.Regex"), std::string::npos)
        << regex.status().message();
    EXPECT_NE(regex.status().message().find(pattern), std::string::npos) << regex.status().message();
  }
  EXPECT_FALSE(Regex::compile("\xff", "here").ok());

  const std::string bad_split =
      R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a|b"},
          "behavior": "Isolated", "invert": false}]}, "model": {"type": "BPE", "vocab": {}, "merges": []}})";
  auto split = Tokenizer::from_json(bad_split, "bad.json");
  ASSERT_FALSE(split.ok());
  EXPECT_NE(split.status().message().find("bad.json: pre_tokenizer.pretokenizers[0].pattern.Regex"),
            std::string::npos)
      << split.status().message();
  const std::string bad_replace =
      R"({"normalizer": {"type": "Replace", "pattern": {"Regex": "[\\s"}, "content": " "},
          "model": {"type": "BPE", "vocab": {}, "merges": []}})";
  auto replace = Tokenizer::from_json(bad_replace, "bad.json");
  ASSERT_FALSE(replace.ok());
  EXPECT_NE(replace.status().message().find("bad.json: normalizer.pattern.Regex"), std::string::npos)
      << replace.status().message();
}

Tokenizer regex_bpe() {
  auto tokenizer = Tokenizer::from_file("tests/fixtures/tokenizers/regex_bpe/tokenizer.json");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  tokenizer->set_truncation(0);
  return std::move(tokenizer).value();
}

TEST(RegexBpe, EncodesLikeHuggingFace) {
  struct Case {
    std::string text;
    std::vector<int32_t> ids;
    Offsets offsets;
  };
  const std::vector<Case> cases = {
      {"Oil\n\n  prices\t rose 5%  ", {0, 51, 296, 766, 930, 468, 9, 225, 2},
       {{0, 0}, {0, 1}, {1, 3}, {7, 13}, {15, 19}, {20, 21}, {21, 22}, {24, 24}, {0, 0}}},
      {"Z\xc3\xbc""rich\xe3\x80\x80""B\xc3\xb6""rse isn't   up \xf0\x9f\x93\x88""",
       {0, 62, 132, 125, 439, 76, 348, 132, 119, 86, 501, 357, 82, 1757, 578, 225, 177, 258, 246, 235, 2},
       {{0, 0}, {0, 1}, {1, 2}, {1, 2}, {2, 5}, {5, 6}, {7, 8}, {8, 9}, {8, 9}, {9, 10}, {10, 12}, {13, 15},
        {15, 16}, {16, 18}, {21, 23}, {24, 24}, {24, 25}, {24, 25}, {24, 25}, {24, 25}, {0, 0}}},
      {"", {0, 2}, {{0, 0}, {0, 0}}},
  };
  Tokenizer tokenizer = regex_bpe();
  for (const Case& test : cases) {
    auto encoding = tokenizer.encode(test.text);
    ASSERT_TRUE(encoding.ok()) << encoding.status().to_string();
    EXPECT_EQ(encoding->ids, test.ids) << test.text;
    Offsets offsets(encoding->offsets.begin(), encoding->offsets.end());
    EXPECT_EQ(offsets, test.offsets) << test.text;
  }
}

TEST(RegexBpe, SharedAcrossThreadsGivesTheSameEncodings) {
  Tokenizer tokenizer = regex_bpe();
  const std::vector<std::string> texts = {"Oil prices rose 5% on Tuesday.", "Stocks   fell\n\nsharply",
                                          "Z\xc3\xbc""rich isn't up", "  leading and trailing  "};
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& text : texts) expected.push_back(tokenizer.encode(text)->ids);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int thread_idx = 0; thread_idx < 4; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          auto encoding = tokenizer.encode(texts[i]);
          if (!encoding.ok() || encoding->ids != expected[i]) ++failures[thread_idx];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace justnews::tokenizer
