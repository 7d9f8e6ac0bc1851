// BPE model (see bpe.h).
#include "tokenizer/bpe.h"

#include <atomic>
#include <queue>

#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace justnews::tokenizer {
namespace {

std::atomic<uint64_t> next_instance_id{1};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// Words longer than this are not cached (as HF does), so the cache cannot hold huge strings.
constexpr size_t kMaxCachedWordBytes = 256;

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return hash_token_bytes(key.data(), key.size()); }
};

struct WordCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<ModelToken>, TransparentHash, std::equal_to<>> entries;
};

// One cache per thread and model: encode_batch runs on many threads with no locking.
WordCache& thread_cache(uint64_t owner) {
  thread_local std::vector<WordCache> caches;
  for (WordCache& cache : caches) {
    if (cache.owner == owner) return cache;
  }
  // Keep a few models' caches per thread; evict the oldest beyond that.
  if (caches.size() >= 4) caches.erase(caches.begin());
  caches.push_back(WordCache{owner, {}});
  return caches.back();
}

}  // namespace

Result<std::unique_ptr<Bpe>> Bpe::create(std::vector<std::string> vocab,
                                         const std::vector<std::pair<std::string, std::string>>& merges,
                                         const BpeOptions& options) {
  std::unique_ptr<Bpe> model(new Bpe());
  model->options_ = options;
  for (size_t id = 0; id < vocab.size(); ++id) model->vocab_.insert(vocab[id], static_cast<int32_t>(id));
  model->id_to_token_ = std::move(vocab);
  const size_t prefix_bytes = options.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    int32_t left_id = model->vocab_.find(left);
    int32_t right_id = model->vocab_.find(right);
    // The merged token drops the continuing prefix of the right part (HF's rule).
    std::string merged = left + (right.compare(0, prefix_bytes, options.continuing_subword_prefix) == 0
                                     ? right.substr(prefix_bytes)
                                     : right);
    int32_t merged_id = model->vocab_.find(merged);
    if (left_id < 0 || right_id < 0) {
      return corrupt_data("BPE merge " + std::to_string(rank) + " ('" + left + "' '" + right +
                          "') uses a token that is not in the vocabulary");
    }
    if (merged_id < 0) {
      return corrupt_data("BPE merge " + std::to_string(rank) + " ('" + left + "' '" + right + "') produces '" +
                          merged + "', which is not in the vocabulary");
    }
    model->merges_.emplace(pair_key(left_id, right_id), Merge{static_cast<int32_t>(rank), merged_id});
  }
  if (options.unk_token) {
    model->unk_id_ = model->vocab_.find(*options.unk_token);
    if (model->unk_id_ < 0) {
      return invalid_argument("BPE: unk_token '" + *options.unk_token + "' is not in the vocabulary");
    }
  }
  const auto& chars = byte_level_chars();
  for (int byte = 0; byte < 256; ++byte) {
    std::string encoded;
    append_utf8(chars[byte], encoded);
    model->byte_ids_[byte] = model->vocab_.find(encoded);
  }
  model->instance_id_ = next_instance_id.fetch_add(1);
  return model;
}

std::string Bpe::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return {};
  return id_to_token_[id];
}

