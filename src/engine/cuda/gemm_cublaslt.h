// GemmRunner: the backend's linear layers in the activation precision through cuBLASLt, with bias
// (and GELU-tanh / ReLU) fused into the GEMM epilogue. (The FP8 / INT8 GEMMs are our own, in sm90/:
// cuBLASLt refuses outer-vector FP8 scales on the H200 with the cuBLAS of CUDA 13.0. It has no
// erf-GELU epilogue either: erf-GELU models run sm90's bias + GELU GEMM or this GEMM followed by a
// separate bias + GELU pass, whichever autotuning timed faster.)
// Descriptors and the chosen algorithm are cached per shape, so the hot path is one map lookup, a
// bias pointer write and the matmul itself. With autotuning (the default), the first call of a
// shape times the heuristic's candidate algorithms on the call's own operands and keeps the
// fastest, as TensorRT's tactic selection and torch's max-autotune do, instead of trusting the
// heuristic's first guess; the winner is reused for every row count of the same power-of-two class.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "core/function_ref.h"
#include "core/status.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/gemm_tuning.h"

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

  // The algorithms tuned so far, per shape class, for a timing cache (gemm_tuning.h), and their
  // reuse: an imported class is not timed again (its algorithm is still checked per shape).
  std::vector<TunedCublasLt> tuned_algorithms() const;
  void reuse_tuned_algorithms(const std::vector<TunedCublasLt>& entries);
  // cuBLASLt's version, which a timing cache must match.
  static std::string library_version();

 private:
  struct Plan {
    cublasLtMatmulDesc_t operation = nullptr;
    cublasLtMatrixLayout_t weight_layout = nullptr;
    cublasLtMatrixLayout_t input_layout = nullptr;
    cublasLtMatrixLayout_t out_layout = nullptr;
    cublasLtMatmulAlgo_t algo{};
    std::vector<cublasLtMatmulAlgo_t> candidates;  // until tuned; algo is the heuristic's first
    std::tuple<int64_t, int64_t, int64_t, GemmEpilogue> shape_class;  // rows bucketed, see tuned_
  };
  using PlanKey = std::tuple<int64_t, int64_t, int64_t, GemmEpilogue>;

  GemmRunner(Precision precision, void* workspace, size_t workspace_bytes, bool autotune)
      : precision_(precision),
        workspace_(workspace),
        workspace_bytes_(workspace_bytes),
        autotune_(autotune) {}
  // Runs plan's matmul with `algo` on the call's operands.
  using MatmulCall = FunctionRef<cublasStatus_t(const cublasLtMatmulAlgo_t& algo)>;
  // Runs `plan` on the operands (out = weight . input, no accumulation), tuning it first if due.
  Status matmul(Plan& plan, const void* weight, const void* input, void* out, cudaStream_t stream);
  // Times plan's candidates (a few runs each) and keeps the fastest; a no-op once tuned, without
  // autotuning, or while `stream` is being captured into a graph.
  Status tune(Plan& plan, cudaStream_t stream, MatmulCall call);
  Result<Plan*> plan_for(int64_t rows, int64_t in_features, int64_t out_features,
                         GemmEpilogue epilogue);
  static void destroy(Plan& plan);
  Status describe(int64_t rows, int64_t in_features, int64_t out_features,
                  GemmEpilogue epilogue, Plan& plan);

  Precision precision_;
  void* workspace_;
  size_t workspace_bytes_;
  bool autotune_;
  cublasLtHandle_t handle_ = nullptr;
  std::map<PlanKey, Plan> plans_;
  // The tuned algorithm per shape class (rows rounded up to a power of two): a batch with a new
  // token count reuses its class's winner instead of timing the candidates again (the analyze
  // pipeline sees a new count almost every batch; timing each cost it 3x its engine time).
  std::map<std::tuple<int64_t, int64_t, int64_t, GemmEpilogue>, cublasLtMatmulAlgo_t> tuned_;
  std::map<PlanKey, Status> refused_;
};

}  // namespace justnews::cuda
