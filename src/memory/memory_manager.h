// MemoryManager: per-agent budgets on one device (a GPU, or pinned host memory). Each agent
// registers a budget carved out of the device's memory less a safety margin (15% by default); its
// model load and every batch draw leases against that budget, and a request that would exceed it
// is refused with an error naming the agent, the request and the limit, before any device call
// can fail. Leases either own pool memory (allocate) or only account for memory a backend holds
// itself (reserve). Unloading an agent ends all of its leases. Thread-safe: several agents (and
// threads) share one manager.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "memory/block_pool.h"
#include "memory/device_allocator.h"

namespace justnews {

struct AgentMemoryUsage {
  std::string agent;
  int64_t budget_bytes = 0;
  int64_t in_use_bytes = 0;
  int64_t peak_bytes = 0;
};

namespace memory_detail {
struct ManagerState;
}

// Memory (or accounting) held by one agent; returned to the manager on destruction. Move-only.
class MemoryLease {
 public:
  MemoryLease() = default;
  MemoryLease(MemoryLease&& other) noexcept;
  MemoryLease& operator=(MemoryLease&& other) noexcept;
  MemoryLease(const MemoryLease&) = delete;
  MemoryLease& operator=(const MemoryLease&) = delete;
  ~MemoryLease();

  void* data() const { return data_; }   // null for reserve()d leases
  int64_t bytes() const { return bytes_; }
  // Ends the lease early (the destructor does the same).
  void release();

 private:
  friend class MemoryManager;
  MemoryLease(std::weak_ptr<memory_detail::ManagerState> state, uint64_t id, void* data, int64_t bytes)
      : state_(std::move(state)), id_(id), data_(data), bytes_(bytes) {}

  std::weak_ptr<memory_detail::ManagerState> state_;
  uint64_t id_ = 0;
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

class MemoryManager {
 public:
  // Uses memory.safety_margin, memory.pool_bytes and memory.pool_block_bytes from `config`.
  MemoryManager(std::unique_ptr<DeviceAllocator> allocator, const MemoryConfig& config);
  ~MemoryManager();
  MemoryManager(const MemoryManager&) = delete;
  MemoryManager& operator=(const MemoryManager&) = delete;

  std::string device_name() const;
  // Device memory less the safety margin: the sum of all budgets may not exceed it.
  int64_t usable_bytes() const;
  int64_t unbudgeted_bytes() const;

  // Refused when the name is taken or the budget does not fit what other agents left.
  Status register_agent(const std::string& agent, int64_t budget_bytes);
  // Ends every lease the agent holds and returns its budget to the device.
  Status unload_agent(const std::string& agent);

  // Device memory from the block pool, charged to `agent`. `purpose` ("weights", "batch of 512
  // tokens") appears in the refusal message.
  Result<MemoryLease> allocate(const std::string& agent, int64_t bytes, const std::string& purpose);
  // Accounting only, for memory a backend allocates itself (e.g. the CPU encoder's buffers).
  Result<MemoryLease> reserve(const std::string& agent, int64_t bytes, const std::string& purpose);

  Result<AgentMemoryUsage> usage(const std::string& agent) const;
  std::vector<AgentMemoryUsage> usage_all() const;
  int64_t pool_reserved_bytes() const;
  // Gives idle pool blocks back to the device.
  void trim();

 private:
  Result<MemoryLease> charge(const std::string& agent, int64_t bytes, const std::string& purpose,
                             bool from_pool);

  std::shared_ptr<memory_detail::ManagerState> state_;
};

// A manager over host memory for the CPU backend: the "device" is this machine's RAM.
std::unique_ptr<MemoryManager> make_host_memory_manager(const MemoryConfig& config,
                                                        int64_t capacity_bytes = 0);

}  // namespace justnews
