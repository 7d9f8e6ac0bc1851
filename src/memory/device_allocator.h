// DeviceAllocator: the one seam between the device-neutral memory accounting (block pool, per-agent
// budgets) and a real memory source. The host implementation backs the CPU backend and lets the
// tests exercise the whole accounting path for real; the CUDA ones (cuda_allocator.h) wrap
// cudaMalloc and cudaHostAlloc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace justnews {

class DeviceAllocator {
 public:
  virtual ~DeviceAllocator() = default;
  // "host", "cuda:0", "cuda-pinned": used in every error message about this memory.
  virtual std::string name() const = 0;
  // The device's physical capacity; budgets are carved out of it less the safety margin.
  virtual int64_t total_bytes() const = 0;
  // Refuses with kResourceExhausted (never crashes) when the device cannot provide `bytes`.
  virtual Result<void*> allocate(int64_t bytes) = 0;
  virtual void deallocate(void* ptr, int64_t bytes) = 0;
};

// Host memory (aligned malloc). `capacity_bytes` caps what it hands out, as a device's size would;
// 0 means the machine's physical memory.
std::unique_ptr<DeviceAllocator> make_host_allocator(int64_t capacity_bytes = 0,
                                                     std::string name = "host");

// Physical memory of this machine in bytes (sysconf), used as the host "device" size.
int64_t physical_host_memory_bytes();

}  // namespace justnews
