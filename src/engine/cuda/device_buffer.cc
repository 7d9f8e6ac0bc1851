// DeviceBuffer / PinnedBuffer: allocation with descriptive errors; frees are unchecked because a
// destructor has nowhere to report to (and the CUDA context may already be gone at exit).
#include "engine/cuda/device_buffer.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

namespace justnews::cuda {

namespace {

Status allocation_error(cudaError_t error, size_t size_bytes, const std::string& what,
                        const char* kind) {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  return resource_exhausted(std::string(kind) + " allocation of " + std::to_string(size_bytes) +
                            " bytes for " + what + " failed: " + cudaGetErrorString(error) +
                            " (device has " + std::to_string(free_bytes) + " of " +
                            std::to_string(total_bytes) + " bytes free)");
}

}  // namespace

void DeviceBuffer::release() {
  if (!data_) return;
  if (adopted_) {
    // cudaFree waits for the device; memory handed back to its owner (and perhaps straight to
    // another encoder) must not be reused while kernels may still touch it either.
    cudaDeviceSynchronize();
    owner_.reset();
  } else {
    cudaFree(data_);
  }
  data_ = nullptr;
  size_bytes_ = 0;
  adopted_ = false;
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_bytes_(std::exchange(other.size_bytes_, 0)),
      adopted_(std::exchange(other.adopted_, false)),
      owner_(std::move(other.owner_)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_bytes_ = std::exchange(other.size_bytes_, 0);
    adopted_ = std::exchange(other.adopted_, false);
    owner_ = std::move(other.owner_);
  }
  return *this;
}

Result<DeviceBuffer> DeviceBuffer::allocate(size_t size_bytes, const std::string& what) {
  DeviceBuffer buffer;
  if (size_bytes == 0) return buffer;
  const cudaError_t error = cudaMalloc(&buffer.data_, size_bytes);
  if (error != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls are not blamed for it
    return allocation_error(error, size_bytes, what, "device");
  }
  buffer.size_bytes_ = size_bytes;
  return buffer;
}

Result<DeviceBuffer> DeviceBuffer::allocate(size_t size_bytes, const std::string& what,
                                            const DeviceMemorySource& source) {
  if (!source || size_bytes == 0) return allocate(size_bytes, what);
  JN_ASSIGN_OR_RETURN(DeviceMemory memory, source(size_bytes, what));
  // The encoder lays its regions out from the base pointer and relies on 256-byte alignment.
  constexpr uintptr_t kAlignmentBytes = 256;
  if (!memory.data || memory.size_bytes < size_bytes ||
      reinterpret_cast<uintptr_t>(memory.data) % kAlignmentBytes != 0)
    return internal_error("device memory source handed out " + std::to_string(memory.size_bytes) +
                          " bytes at " + std::to_string(reinterpret_cast<uintptr_t>(memory.data)) +
                          " for " + what + ", expected at least " + std::to_string(size_bytes) +
                          " bytes, 256-byte aligned");
  DeviceBuffer buffer;
  buffer.data_ = memory.data;
  buffer.size_bytes_ = memory.size_bytes;
  buffer.adopted_ = true;
  buffer.owner_ = std::move(memory.owner);
  return buffer;
}

PinnedBuffer::~PinnedBuffer() {
  if (data_) cudaFreeHost(data_);
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_bytes_(std::exchange(other.size_bytes_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_bytes_ = std::exchange(other.size_bytes_, 0);
  }
  return *this;
}

Result<PinnedBuffer> PinnedBuffer::allocate(size_t size_bytes, const std::string& what) {
  PinnedBuffer buffer;
  if (size_bytes == 0) return buffer;
  const cudaError_t error = cudaMallocHost(&buffer.data_, size_bytes);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return allocation_error(error, size_bytes, what, "pinned host");
  }
  buffer.size_bytes_ = size_bytes;
  return buffer;
}

}  // namespace justnews::cuda
