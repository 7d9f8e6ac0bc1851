// Tokenizer: runs the pipeline (added tokens → normaliser → pre-tokeniser → model → offsets →
// truncation → post-processor) with per-thread scratch buffers, so steady-state encoding does not
// allocate per token.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "tokenizer/byte_level.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"

namespace justnews::tokenizer {
namespace {

// Scratch buffers reused by every encode on a thread.
struct Scratch {
  NormalizedText normalized;
  NormalizedText normalizer_buffer;
  std::vector<Segment> raw_segments;
  std::vector<Segment> normalized_segments;
  std::vector<Piece> whole;
  std::vector<Piece> pieces;
  std::vector<ModelToken> model_tokens;
  std::vector<uint32_t> byte_to_char;
  // Byte offsets [start, end) in the original text, before conversion to characters.
  std::vector<std::pair<uint32_t, uint32_t>> byte_offsets;
  std::vector<std::pair<uint8_t, uint8_t>> text_token_trim;  // added tokens found in the text
};

Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Leading/trailing characters HF's process_offsets counts as spaces: 'Ġ' (a byte-level space) or
// Unicode whitespace.
std::pair<uint8_t, uint8_t> count_edge_spaces(std::string_view token) {
  const char32_t byte_level_space = byte_level_chars()[' '];
  std::vector<char32_t> chars;
  size_t pos = 0;
  while (pos < token.size()) {
    size_t length;
    chars.push_back(decode_utf8_at(token, pos, &length));
    pos += length;
  }
  auto is_space = [&](char32_t c) { return c == byte_level_space || is_whitespace(c); };
  size_t leading = 0;
  while (leading < chars.size() && is_space(chars[leading])) ++leading;
  size_t trailing = 0;
  while (trailing < chars.size() && is_space(chars[chars.size() - 1 - trailing])) ++trailing;
  return {static_cast<uint8_t>(std::min<size_t>(leading, 255)), static_cast<uint8_t>(std::min<size_t>(trailing, 255))};
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<TokenizerPipeline> pipeline) : pipeline_(std::move(pipeline)) {
  build_trim_table();
}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::from_json(std::string_view json_text, const std::string& source) {
  JN_ASSIGN_OR_RETURN(TokenizerPipeline pipeline, parse_tokenizer_json(json_text, source));
  return Tokenizer(std::make_unique<TokenizerPipeline>(std::move(pipeline)));
}

void Tokenizer::build_trim_table() {
  if (!pipeline_->post_processor || !pipeline_->post_processor->trim_offsets_prefix_space()) return;
  const int64_t model_size = pipeline_->model->vocab_size();
  trim_spaces_.resize(static_cast<size_t>(model_size));
  for (int64_t id = 0; id < model_size; ++id) {
    trim_spaces_[id] = count_edge_spaces(pipeline_->model->id_to_token(static_cast<int32_t>(id)));
  }
}

Status Tokenizer::encode_sequence(std::string_view text, Encoding& out) const {
  JN_RETURN_IF_ERROR(validate_utf8(text));
  if (text.size() > 0x7FFFFFFFu) return invalid_argument("text of " + std::to_string(text.size()) + " bytes exceeds the 2 GiB limit");
  const TokenizerPipeline& pipeline = *pipeline_;
  Scratch& scratch = thread_scratch();
  out.clear();
  scratch.byte_offsets.clear();
  scratch.text_token_trim.clear();
  const bool trimming = !trim_spaces_.empty();
  auto emit_added = [&](int32_t id, uint32_t start, uint32_t end, std::string_view value) {
    out.ids.push_back(id);
    scratch.byte_offsets.emplace_back(start, end);
    if (trimming) scratch.text_token_trim.push_back(count_edge_spaces(value));
  };

  pipeline.added_vocabulary->split(text, false, scratch.raw_segments);
  for (const Segment& raw : scratch.raw_segments) {
    if (raw.id >= 0) {
      emit_added(raw.id, raw.start, raw.end, text.substr(raw.start, raw.end - raw.start));
      continue;
    }
    if (raw.end <= raw.start) continue;
    NormalizedText& normalized = scratch.normalized;
    normalized.reset(text, raw.start, raw.end);
    if (pipeline.normalizer) pipeline.normalizer->normalize(normalized, scratch.normalizer_buffer);
    if (normalized.text.empty()) continue;
    pipeline.added_vocabulary->split(normalized.text, true, scratch.normalized_segments);
    for (const Segment& segment : scratch.normalized_segments) {
      if (segment.end <= segment.start) continue;
      if (segment.id >= 0) {
        emit_added(segment.id, normalized.alignment[segment.start].start, normalized.alignment[segment.end - 1].end,
                   std::string_view(normalized.text).substr(segment.start, segment.end - segment.start));
        continue;
      }
      scratch.whole.assign(1, Piece{segment.start, segment.end, false});
      const std::vector<Piece>* pieces = &scratch.whole;
      if (pipeline.pre_tokenizer) {
        scratch.pieces.clear();
        pipeline.pre_tokenizer->split(normalized, scratch.whole, scratch.pieces);
        pieces = &scratch.pieces;
      }
      for (const Piece& piece : *pieces) {
        scratch.model_tokens.clear();
        std::string_view view(normalized.text.data() + piece.start, piece.end - piece.start);
        JN_RETURN_IF_ERROR(pipeline.model->tokenize(view, piece.prefix_space, scratch.model_tokens));
        const uint32_t shift = piece.prefix_space ? 1 : 0;
        for (const ModelToken& token : scratch.model_tokens) {
          // Virtual byte v of the piece is normalized byte start + v - shift; the virtual prefix
          // space shares the alignment of the piece's first character.
          uint32_t first = piece.start + (token.start >= shift ? token.start - shift : 0);
          uint32_t last = piece.start + (token.end - 1 >= shift ? token.end - 1 - shift : 0);
          out.ids.push_back(token.id);
          scratch.byte_offsets.emplace_back(normalized.alignment[first].start, normalized.alignment[last].end);
          if (trimming) {
            scratch.text_token_trim.push_back(
                static_cast<size_t>(token.id) < trim_spaces_.size() ? trim_spaces_[token.id] : std::make_pair(uint8_t{0}, uint8_t{0}));
          }
        }
      }
    }
  }

  // Byte offsets → character offsets (HF Python reports code points).
  const size_t count = out.ids.size();
  out.offsets.resize(count);
  bool ascii = true;
  for (char byte : text) {
    if (static_cast<unsigned char>(byte) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    for (size_t i = 0; i < count; ++i) {
      out.offsets[i] = {static_cast<int32_t>(scratch.byte_offsets[i].first),
                        static_cast<int32_t>(scratch.byte_offsets[i].second)};
    }
  } else {
    std::vector<uint32_t>& table = scratch.byte_to_char;
    table.resize(text.size() + 1);
    uint32_t char_index = 0;
    for (size_t pos = 0; pos < text.size(); ++pos) {
      if ((static_cast<unsigned char>(text[pos]) & 0xC0) != 0x80) table[pos] = char_index++;
      else table[pos] = char_index - 1;
    }
    table[text.size()] = char_index;
    for (size_t i = 0; i < count; ++i) {
      out.offsets[i] = {static_cast<int32_t>(table[scratch.byte_offsets[i].first]),
                        static_cast<int32_t>(table[scratch.byte_offsets[i].second])};
    }
  }
  if (trimming) {
    // HF's process_offsets (RoBERTa / ByteLevel trim_offsets).
    const bool add_prefix_space = *pipeline.post_processor->trim_offsets_prefix_space();
    for (size_t i = 0; i < count; ++i) {
      auto [leading, trailing] = scratch.text_token_trim[i];
      auto& [start, end] = out.offsets[i];
      if (leading > 0) {
        bool is_first = i == 0 || start == 0;
        if (is_first && add_prefix_space && leading == 1) leading = 0;
        start = std::min(start + leading, end);
      }
      if (trailing > 0 && end >= trailing) end = std::max(end - trailing, start);
    }
  }
  out.type_ids.assign(count, 0);
  out.attention_mask.assign(count, 1);
  out.special_tokens_mask.assign(count, 0);
  return ok_status();
}

Result<Encoding> Tokenizer::finish(Encoding first, Encoding* second, bool add_special_tokens) const {
  const TokenizerPipeline& pipeline = *pipeline_;
  const TruncationOptions& truncation = pipeline.truncation;
  if (truncation.enabled) {
    size_t max_length = truncation.max_length;
    if (add_special_tokens && pipeline.post_processor) {
      size_t added = pipeline.post_processor->added_tokens(second != nullptr);
      max_length = max_length > added ? max_length - added : 0;
    }
    size_t first_length = first.size();
    size_t second_length = second ? second->size() : 0;
    if (max_length == 0) {
      first.truncate(0, truncation.from_left);
      if (second) second->truncate(0, truncation.from_left);
    } else if (first_length + second_length > max_length) {
      size_t to_remove = first_length + second_length - max_length;
      if (truncation.strategy == TruncationStrategy::kLongestFirst && second) {
        // HF's LongestFirst: n1 is the shorter input.
        size_t n1 = first_length;
        size_t n2 = second_length;
        bool swap = n1 > n2;
        if (swap) std::swap(n1, n2);
        if (n1 > max_length) {
          n2 = n1;
        } else {
          n2 = std::max(n1, max_length - n1);
        }
        if (n1 + n2 > max_length) {
          n1 = max_length / 2;
          n2 = n1 + max_length % 2;
        }
        if (swap) std::swap(n1, n2);
        first.truncate(n1, truncation.from_left);
        second->truncate(n2, truncation.from_left);
      } else if (truncation.strategy == TruncationStrategy::kLongestFirst ||
                 truncation.strategy == TruncationStrategy::kOnlyFirst) {
        if (first_length <= to_remove) {
          return invalid_argument("truncation: the first sequence (" + std::to_string(first_length) +
                                  " tokens) is too short to remove " + std::to_string(to_remove) + " tokens");
        }
        first.truncate(first_length - to_remove, truncation.from_left);
      } else {
        if (!second) return invalid_argument("truncation strategy OnlySecond needs a pair of sequences");
        if (second_length <= to_remove) {
          return invalid_argument("truncation: the second sequence (" + std::to_string(second_length) +
                                  " tokens) is too short to remove " + std::to_string(to_remove) + " tokens");
        }
        second->truncate(second_length - to_remove, truncation.from_left);
      }
    }
  }
  if (second) {
    for (int32_t& type_id : second->type_ids) type_id = 1;
  }
  Encoding result;
  if (pipeline.post_processor) {
    pipeline.post_processor->process(first, second, add_special_tokens, result);
    return result;
  }
  if (!second) return first;
  result = std::move(first);
  result.ids.insert(result.ids.end(), second->ids.begin(), second->ids.end());
  result.type_ids.insert(result.type_ids.end(), second->type_ids.begin(), second->type_ids.end());
  result.attention_mask.insert(result.attention_mask.end(), second->attention_mask.begin(), second->attention_mask.end());
  result.special_tokens_mask.insert(result.special_tokens_mask.end(), second->special_tokens_mask.begin(),
                                    second->special_tokens_mask.end());
  result.offsets.insert(result.offsets.end(), second->offsets.begin(), second->offsets.end());
  return result;
}

Result<Encoding> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  Encoding first;
  JN_RETURN_IF_ERROR(encode_sequence(text, first));
  return finish(std::move(first), nullptr, add_special_tokens);
}

Result<Encoding> Tokenizer::encode_pair(std::string_view first_text, std::string_view second_text,
                                        bool add_special_tokens) const {
  Encoding first;
  Status status = encode_sequence(first_text, first);
  if (!status.ok()) return status.with_context("first sequence of the pair");
  Encoding second;
  status = encode_sequence(second_text, second);
  if (!status.ok()) return status.with_context("second sequence of the pair");
  return finish(std::move(first), &second, add_special_tokens);
}

std::vector<Result<Encoding>> Tokenizer::encode_batch(const std::vector<std::string>& texts, ThreadPool& pool,
                                                      bool add_special_tokens) const {
  std::vector<Result<Encoding>> results(texts.size(), Result<Encoding>(internal_error("text was not encoded")));
  pool.parallel_for(texts.size(), 8, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) results[i] = encode(texts[i], add_special_tokens);
  });
  return results;
}

void Tokenizer::set_truncation(int max_length) {
  pipeline_->truncation.enabled = max_length > 0;
  if (max_length > 0) pipeline_->truncation.max_length = static_cast<size_t>(max_length);
}

std::optional<int> Tokenizer::truncation() const {
  if (!pipeline_->truncation.enabled) return std::nullopt;
  return static_cast<int>(pipeline_->truncation.max_length);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const AddedToken& added : pipeline_->added_vocabulary->tokens()) {
    if (added.content == token) return added.id;
  }
  int32_t id = pipeline_->model->token_to_id(token);
  if (id < 0) return std::nullopt;
  return id;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  for (const AddedToken& added : pipeline_->added_vocabulary->tokens()) {
    if (added.id == id) return added.content;
  }
  return pipeline_->model->id_to_token(id);
}

int64_t Tokenizer::vocab_size() const {
  int64_t size = pipeline_->model->vocab_size();
  std::vector<int32_t> extra;
  for (const AddedToken& added : pipeline_->added_vocabulary->tokens()) {
    if (added.id >= size && std::find(extra.begin(), extra.end(), added.id) == extra.end()) extra.push_back(added.id);
  }
  return size + static_cast<int64_t>(extra.size());
}

}  // namespace justnews::tokenizer
