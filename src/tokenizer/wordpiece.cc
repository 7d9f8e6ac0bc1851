// WordPiece model (see wordpiece.h).
#include "tokenizer/wordpiece.h"

#include "tokenizer/unicode.h"

namespace justnews::tokenizer {

Result<std::unique_ptr<WordPiece>> WordPiece::create(std::vector<std::string> vocab, const WordPieceOptions& options) {
  std::unique_ptr<WordPiece> model(new WordPiece());
  model->options_ = options;
  const std::string& prefix = options.continuing_subword_prefix;
  for (size_t id = 0; id < vocab.size(); ++id) {
    const std::string& token = vocab[id];
    model->vocab_.insert(token, static_cast<int32_t>(id));
    if (!prefix.empty() && token.size() > prefix.size() && token.compare(0, prefix.size(), prefix) == 0) {
      model->continuations_.insert(std::string_view(token).substr(prefix.size()), static_cast<int32_t>(id));
    }
  }
  model->id_to_token_ = std::move(vocab);
  model->unk_id_ = model->vocab_.find(options.unk_token);
  if (model->unk_id_ < 0) {
    return invalid_argument("WordPiece: unk_token '" + options.unk_token + "' is not in the vocabulary");
  }
  return model;
}

std::string WordPiece::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return {};
  return id_to_token_[id];
}

Status WordPiece::tokenize(std::string_view piece, bool prefix_space, std::vector<ModelToken>& out) const {
  const uint32_t size = static_cast<uint32_t>(piece.size());
  size_t char_count = 0;
  for (char byte : piece) char_count += (static_cast<unsigned char>(byte) & 0xC0) != 0x80;
  if (char_count > options_.max_input_chars_per_word) {
    out.push_back(ModelToken{unk_id_, 0, size});
    return ok_status();
  }
  const size_t first_token = out.size();
  uint32_t start = 0;
  while (start < size) {
    const StringIdMap& map = start == 0 ? vocab_ : continuations_;
    // No vocabulary entry is longer than max_key_bytes, so start the search there.
    uint32_t end = static_cast<uint32_t>(std::min<size_t>(size, start + map.max_key_bytes()));
    while (end < size && (static_cast<unsigned char>(piece[end]) & 0xC0) == 0x80) --end;
    int32_t id = StringIdMap::kMissing;
    while (end > start) {
      id = map.find(piece.substr(start, end - start));
      if (id != StringIdMap::kMissing) break;
      --end;
      while (end > start && (static_cast<unsigned char>(piece[end]) & 0xC0) == 0x80) --end;
    }
    if (id == StringIdMap::kMissing) {
      out.resize(first_token);
      out.push_back(ModelToken{unk_id_, 0, size});
      return ok_status();
    }
    out.push_back(ModelToken{id, start, end});
    start = end;
  }
  return ok_status();
}

}  // namespace justnews::tokenizer
