// Regex on ICU (see regex.h). Text is converted to UTF-16 once per call with a table from UTF-16
// index to byte offset, which keeps ICU on its fast contiguous-buffer path.
#include "tokenizer/regex.h"

#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <optional>
#include <utility>

#include "tokenizer/unicode.h"

namespace justnews::tokenizer {
namespace {

// Oniguruma (Unicode, Ruby syntax) and ICU disagree on a few escapes; rewrite them to explicit
// sets with Oniguruma's meaning. \w is Letter|Mark|Number|Connector_Punctuation in Oniguruma but
// excludes No (e.g. U+00BD) in ICU; \h is a hex digit in Ruby and horizontal space in ICU. \s is
// White_Space in both (ICU 72), spelled out so older ICU versions ([\t\n\f\r\p{Z}]) agree too.
// Everything else used by tokenizer.json files (\p{..}, lookaround, quantifiers) means the same.
std::string translate_onig_to_icu(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t pos = 0; pos < pattern.size(); ++pos) {
    char c = pattern[pos];
    if (c != '\\' || pos + 1 == pattern.size()) {
      out.push_back(c);
      continue;
    }
    char escaped = pattern[++pos];
    switch (escaped) {
      case 's': out += "\\p{White_Space}"; break;
      case 'S': out += "\\P{White_Space}"; break;
      case 'w': out += "[\\p{L}\\p{M}\\p{N}\\p{Pc}]"; break;
      case 'W': out += "[^\\p{L}\\p{M}\\p{N}\\p{Pc}]"; break;
      case 'h': out += "[0-9a-fA-F]"; break;
      case 'H': out += "[^0-9a-fA-F]"; break;
      default:
        out.push_back('\\');
        out.push_back(escaped);
    }
  }
  return out;
}

}  // namespace

struct Regex::Impl {
  std::unique_ptr<icu::RegexPattern> pattern;
};

Regex::Regex(std::string pattern, std::unique_ptr<Impl> impl) : pattern_(std::move(pattern)), impl_(std::move(impl)) {}
Regex::~Regex() = default;

Result<std::shared_ptr<const Regex>> Regex::compile(std::string_view pattern, const std::string& where) {
  if (!validate_utf8(pattern).ok()) return invalid_argument(where + ": regex pattern is not valid UTF-8");
  const std::string translated = translate_onig_to_icu(pattern);
  UParseError parse_error{};
  UErrorCode status = U_ZERO_ERROR;
  // Ruby syntax: ^ and $ match at every line, and only \n ends a line (also for '.').
  std::unique_ptr<icu::RegexPattern> compiled(icu::RegexPattern::compile(
      icu::UnicodeString::fromUTF8(translated), UREGEX_MULTILINE | UREGEX_UNIX_LINES, parse_error, status));
  if (U_FAILURE(status) || !compiled) {
    return invalid_argument(where + ": bad regex '" + std::string(pattern) + "': " + u_errorName(status) +
                            " near line " + std::to_string(parse_error.line) + " offset " +
                            std::to_string(parse_error.offset) + " (ICU syntax after translating Oniguruma escapes)");
  }
  auto impl = std::make_unique<Impl>();
  impl->pattern = std::move(compiled);
  return std::shared_ptr<const Regex>(new Regex(std::string(pattern), std::move(impl)));
}

struct RegexSearcher::State {
  std::unique_ptr<icu::RegexMatcher> matcher;
  std::u16string units;
  std::vector<uint32_t> byte_of_unit;  // byte offset of each UTF-16 index, plus the end
  icu::UnicodeString input;            // read-only alias of `units`, which ICU keeps a reference to
};

RegexSearcher::RegexSearcher(const Regex& regex) : state_(std::make_unique<State>()) {
  UErrorCode status = U_ZERO_ERROR;
  // matcher() on a compiled pattern only fails on allocation failure.
  state_->matcher.reset(regex.impl_->pattern->matcher(status));
}

RegexSearcher::~RegexSearcher() = default;

void RegexSearcher::find_all(std::string_view text, std::vector<ByteRange>& matches) {
  matches.clear();
  State& state = *state_;
  if (!state.matcher || text.empty()) return;
  state.units.clear();
  state.byte_of_unit.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length;
    char32_t c = decode_utf8_at(text, pos, &length);
    state.byte_of_unit.push_back(static_cast<uint32_t>(pos));
    if (c < 0x10000) {
      state.units.push_back(static_cast<char16_t>(c));
    } else {
      state.units.push_back(static_cast<char16_t>(0xD7C0 + (c >> 10)));
      state.units.push_back(static_cast<char16_t>(0xDC00 | (c & 0x3FF)));
      state.byte_of_unit.push_back(static_cast<uint32_t>(pos));
    }
    pos += length;
  }
  state.byte_of_unit.push_back(static_cast<uint32_t>(text.size()));
  const int32_t unit_count = static_cast<int32_t>(state.units.size());
  state.input.setTo(false, state.units.data(), unit_count);
  state.matcher->reset(state.input);

  // onig's FindMatches: search from last_end; an empty match at the end of the previous match
  // is rejected by stepping one character forward.
  int32_t last_end = 0;
  std::optional<int32_t> last_match_end;
  while (last_end <= unit_count) {
    UErrorCode status = U_ZERO_ERROR;
    if (!state.matcher->find(last_end, status) || U_FAILURE(status)) break;
    int32_t start = state.matcher->start(status);
    int32_t end = state.matcher->end(status);
    if (U_FAILURE(status)) break;
    if (start == end && last_match_end == end) {
      if (last_end == unit_count) break;
      last_end += U16_IS_LEAD(state.units[last_end]) && last_end + 1 < unit_count ? 2 : 1;
      continue;
    }
    last_end = end;
    last_match_end = end;
    matches.push_back(ByteRange{state.byte_of_unit[start], state.byte_of_unit[end]});
  }
}

}  // namespace justnews::tokenizer
