// GemmRunner: row-major linear layers expressed as column-major cuBLASLt matmuls.
// Row-major out[rows, out] is column-major out^T[out, rows] = W[out, in] . x^T[in, rows], where the
// row-major weight [out, in] read column-major is W^T, hence op(A) = T. The bias vector runs along
// cuBLASLt's m dimension (= out_features), which is what the BIAS epilogues expect.
#include "engine/cuda/gemm_cublaslt.h"

#include <string>

#include "engine/cuda/cuda_check.h"

namespace justnews::cuda {

namespace {

cudaDataType_t data_type(Precision precision) {
  switch (precision) {
    case Precision::kFp16: return CUDA_R_16F;
    case Precision::kBf16: return CUDA_R_16BF;
    case Precision::kFp32: return CUDA_R_32F;
  }
  return CUDA_R_32F;
}

cublasLtEpilogue_t lt_epilogue(GemmEpilogue epilogue) {
  switch (epilogue) {
    case GemmEpilogue::kNone: return CUBLASLT_EPILOGUE_DEFAULT;
    case GemmEpilogue::kBias: return CUBLASLT_EPILOGUE_BIAS;
    case GemmEpilogue::kBiasGeluTanh: return CUBLASLT_EPILOGUE_GELU_BIAS;
    case GemmEpilogue::kBiasRelu: return CUBLASLT_EPILOGUE_RELU_BIAS;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

}  // namespace

Result<std::unique_ptr<GemmRunner>> GemmRunner::create(Precision precision, void* workspace,
                                                       size_t workspace_bytes) {
  std::unique_ptr<GemmRunner> runner(new GemmRunner(precision, workspace, workspace_bytes));
  JN_CUBLAS_CHECK(cublasLtCreate(&runner->handle_));
  return runner;
}

GemmRunner::~GemmRunner() {
  for (auto& [key, plan] : plans_) {
    if (plan.operation) cublasLtMatmulDescDestroy(plan.operation);
    if (plan.weight_layout) cublasLtMatrixLayoutDestroy(plan.weight_layout);
    if (plan.input_layout) cublasLtMatrixLayoutDestroy(plan.input_layout);
    if (plan.out_layout) cublasLtMatrixLayoutDestroy(plan.out_layout);
  }
  if (handle_) cublasLtDestroy(handle_);
}

Result<GemmRunner::Plan*> GemmRunner::plan_for(int64_t rows, int64_t in_features,
                                               int64_t out_features, GemmEpilogue epilogue) {
  const PlanKey key{rows, in_features, out_features, epilogue};
  if (auto found = plans_.find(key); found != plans_.end()) return &found->second;

  Plan& plan = plans_[key];
  const cudaDataType_t type = data_type(precision_);
  // fp32 stays true fp32 (no TF32) so that the fp32 backend can serve as a precise reference.
  JN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.operation, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T;
  const cublasOperation_t no_transpose = CUBLAS_OP_N;
  JN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.operation, CUBLASLT_MATMUL_DESC_TRANSA,
                                                 &transpose, sizeof(transpose)));
  JN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.operation, CUBLASLT_MATMUL_DESC_TRANSB,
                                                 &no_transpose, sizeof(no_transpose)));
  const cublasLtEpilogue_t lt = lt_epilogue(epilogue);
  JN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.operation, CUBLASLT_MATMUL_DESC_EPILOGUE, &lt,
                                                 sizeof(lt)));
  if (epilogue != GemmEpilogue::kNone) {
    JN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.operation, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                   &type, sizeof(type)));
  }
  JN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.weight_layout, type, in_features, out_features,
                                             in_features));
  JN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.input_layout, type, in_features, rows, in_features));
  JN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.out_layout, type, out_features, rows, out_features));

  cublasLtMatmulPreference_t preference = nullptr;
  JN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  const uint64_t max_workspace = workspace_bytes_;
  cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof(max_workspace));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found_count = 0;
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulAlgoGetHeuristic(handle_, plan.operation, plan.weight_layout,
                                            plan.input_layout, plan.out_layout, plan.out_layout,
                                            preference, 1, &heuristic, &found_count);
  }
  cublasLtMatmulPreferenceDestroy(preference);
  if (status != CUBLAS_STATUS_SUCCESS || found_count == 0) {
    const std::string why = status != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusString(status)
                                                            : "no algorithm found";
    plans_.erase(key);  // the next call retries rather than reusing a half-built plan
    return unsupported("cuBLASLt has no " + std::string(precision_name(precision_)) +
                       " algorithm for linear [" + std::to_string(rows) + " x " +
                       std::to_string(in_features) + "] -> " + std::to_string(out_features) + ": " +
                       why);
  }
  plan.algo = heuristic.algo;
  return &plan;
}

Status GemmRunner::linear(const void* input, int64_t rows, int64_t in_features, const void* weight,
                          const void* bias, int64_t out_features, GemmEpilogue epilogue, void* out,
                          cudaStream_t stream) {
  if (rows <= 0) return ok_status();
  if (in_features <= 0 || out_features <= 0)
    return invalid_argument("linear: feature counts must be positive, got in " +
                            std::to_string(in_features) + ", out " + std::to_string(out_features));
  if (epilogue != GemmEpilogue::kNone && bias == nullptr)
    return invalid_argument("linear: the epilogue needs a bias vector");
  JN_ASSIGN_OR_RETURN(Plan * plan, plan_for(rows, in_features, out_features, epilogue));
  if (epilogue != GemmEpilogue::kNone) {
    JN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->operation, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                   &bias, sizeof(bias)));
  }
  const float alpha = 1.f;
  const float beta = 0.f;
  JN_CUBLAS_CHECK(cublasLtMatmul(handle_, plan->operation, &alpha, weight, plan->weight_layout, input,
                                 plan->input_layout, &beta, out, plan->out_layout, out,
                                 plan->out_layout, &plan->algo, workspace_, workspace_bytes_, stream));
  return ok_status();
}

}  // namespace justnews::cuda
