// BlockPool: sub-allocates device memory out of large blocks so that model loads and batches do
// not pay a cudaMalloc/cudaFree each. Blocks (64 MB by default) are fetched from the
// DeviceAllocator on demand; a request larger than a block gets a chunk of whole blocks. Freed
// ranges coalesce; a chunk that becomes wholly free is given back once the pool holds more than
// `retain_bytes` (1 GB by default), and trim() gives back every free chunk.
// Not thread-safe: MemoryManager serialises access.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "memory/device_allocator.h"

namespace justnews {

class BlockPool {
 public:
  // Every range handed out is aligned (and sized) to this many bytes.
  static constexpr int64_t kAlignmentBytes = 256;

  BlockPool(DeviceAllocator* allocator, int64_t block_bytes, int64_t retain_bytes);
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // A range of at least `bytes`; kResourceExhausted when the device cannot grow the pool.
  Result<void*> allocate(int64_t bytes);
  // Returns a range from allocate(); unknown pointers are ignored (they were never ours).
  void release(void* ptr);
  // Gives every wholly free chunk back to the allocator.
  void trim();

  int64_t reserved_bytes() const { return reserved_bytes_; }  // held from the allocator
  int64_t in_use_bytes() const { return in_use_bytes_; }      // handed out (rounded sizes)
  int64_t block_bytes() const { return block_bytes_; }
  size_t num_chunks() const { return chunks_.size(); }

 private:
  struct Chunk {
    char* base = nullptr;
    int64_t bytes = 0;
    std::map<int64_t, int64_t> free_ranges;  // offset -> size, coalesced
    int64_t used_bytes = 0;
  };
  struct Placement {
    Chunk* chunk;
    int64_t offset;
    int64_t bytes;
  };

  std::optional<int64_t> take_range(Chunk& chunk, int64_t bytes);
  Status grow(int64_t min_bytes);
  void free_chunk(Chunk* chunk);

  DeviceAllocator* allocator_;
  int64_t block_bytes_;
  int64_t retain_bytes_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  std::unordered_map<void*, Placement> placements_;
  int64_t reserved_bytes_ = 0;
  int64_t in_use_bytes_ = 0;
};

}  // namespace justnews
