// StringIdMap: a flat open-addressing hash map from token strings to ids, looked up with
// string_view and no allocation (the hot path of WordPiece and BPE vocabulary lookups).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace justnews::tokenizer {

inline uint64_t hash_token_bytes(const char* data, size_t size) {
  uint64_t hash = 0x9E3779B97F4A7C15ULL ^ (size * 0xFF51AFD7ED558CCDULL);
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    hash = (hash ^ word) * 0xC4CEB9FE1A85EC53ULL;
    hash ^= hash >> 29;
    data += 8;
    size -= 8;
  }
  if (size > 0) {
    uint64_t word = 0;
    std::memcpy(&word, data, size);
    hash = (hash ^ word) * 0xFF51AFD7ED558CCDULL;
  }
  hash ^= hash >> 32;
  hash *= 0x9E3779B97F4A7C15ULL;
  return hash ^ (hash >> 29);
}

class StringIdMap {
 public:
  static constexpr int32_t kMissing = -1;

  // Returns false (and keeps the first id) when `key` is already present.
  bool insert(std::string_view key, int32_t id) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    uint64_t hash = hash_token_bytes(key.data(), key.size());
    size_t index = hash & mask_;
    while (slots_[index].id != kMissing) {
      if (key_at(slots_[index]) == key) return false;
      index = (index + 1) & mask_;
    }
    slots_[index] = Slot{static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(key.size()), id};
    keys_.append(key);
    ++count_;
    if (key.size() > max_key_bytes_) max_key_bytes_ = key.size();
    return true;
  }

  int32_t find(std::string_view key) const {
    if (count_ == 0 || key.size() > max_key_bytes_) return kMissing;
    uint64_t hash = hash_token_bytes(key.data(), key.size());
    size_t index = hash & mask_;
    while (true) {
      const Slot& slot = slots_[index];
      if (slot.id == kMissing) return kMissing;
      if (slot.length == key.size() && std::memcmp(keys_.data() + slot.offset, key.data(), key.size()) == 0) {
        return slot.id;
      }
      index = (index + 1) & mask_;
    }
  }

  size_t size() const { return count_; }
  size_t max_key_bytes() const { return max_key_bytes_; }

 private:
  struct Slot {
    uint32_t offset = 0;
    uint32_t length = 0;
    int32_t id = kMissing;
  };

  std::string_view key_at(const Slot& slot) const { return {keys_.data() + slot.offset, slot.length}; }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    size_t capacity = old.empty() ? 64 : old.size() * 2;
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const Slot& slot : old) {
      if (slot.id == kMissing) continue;
      size_t index = hash_token_bytes(keys_.data() + slot.offset, slot.length) & mask_;
      while (slots_[index].id != kMissing) index = (index + 1) & mask_;
      slots_[index] = slot;
    }
  }

  std::string keys_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
  size_t max_key_bytes_ = 0;
};

}  // namespace justnews::tokenizer
