// GemmRunner: the backend's linear layers through cuBLASLt, with bias (and GELU-tanh / ReLU) fused
// into the GEMM epilogue, in the activation precision or quantised: FP8 E4M3 (Hopper; unscaled
// products of the codes in bf16) and INT8 (exact int32 accumulators); for both the row epilogue
// kernel applies the per-token x per-channel scales. (cuBLASLt's outer-vector FP8 scaling, which
// would apply them inside the GEMM, is refused on the H200 with the cuBLAS of CUDA 13.0.)
// Descriptors and the chosen algorithm are cached per shape, so the hot path is one map lookup, a
// bias pointer write and the matmul itself. With autotuning (the default), the first call of a
// shape times the heuristic's candidate algorithms on the call's own operands and keeps the
// fastest, as TensorRT's tactic selection and torch's max-autotune do, instead of trusting the
// heuristic's first guess.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
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
                                                    size_t workspace_bytes, bool autotune = true);
  ~GemmRunner();
  GemmRunner(const GemmRunner&) = delete;
  GemmRunner& operator=(const GemmRunner&) = delete;

  // out[rows, out_features] = epilogue(input[rows, in_features] . weight[out_features,
  // in_features]^T), all row-major in the runner's precision; bias has out_features entries.
  Status linear(const void* input, int64_t rows, int64_t in_features, const void* weight,
                const void* bias, int64_t out_features, GemmEpilogue epilogue, void* out,
                cudaStream_t stream);

  // out[r, o] = sum_k x[r, k] w[o, k] over E4M3 codes ([rows, in], [out, in] row-major), fp32
  // accumulation, written in bf16 (the runner must be bf16: the unscaled sums exceed fp16's range).
  // Needs in_features and out_features multiples of 16.
  Status linear_fp8(const void* input_codes, int64_t rows, int64_t in_features,
                    const void* weight_codes, int64_t out_features, void* out, cudaStream_t stream);

  // out[r, o] = sum_k x[r, k] w[o, k] over int8 codes, exact int32 accumulators.
  // Needs in_features and out_features multiples of 16.
  Status linear_int8(const void* input_codes, int64_t rows, int64_t in_features,
                     const void* weight_codes, int64_t out_features, int32_t* out,
                     cudaStream_t stream);

 private:
  struct Plan {
    cublasLtMatmulDesc_t operation = nullptr;
    cublasLtMatrixLayout_t weight_layout = nullptr;
    cublasLtMatrixLayout_t input_layout = nullptr;
    cublasLtMatrixLayout_t out_layout = nullptr;
    cublasLtMatmulAlgo_t algo{};
    std::vector<cublasLtMatmulAlgo_t> candidates;  // until tuned; algo is the heuristic's first
  };
  enum class Kind { kNative, kFp8, kInt8 };
  using PlanKey = std::tuple<Kind, int64_t, int64_t, int64_t, GemmEpilogue>;

  GemmRunner(Precision precision, void* workspace, size_t workspace_bytes, bool autotune)
      : precision_(precision),
        workspace_(workspace),
        workspace_bytes_(workspace_bytes),
        autotune_(autotune) {}
  // Runs plan's matmul with `algo` on the call's operands.
  using MatmulCall = std::function<cublasStatus_t(const cublasLtMatmulAlgo_t& algo)>;
  // Runs `plan` on the operands (alpha / beta of the plan's scale type), tuning it first if due.
  Status matmul(Plan& plan, const void* alpha, const void* beta, const void* weight,
                const void* input, void* out, cudaStream_t stream);
  // Times plan's candidates (a few runs each) and keeps the fastest; a no-op once tuned, without
  // autotuning, or while `stream` is being captured into a graph.
  Status tune(Plan& plan, cudaStream_t stream, const MatmulCall& call);
  Result<Plan*> plan_for(Kind kind, int64_t rows, int64_t in_features, int64_t out_features,
                         GemmEpilogue epilogue);
  static void destroy(Plan& plan);
  Status describe(Kind kind, int64_t rows, int64_t in_features, int64_t out_features,
                  GemmEpilogue epilogue, Plan& plan);

  Precision precision_;
  void* workspace_;
  size_t workspace_bytes_;
  bool autotune_;
  cublasLtHandle_t handle_ = nullptr;
  std::map<PlanKey, Plan> plans_;
  std::map<PlanKey, Status> refused_;
};

}  // namespace justnews::cuda
