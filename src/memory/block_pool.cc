// BlockPool: first-fit over coalesced free ranges in block-sized chunks.
#include "memory/block_pool.h"

#include <algorithm>
#include <optional>

namespace justnews {
namespace {

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

}  // namespace

BlockPool::BlockPool(DeviceAllocator* allocator, int64_t block_bytes, int64_t retain_bytes)
    : allocator_(allocator),
      block_bytes_(round_up(std::max<int64_t>(block_bytes, kAlignmentBytes), kAlignmentBytes)),
      retain_bytes_(retain_bytes) {}

BlockPool::~BlockPool() {
  for (auto& chunk : chunks_) allocator_->deallocate(chunk->base, chunk->bytes);
}

std::optional<int64_t> BlockPool::take_range(Chunk& chunk, int64_t bytes) {
  for (auto it = chunk.free_ranges.begin(); it != chunk.free_ranges.end(); ++it) {
    if (it->second < bytes) continue;
    const int64_t offset = it->first;
    const int64_t remaining = it->second - bytes;
    chunk.free_ranges.erase(it);
    if (remaining > 0) chunk.free_ranges.emplace(offset + bytes, remaining);
    chunk.used_bytes += bytes;
    return offset;
  }
  return std::nullopt;
}

Status BlockPool::grow(int64_t min_bytes) {
  const int64_t chunk_bytes = round_up(std::max(min_bytes, block_bytes_), block_bytes_);
  auto memory = allocator_->allocate(chunk_bytes);
  if (!memory.ok()) {
    // Free chunks may be fragmenting the device: give them back and try once more.
    trim();
    memory = allocator_->allocate(chunk_bytes);
    if (!memory.ok()) return memory.status();
  }
  auto chunk = std::make_unique<Chunk>();
  chunk->base = static_cast<char*>(*memory);
  chunk->bytes = chunk_bytes;
  chunk->free_ranges.emplace(0, chunk_bytes);
  chunks_.push_back(std::move(chunk));
  reserved_bytes_ += chunk_bytes;
  return ok_status();
}

Result<void*> BlockPool::allocate(int64_t bytes) {
  if (bytes <= 0) return invalid_argument("block pool: allocation of " + std::to_string(bytes) + " bytes");
  const int64_t rounded = round_up(bytes, kAlignmentBytes);
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (auto& chunk : chunks_) {
      if (chunk->bytes - chunk->used_bytes < rounded) continue;
      if (auto offset = take_range(*chunk, rounded)) {
        void* ptr = chunk->base + *offset;
        placements_.emplace(ptr, Placement{chunk.get(), *offset, rounded});
        in_use_bytes_ += rounded;
        return ptr;
      }
    }
    if (attempt == 0) JN_RETURN_IF_ERROR(grow(rounded));
  }
  return internal_error("block pool: a fresh chunk could not hold " + std::to_string(rounded) + " bytes");
}

void BlockPool::release(void* ptr) {
  auto found = placements_.find(ptr);
  if (found == placements_.end()) return;
  const Placement placement = found->second;
  placements_.erase(found);
  Chunk& chunk = *placement.chunk;
  chunk.used_bytes -= placement.bytes;
  in_use_bytes_ -= placement.bytes;

  int64_t offset = placement.offset;
  int64_t size = placement.bytes;
  auto next = chunk.free_ranges.lower_bound(offset);
  if (next != chunk.free_ranges.end() && next->first == offset + size) {
    size += next->second;
    next = chunk.free_ranges.erase(next);
  }
  if (next != chunk.free_ranges.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      size += prev->second;
      chunk.free_ranges.erase(prev);
    }
  }
  chunk.free_ranges.emplace(offset, size);
  if (chunk.used_bytes == 0 && reserved_bytes_ > retain_bytes_) free_chunk(&chunk);
}

void BlockPool::free_chunk(Chunk* chunk) {
  allocator_->deallocate(chunk->base, chunk->bytes);
  reserved_bytes_ -= chunk->bytes;
  chunks_.erase(std::find_if(chunks_.begin(), chunks_.end(),
                             [chunk](const auto& owned) { return owned.get() == chunk; }));
}

void BlockPool::trim() {
  std::vector<Chunk*> idle;
  for (auto& chunk : chunks_) {
    if (chunk->used_bytes == 0) idle.push_back(chunk.get());
  }
  for (Chunk* chunk : idle) free_chunk(chunk);
}

}  // namespace justnews
