// DeviceBuffer / PinnedBuffer: allocation with descriptive errors; frees are unchecked because a
// destructor has nowhere to report to (and the CUDA context may already be gone at exit).
#include "engine/cuda/device_buffer.h"

#include <cuda_runtime.h>

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

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_bytes_(std::exchange(other.size_bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_bytes_ = std::exchange(other.size_bytes_, 0);
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
