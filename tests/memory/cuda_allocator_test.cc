// The CUDA allocators behind the same manager: budgets hold on a real GPU, an allocation larger
// than the device is a refusal (never a CUDA crash), pinned host memory is usable.
#include "memory/cuda_allocator.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>

#include "memory/memory_manager.h"

namespace justnews {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(CudaAllocator, DeviceBudgetsAndRefusals) {
  auto allocator = make_cuda_device_allocator(0);
  ASSERT_TRUE(allocator.ok()) << allocator.status().to_string();
  const int64_t total = (*allocator)->total_bytes();
  MemoryManager manager(std::move(allocator).value(), MemoryConfig{});
  EXPECT_EQ(manager.usable_bytes(), static_cast<int64_t>(total * 0.85));
  ASSERT_TRUE(manager.register_agent("sentiment", 512 * kMiB).ok());
  ASSERT_TRUE(manager.register_agent("toxicity", 256 * kMiB).ok());
  auto weights = manager.allocate("sentiment", 300 * kMiB, "weights");
  ASSERT_TRUE(weights.ok()) << weights.status().to_string();
  ASSERT_EQ(cudaMemset(weights->data(), 7, 300 * kMiB), cudaSuccess);
  auto over = manager.allocate("toxicity", 300 * kMiB, "weights");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("toxicity"), std::string::npos);
  EXPECT_EQ(manager.register_agent("huge", total).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(manager.unload_agent("sentiment").ok());
  manager.trim();
  EXPECT_EQ(manager.pool_reserved_bytes(), 0);

  auto raw = make_cuda_device_allocator(0);
  ASSERT_TRUE(raw.ok());
  auto impossible = (*raw)->allocate(total * 2);
  ASSERT_FALSE(impossible.ok());
  EXPECT_EQ(impossible.status().code(), StatusCode::kResourceExhausted);
  auto after = (*raw)->allocate(kMiB);
  ASSERT_TRUE(after.ok()) << "a refused cudaMalloc must not poison later calls";
  (*raw)->deallocate(*after, kMiB);
  EXPECT_FALSE(make_cuda_device_allocator(4096).ok());
}

TEST(CudaAllocator, PinnedHostMemoryHasTheSameAccounting) {
  auto allocator = make_cuda_pinned_allocator();
  ASSERT_TRUE(allocator.ok()) << allocator.status().to_string();
  MemoryManager manager(std::move(allocator).value(), MemoryConfig{});
  ASSERT_TRUE(manager.register_agent("embed", 256 * kMiB).ok());
  auto staging = manager.allocate("embed", 64 * kMiB, "input staging");
  ASSERT_TRUE(staging.ok());
  std::memset(staging->data(), 3, 64 * kMiB);
  void* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, 64 * kMiB), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(device, staging->data(), 64 * kMiB, cudaMemcpyHostToDevice), cudaSuccess);
  cudaFree(device);
  EXPECT_FALSE(manager.allocate("embed", 200 * kMiB, "output staging").ok());
}

}  // namespace
}  // namespace justnews
