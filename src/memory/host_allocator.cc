// The host DeviceAllocator: aligned malloc with a capacity cap, so that "the device is full" is a
// reachable, testable state on machines without a GPU.
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "memory/device_allocator.h"

namespace justnews {
namespace {

// Matches cudaMalloc's alignment so that code tested on the host sees the same layout rules.
constexpr int64_t kHostAlignmentBytes = 256;

class HostAllocator final : public DeviceAllocator {
 public:
  HostAllocator(int64_t capacity_bytes, std::string name)
      : capacity_bytes_(capacity_bytes), name_(std::move(name)) {}

  std::string name() const override { return name_; }
  int64_t total_bytes() const override { return capacity_bytes_; }

  Result<void*> allocate(int64_t bytes) override {
    if (bytes <= 0) return invalid_argument(name_ + ": allocation of " + std::to_string(bytes) + " bytes");
    const int64_t rounded = (bytes + kHostAlignmentBytes - 1) / kHostAlignmentBytes * kHostAlignmentBytes;
    int64_t used = used_bytes_.load();
    do {
      if (used + rounded > capacity_bytes_) {
        return resource_exhausted(name_ + ": cannot allocate " + std::to_string(bytes) + " bytes: " +
                                  std::to_string(used) + " of " + std::to_string(capacity_bytes_) +
                                  " bytes already in use");
      }
    } while (!used_bytes_.compare_exchange_weak(used, used + rounded));
    void* ptr = std::aligned_alloc(kHostAlignmentBytes, static_cast<size_t>(rounded));
    if (!ptr) {
      used_bytes_ -= rounded;
      return resource_exhausted(name_ + ": the OS refused " + std::to_string(bytes) + " bytes");
    }
    return ptr;
  }

  void deallocate(void* ptr, int64_t bytes) override {
    if (!ptr) return;
    std::free(ptr);
    used_bytes_ -= (bytes + kHostAlignmentBytes - 1) / kHostAlignmentBytes * kHostAlignmentBytes;
  }

 private:
  int64_t capacity_bytes_;
  std::string name_;
  std::atomic<int64_t> used_bytes_{0};
};

}  // namespace

int64_t physical_host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_bytes = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_bytes <= 0) return int64_t{8} << 30;  // a conservative guess
  return static_cast<int64_t>(pages) * page_bytes;
}

std::unique_ptr<DeviceAllocator> make_host_allocator(int64_t capacity_bytes, std::string name) {
  if (capacity_bytes <= 0) capacity_bytes = physical_host_memory_bytes();
  return std::make_unique<HostAllocator>(capacity_bytes, std::move(name));
}

}  // namespace justnews
