// CHECK macros for CUDA runtime and cuBLAS(Lt) calls: a failed call becomes a Status that names the
// statement, the file and the line, so a user sees what broke without a debugger. Library code
// returns these Statuses; nothing here throws or aborts.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "core/status.h"

namespace justnews::cuda {

inline Status cuda_error_status(cudaError_t error, const char* statement, const char* file, int line) {
  return internal_error(std::string("CUDA call `") + statement + "` failed at " + file + ":" +
                        std::to_string(line) + ": " + cudaGetErrorName(error) + " (" +
                        cudaGetErrorString(error) + ")");
}

inline Status cublas_error_status(cublasStatus_t error, const char* statement, const char* file,
                                  int line) {
  return internal_error(std::string("cuBLAS call `") + statement + "` failed at " + file + ":" +
                        std::to_string(line) + ": status " + std::to_string(static_cast<int>(error)) +
                        " (" + cublasLtGetStatusString(error) + ")");
}

}  // namespace justnews::cuda

// Returns a Status from the enclosing function when a CUDA runtime call fails.
#define JN_CUDA_CHECK(statement)                                                               \
  do {                                                                                         \
    const cudaError_t jn_cuda_error_ = (statement);                                            \
    if (jn_cuda_error_ != cudaSuccess)                                                         \
      return ::justnews::cuda::cuda_error_status(jn_cuda_error_, #statement, __FILE__, __LINE__); \
  } while (0)

// Returns a Status from the enclosing function when a cuBLAS / cuBLASLt call fails.
#define JN_CUBLAS_CHECK(statement)                                                                \
  do {                                                                                            \
    const cublasStatus_t jn_cublas_error_ = (statement);                                          \
    if (jn_cublas_error_ != CUBLAS_STATUS_SUCCESS)                                                \
      return ::justnews::cuda::cublas_error_status(jn_cublas_error_, #statement, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports a bad launch configuration (the launch itself returns nothing).
#define JN_CUDA_CHECK_LAUNCH(kernel_name)                                                      \
  do {                                                                                         \
    const cudaError_t jn_cuda_error_ = cudaGetLastError();                                     \
    if (jn_cuda_error_ != cudaSuccess)                                                         \
      return ::justnews::cuda::cuda_error_status(jn_cuda_error_, "launch of " #kernel_name,     \
                                                 __FILE__, __LINE__);                          \
  } while (0)
