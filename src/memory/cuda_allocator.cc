// CUDA DeviceAllocators. Every runtime call's error string is carried into the Status.
#include "memory/cuda_allocator.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

namespace justnews {
namespace {

class CudaDeviceAllocator final : public DeviceAllocator {
 public:
  CudaDeviceAllocator(int device, int64_t total_bytes) : device_(device), total_bytes_(total_bytes) {}

  std::string name() const override { return fmt::format("cuda:{}", device_); }
  int64_t total_bytes() const override { return total_bytes_; }

  Result<void*> allocate(int64_t bytes) override {
    cudaError_t error = cudaSetDevice(device_);
    void* ptr = nullptr;
    if (error == cudaSuccess) error = cudaMalloc(&ptr, static_cast<size_t>(bytes));
    if (error != cudaSuccess) {
      cudaGetLastError();  // clears the sticky error so later calls are not poisoned
      return resource_exhausted(fmt::format("{}: cudaMalloc({} bytes) failed: {}", name(), bytes,
                                            cudaGetErrorString(error)));
    }
    return ptr;
  }

  void deallocate(void* ptr, int64_t) override {
    if (!ptr) return;
    cudaSetDevice(device_);
    cudaFree(ptr);
  }

 private:
  int device_;
  int64_t total_bytes_;
};

class CudaPinnedAllocator final : public DeviceAllocator {
 public:
  std::string name() const override { return "cuda-pinned"; }
  int64_t total_bytes() const override { return physical_host_memory_bytes(); }

  Result<void*> allocate(int64_t bytes) override {
    void* ptr = nullptr;
    const cudaError_t error = cudaHostAlloc(&ptr, static_cast<size_t>(bytes), cudaHostAllocDefault);
    if (error != cudaSuccess) {
      cudaGetLastError();
      return resource_exhausted(fmt::format("cuda-pinned: cudaHostAlloc({} bytes) failed: {}", bytes,
                                            cudaGetErrorString(error)));
    }
    return ptr;
  }

  void deallocate(void* ptr, int64_t) override {
    if (ptr) cudaFreeHost(ptr);
  }
};

}  // namespace

Result<std::unique_ptr<DeviceAllocator>> make_cuda_device_allocator(int device) {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || device < 0 || device >= count) {
    cudaGetLastError();
    return unsupported(fmt::format("CUDA device {} is not available ({} device(s) found{}{})", device,
                                   error == cudaSuccess ? count : 0,
                                   error == cudaSuccess ? "" : ": ",
                                   error == cudaSuccess ? "" : cudaGetErrorString(error)));
  }
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  error = cudaSetDevice(device);
  if (error == cudaSuccess) error = cudaMemGetInfo(&free_bytes, &total_bytes);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return unsupported(fmt::format("cudaMemGetInfo on cuda:{} failed: {}", device, cudaGetErrorString(error)));
  }
  return std::unique_ptr<DeviceAllocator>(
      std::make_unique<CudaDeviceAllocator>(device, static_cast<int64_t>(total_bytes)));
}

Result<std::unique_ptr<DeviceAllocator>> make_cuda_pinned_allocator() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return unsupported("pinned host memory needs a CUDA device, and none was found");
  }
  return std::unique_ptr<DeviceAllocator>(std::make_unique<CudaPinnedAllocator>());
}

}  // namespace justnews
