// The device side and the launcher of programmatic dependent launch (see dependent_launch.h).
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "core/status.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/dependent_launch.h"

namespace justnews::cuda {

// The first statement of every kernel launched by launch_kernel, before any global memory access
// (reads of the previous kernel's output, and writes a previous kernel may still be reading): waits
// until the kernels before it in the stream have completed and their writes are visible. Then it
// lets the next kernel be scheduled; that one waits the same way, so starting it early is safe, and
// it only gets SM room as this kernel's last blocks run. Without PDL both instructions are no-ops.
__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Launches `kernel` (whose body starts with wait_for_previous_kernel) on `stream`, as a dependent
// launch when dependent_launch_on(stream); `name` is for the error.
template <typename... KernelArgs, typename... Args>
Status launch_kernel(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block,
                     size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  if (dependent_launch_on(stream)) {
    config.attrs = &attribute;
    config.numAttrs = 1;
  }
  const cudaError_t launched = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (launched != cudaSuccess) {
    cudaGetLastError();  // the failure is reported here; it must not linger for the next check
    return cuda_error_status(launched, (std::string("launch of ") + name).c_str(), __FILE__,
                             __LINE__);
  }
  return ok_status();
}

}  // namespace justnews::cuda