void Bpe::initial_symbols(std::string_view word, bool prefix_space, std::vector<ModelToken>& symbols) const {
  const bool has_affixes = !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
  const uint32_t total = static_cast<uint32_t>(word.size()) + (prefix_space ? 1 : 0);
  auto byte_at = [&](uint32_t pos) -> unsigned char {
    if (prefix_space) return pos == 0 ? ' ' : static_cast<unsigned char>(word[pos - 1]);
    return static_cast<unsigned char>(word[pos]);
  };
  std::string unit;
  uint32_t pos = 0;
  while (pos < total) {
    uint32_t length = options_.byte_level ? 1 : static_cast<uint32_t>(utf8_length_from_lead(byte_at(pos)));
    int32_t id;
    if (options_.byte_level && !has_affixes) {
      id = byte_ids_[byte_at(pos)];
    } else {
      unit.clear();
      if (pos > 0) unit += options_.continuing_subword_prefix;
      if (options_.byte_level) {
        append_utf8(byte_level_chars()[byte_at(pos)], unit);
      } else {
        for (uint32_t i = 0; i < length; ++i) unit.push_back(static_cast<char>(byte_at(pos + i)));
      }
      if (pos + length >= total) unit += options_.end_of_word_suffix;
      id = vocab_.find(unit);
    }
    if (id < 0) {
      if (unk_id_ >= 0) {
        // Consecutive unknowns collapse into one when fuse_unk is set.
        if (options_.fuse_unk && !symbols.empty() && symbols.back().id == unk_id_) {
          symbols.back().end = pos + length;
        } else {
          symbols.push_back(ModelToken{unk_id_, pos, pos + length});
        }
      }
      // Without an unknown token HF drops the symbol.
    } else {
      symbols.push_back(ModelToken{id, pos, pos + length});
    }
    pos += length;
  }
}

void Bpe::merge_word(std::string_view word, bool prefix_space, std::vector<ModelToken>& out) const {
  struct Symbol {
    ModelToken token;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
  };
  // Lowest rank first, then leftmost: HF's Merge ordering.
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  thread_local std::vector<ModelToken> initial;
  thread_local std::vector<Symbol> symbols;
  initial.clear();
  initial_symbols(word, prefix_space, initial);
  symbols.clear();
  for (size_t i = 0; i < initial.size(); ++i) {
    symbols.push_back(Symbol{initial[i], static_cast<int32_t>(i) - 1,
                             i + 1 < initial.size() ? static_cast<int32_t>(i + 1) : -1, true});
  }
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  auto find_merge = [&](int32_t left, int32_t right) -> const Merge* {
    auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const Merge* merge = find_merge(symbols[i].token.id, symbols[i + 1].token.id)) {
      queue.push(Candidate{merge->rank, static_cast<int32_t>(i), merge->new_id});
    }
  }
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    Symbol& current = symbols[top.pos];
    if (!current.alive || current.next < 0) continue;
    Symbol& right = symbols[current.next];
    // Skip stale entries: the pair at this position changed since it was queued.
    const Merge* merge = find_merge(current.token.id, right.token.id);
    if (merge == nullptr || merge->new_id != top.new_id) continue;
    current.token.id = top.new_id;
    current.token.end = right.token.end;
    right.alive = false;
    current.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (current.prev >= 0) {
      if (const Merge* left_merge = find_merge(symbols[current.prev].token.id, current.token.id)) {
        queue.push(Candidate{left_merge->rank, current.prev, left_merge->new_id});
      }
    }
    if (current.next >= 0) {
      if (const Merge* right_merge = find_merge(current.token.id, symbols[current.next].token.id)) {
        queue.push(Candidate{right_merge->rank, top.pos, right_merge->new_id});
      }
    }
  }
  for (const Symbol& symbol : symbols) {
    if (symbol.alive) out.push_back(symbol.token);
  }
}

Status Bpe::tokenize(std::string_view piece, bool prefix_space, std::vector<ModelToken>& out) const {
  if (piece.empty() && !prefix_space) return ok_status();
  const size_t cache_key_bytes = piece.size() + (prefix_space ? 1 : 0);
  if (options_.cache_capacity == 0 || cache_key_bytes > kMaxCachedWordBytes) {
    merge_word(piece, prefix_space, out);
    return ok_status();
  }
  thread_local std::string key;
  key.clear();
  key.push_back(prefix_space ? '\1' : '\0');
  key.append(piece);
  WordCache& cache = thread_cache(instance_id_);
  auto it = cache.entries.find(std::string_view(key));
  if (it != cache.entries.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return ok_status();
  }
  const size_t first = out.size();
  merge_word(piece, prefix_space, out);
  if (cache.entries.size() >= options_.cache_capacity) cache.entries.clear();
  cache.entries.emplace(key, std::vector<ModelToken>(out.begin() + first, out.end()));
  return ok_status();
}

}  // namespace justnews::tokenizer
