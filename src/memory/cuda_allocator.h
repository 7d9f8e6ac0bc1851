// DeviceAllocators over the CUDA runtime (built only with JUSTNEWS_CUDA): device memory through
// cudaMalloc/cudaFree sized by cudaMemGetInfo, and pinned host memory through cudaHostAlloc.
// Failures come back as kResourceExhausted / kUnsupported statuses naming the CUDA call, never as
// a crash.
#pragma once

#include <memory>

#include "core/status.h"
#include "memory/device_allocator.h"

namespace justnews {

// Fails (kUnsupported) when no CUDA device `device` exists.
Result<std::unique_ptr<DeviceAllocator>> make_cuda_device_allocator(int device);
// Page-locked host memory; its capacity is the machine's physical memory.
Result<std::unique_ptr<DeviceAllocator>> make_cuda_pinned_allocator();

}  // namespace justnews
