// MemoryManager: budgets and leases under one mutex; the pool sits behind the same lock.
#include "memory/memory_manager.h"

#include <fmt/format.h>

#include <unordered_map>

namespace justnews {
namespace memory_detail {

struct LeaseRecord {
  std::string agent;
  void* data = nullptr;
  int64_t bytes = 0;
};

struct AgentRecord {
  int64_t budget_bytes = 0;
  int64_t in_use_bytes = 0;
  int64_t peak_bytes = 0;
};

struct ManagerState {
  std::unique_ptr<DeviceAllocator> allocator;
  std::unique_ptr<BlockPool> pool;
  int64_t usable_bytes = 0;
  int64_t budgeted_bytes = 0;
  std::map<std::string, AgentRecord> agents;
  std::unordered_map<uint64_t, LeaseRecord> leases;
  uint64_t next_lease_id = 1;
  mutable std::mutex mutex;

  // Caller holds the mutex.
  void end_lease(uint64_t id) {
    auto found = leases.find(id);
    if (found == leases.end()) return;
    auto agent = agents.find(found->second.agent);
    if (agent != agents.end()) agent->second.in_use_bytes -= found->second.bytes;
    if (found->second.data) pool->release(found->second.data);
    leases.erase(found);
  }
};

}  // namespace memory_detail

namespace {

std::string format_bytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", bytes / double(int64_t{1} << 30));
  if (bytes >= (int64_t{1} << 20)) return fmt::format("{:.1f} MiB", bytes / double(int64_t{1} << 20));
  return fmt::format("{} bytes", bytes);
}

}  // namespace

MemoryLease::MemoryLease(MemoryLease&& other) noexcept { *this = std::move(other); }

MemoryLease& MemoryLease::operator=(MemoryLease&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    id_ = std::exchange(other.id_, 0);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

MemoryLease::~MemoryLease() { release(); }

void MemoryLease::release() {
  if (id_ == 0) return;
  if (auto state = state_.lock()) {
    std::lock_guard<std::mutex> lock(state->mutex);
    state->end_lease(id_);
  }
  id_ = 0;
  data_ = nullptr;
  bytes_ = 0;
}

MemoryManager::MemoryManager(std::unique_ptr<DeviceAllocator> allocator, const MemoryConfig& config)
    : state_(std::make_shared<memory_detail::ManagerState>()) {
  state_->usable_bytes =
      static_cast<int64_t>(static_cast<double>(allocator->total_bytes()) * (1.0 - config.safety_margin));
  state_->pool = std::make_unique<BlockPool>(allocator.get(), config.pool_block_bytes, config.pool_bytes);
  state_->allocator = std::move(allocator);
}

MemoryManager::~MemoryManager() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->leases.clear();
  state_->pool.reset();
}

std::string MemoryManager::device_name() const { return state_->allocator->name(); }
int64_t MemoryManager::usable_bytes() const { return state_->usable_bytes; }

int64_t MemoryManager::unbudgeted_bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->usable_bytes - state_->budgeted_bytes;
}

Status MemoryManager::register_agent(const std::string& agent, int64_t budget_bytes) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  const std::string device = state_->allocator->name();
  if (budget_bytes <= 0) {
    return invalid_argument(fmt::format("agent '{}': memory budget on {} must be positive, got {}",
                                        agent, device, budget_bytes));
  }
  if (state_->agents.count(agent)) {
    return invalid_argument(fmt::format("agent '{}' is already registered on {}", agent, device));
  }
  const int64_t left = state_->usable_bytes - state_->budgeted_bytes;
  if (budget_bytes > left) {
    return resource_exhausted(fmt::format(
        "agent '{}': budget of {} does not fit on {}: {} usable ({} total less the safety margin), "
        "{} already budgeted to other agents, {} left",
        agent, format_bytes(budget_bytes), device, format_bytes(state_->usable_bytes),
        format_bytes(state_->allocator->total_bytes()), format_bytes(state_->budgeted_bytes),
        format_bytes(left)));
  }
  state_->agents[agent].budget_bytes = budget_bytes;
  state_->budgeted_bytes += budget_bytes;
  return ok_status();
}

