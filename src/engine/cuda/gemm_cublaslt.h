// GemmRunner: the backend's linear layers through cuBLASLt, with bias (and GELU-tanh / ReLU) fused
// into the GEMM epilogue. Descriptors and the heuristic's algorithm are cached per shape, so the
// hot path is one map lookup, one attribute write (the bias pointer) and the matmul itself.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "core/status.h"
#include "engine/cuda/cuda_ops.h"

namespace justnews::cuda {

enum class GemmEpilogue {
  kNone,          // out = x W^T
  kBias,          // out = x W^T + b
  kBiasGeluTanh,  // out = gelu_tanh(x W^T + b)  (cuBLASLt's GELU is the tanh approximation)
  kBiasRelu,      // out = relu(x W^T + b)
};

class GemmRunner {
 public:
  // `workspace` (device memory, may be null when workspace_bytes is 0) is lent for every matmul.
  static Result<std::unique_ptr<GemmRunner>> create(Precision precision, void* workspace,
                                                    size_t workspace_bytes);
  ~GemmRunner();
  GemmRunner(const GemmRunner&) = delete;
  GemmRunner& operator=(const GemmRunner&) = delete;

  // out[rows, out_features] = epilogue(input[rows, in_features] . weight[out_features, in_features]^T),
  // all row-major in the runner's precision; bias has out_features entries.
  Status linear(const void* input, int64_t rows, int64_t in_features, const void* weight,
                const void* bias, int64_t out_features, GemmEpilogue epilogue, void* out,
                cudaStream_t stream);

 private:
  struct Plan {
    cublasLtMatmulDesc_t operation = nullptr;
    cublasLtMatrixLayout_t weight_layout = nullptr;
    cublasLtMatrixLayout_t input_layout = nullptr;
    cublasLtMatrixLayout_t out_layout = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  using PlanKey = std::tuple<int64_t, int64_t, int64_t, GemmEpilogue>;

  GemmRunner(Precision precision, void* workspace, size_t workspace_bytes)
      : precision_(precision), workspace_(workspace), workspace_bytes_(workspace_bytes) {}
  Result<Plan*> plan_for(int64_t rows, int64_t in_features, int64_t out_features,
                         GemmEpilogue epilogue);

  Precision precision_;
  void* workspace_;
  size_t workspace_bytes_;
  cublasLtHandle_t handle_ = nullptr;
  std::map<PlanKey, Plan> plans_;
};

}  // namespace justnews::cuda
