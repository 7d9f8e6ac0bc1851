// XXH64 one-shot, following the xxHash specification (doc/xxhash_spec.md of Cyan4973/xxHash).
#include "engine/plan_checksum.h"

#include <cstring>

namespace justnews {

namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ull;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ull;

uint64_t rotate_left(uint64_t value, int bits) { return (value << bits) | (value >> (64 - bits)); }

// Little-endian loads through memcpy: the input has no alignment guarantee.
uint64_t read64(const uint8_t* bytes) {
  uint64_t value;
  std::memcpy(&value, bytes, 8);
  return value;
}

uint32_t read32(const uint8_t* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, 4);
  return value;
}

uint64_t round(uint64_t accumulator, uint64_t lane) {
  accumulator += lane * kPrime2;
  accumulator = rotate_left(accumulator, 31);
  return accumulator * kPrime1;
}

uint64_t merge_round(uint64_t accumulator, uint64_t lane) {
  accumulator ^= round(0, lane);
  return accumulator * kPrime1 + kPrime4;
}

}  // namespace

uint64_t xxhash64(const void* data, size_t size, uint64_t seed) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  const uint8_t* const end = bytes + size;
  uint64_t hash;
  if (size >= 32) {
    uint64_t lane1 = seed + kPrime1 + kPrime2;
    uint64_t lane2 = seed + kPrime2;
    uint64_t lane3 = seed;
    uint64_t lane4 = seed - kPrime1;
    const uint8_t* const last_stripe = end - 32;
    do {
      lane1 = round(lane1, read64(bytes));
      lane2 = round(lane2, read64(bytes + 8));
      lane3 = round(lane3, read64(bytes + 16));
      lane4 = round(lane4, read64(bytes + 24));
      bytes += 32;
    } while (bytes <= last_stripe);
    hash = rotate_left(lane1, 1) + rotate_left(lane2, 7) + rotate_left(lane3, 12) + rotate_left(lane4, 18);
    hash = merge_round(hash, lane1);
    hash = merge_round(hash, lane2);
    hash = merge_round(hash, lane3);
    hash = merge_round(hash, lane4);
  } else {
    hash = seed + kPrime5;
  }
  hash += static_cast<uint64_t>(size);
  while (bytes + 8 <= end) {
    hash ^= round(0, read64(bytes));
    hash = rotate_left(hash, 27) * kPrime1 + kPrime4;
    bytes += 8;
  }
  if (bytes + 4 <= end) {
    hash ^= static_cast<uint64_t>(read32(bytes)) * kPrime1;
    hash = rotate_left(hash, 23) * kPrime2 + kPrime3;
    bytes += 4;
  }
  while (bytes < end) {
    hash ^= static_cast<uint64_t>(*bytes) * kPrime5;
    hash = rotate_left(hash, 11) * kPrime1;
    ++bytes;
  }
  hash ^= hash >> 33;
  hash *= kPrime2;
  hash ^= hash >> 29;
  hash *= kPrime3;
  hash ^= hash >> 32;
  return hash;
}

std::string hash_to_hex(uint64_t hash) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex(16, '0');
  for (int idx = 15; idx >= 0; --idx) {
    hex[idx] = kDigits[hash & 0xF];
    hash >>= 4;
  }
  return hex;
}

}  // namespace justnews
