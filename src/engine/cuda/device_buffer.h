// DeviceBuffer and PinnedBuffer: move-only owners of device memory (cudaMalloc, or memory adopted
// from a caller-supplied DeviceMemorySource such as a memory manager) and page-locked host memory
// (cudaMallocHost). Allocation returns Result so that an out-of-memory GPU is an error the caller
// can report, never a crash.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"

namespace justnews::cuda {

// Device memory owned by someone else (e.g. a lease from a per-agent memory manager): `data` stays
// valid while `owner` lives.
struct DeviceMemory {
  void* data = nullptr;
  size_t size_bytes = 0;
  std::shared_ptr<void> owner;
};

// Hands out device memory of at least `size_bytes`, 256-byte aligned, on the current device.
// `purpose` ("encoder weights") names the request in a refusal, which comes back as a Status.
using DeviceMemorySource =
    std::function<Result<DeviceMemory>(size_t size_bytes, const std::string& purpose)>;

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // `what` names the buffer in the error when the device has too little free memory.
  static Result<DeviceBuffer> allocate(size_t size_bytes, const std::string& what);
  // From `source` when it is set (the buffer then keeps the source's owner alive instead of
  // calling cudaFree; its size is what the source handed out), else as allocate() above.
  static Result<DeviceBuffer> allocate(size_t size_bytes, const std::string& what,
                                       const DeviceMemorySource& source);

  void* data() const { return data_; }
  template <typename T> T* data_as() const { return static_cast<T*>(data_); }
  size_t size_bytes() const { return size_bytes_; }

 private:
  void release();

  void* data_ = nullptr;
  size_t size_bytes_ = 0;
  bool adopted_ = false;         // from a DeviceMemorySource: never cudaFree'd here
  std::shared_ptr<void> owner_;  // the source's owner, released with the buffer
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  static Result<PinnedBuffer> allocate(size_t size_bytes, const std::string& what);

  void* data() const { return data_; }
  template <typename T> T* data_as() const { return static_cast<T*>(data_); }
  size_t size_bytes() const { return size_bytes_; }

 private:
  void* data_ = nullptr;
  size_t size_bytes_ = 0;
};

}  // namespace justnews::cuda