Status MemoryManager::unload_agent(const std::string& agent) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto found = state_->agents.find(agent);
  if (found == state_->agents.end()) {
    return not_found(fmt::format("agent '{}' is not registered on {}", agent, state_->allocator->name()));
  }
  std::vector<uint64_t> owned;
  for (const auto& [id, lease] : state_->leases) {
    if (lease.agent == agent) owned.push_back(id);
  }
  for (uint64_t id : owned) state_->end_lease(id);
  state_->budgeted_bytes -= found->second.budget_bytes;
  state_->agents.erase(found);
  return ok_status();
}

Result<MemoryLease> MemoryManager::charge(const std::string& agent, int64_t bytes,
                                          const std::string& purpose, bool from_pool) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  const std::string device = state_->allocator->name();
  auto found = state_->agents.find(agent);
  if (found == state_->agents.end()) {
    return not_found(fmt::format("agent '{}' is not registered on {} (request: {} for {})", agent,
                                 device, format_bytes(bytes), purpose));
  }
  if (bytes <= 0) {
    return invalid_argument(fmt::format("agent '{}': {} asks for {} bytes", agent, purpose, bytes));
  }
  memory_detail::AgentRecord& record = found->second;
  if (record.in_use_bytes + bytes > record.budget_bytes) {
    return resource_exhausted(fmt::format(
        "agent '{}': {} needs {} but its budget on {} is {} and {} is already in use",
        agent, purpose, format_bytes(bytes), device, format_bytes(record.budget_bytes),
        format_bytes(record.in_use_bytes)));
  }
  void* data = nullptr;
  if (from_pool) {
    auto memory = state_->pool->allocate(bytes);
    if (!memory.ok()) {
      return Status(memory.status().code(),
                    fmt::format("agent '{}': {} ({}) could not be allocated on {}: {}", agent, purpose,
                                format_bytes(bytes), device, memory.status().message()));
    }
    data = *memory;
  }
  const uint64_t id = state_->next_lease_id++;
  state_->leases.emplace(id, memory_detail::LeaseRecord{agent, data, bytes});
  record.in_use_bytes += bytes;
  record.peak_bytes = std::max(record.peak_bytes, record.in_use_bytes);
  return MemoryLease(state_, id, data, bytes);
}

Result<MemoryLease> MemoryManager::allocate(const std::string& agent, int64_t bytes,
                                            const std::string& purpose) {
  return charge(agent, bytes, purpose, true);
}

Result<MemoryLease> MemoryManager::reserve(const std::string& agent, int64_t bytes,
                                           const std::string& purpose) {
  return charge(agent, bytes, purpose, false);
}

Result<AgentMemoryUsage> MemoryManager::usage(const std::string& agent) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto found = state_->agents.find(agent);
  if (found == state_->agents.end()) {
    return not_found(fmt::format("agent '{}' is not registered on {}", agent, state_->allocator->name()));
  }
  return AgentMemoryUsage{agent, found->second.budget_bytes, found->second.in_use_bytes,
                          found->second.peak_bytes};
}

std::vector<AgentMemoryUsage> MemoryManager::usage_all() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<AgentMemoryUsage> all;
  for (const auto& [name, record] : state_->agents) {
    all.push_back({name, record.budget_bytes, record.in_use_bytes, record.peak_bytes});
  }
  return all;
}

int64_t MemoryManager::pool_reserved_bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->pool->reserved_bytes();
}

void MemoryManager::trim() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->pool->trim();
}

std::unique_ptr<MemoryManager> make_host_memory_manager(const MemoryConfig& config,
                                                        int64_t capacity_bytes) {
  return std::make_unique<MemoryManager>(make_host_allocator(capacity_bytes), config);
}

}  // namespace justnews
