// XXH64 (xxHash, 64-bit) for engine plans: the checksum of every plan section and the content hash
// behind engine-cache keys. Reimplemented from the public specification so that the engine needs
// no extra package; matches the reference implementation's outputs (tests/engine/plan_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace justnews {

uint64_t xxhash64(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t xxhash64(std::string_view text, uint64_t seed = 0) {
  return xxhash64(text.data(), text.size(), seed);
}

// 16 lowercase hex digits.
std::string hash_to_hex(uint64_t hash);

}  // namespace justnews
