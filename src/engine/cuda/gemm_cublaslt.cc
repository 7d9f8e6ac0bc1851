// GemmRunner: row-major linear layers expressed as column-major cuBLASLt matmuls.
// Row-major out[rows, out] is column-major out^T[out, rows] = W[out, in] . x^T[in, rows], where the
// row-major weight [out, in] read column-major is W^T, hence op(A) = T. The bias vector runs along
// cuBLASLt's m dimension (= out_features), which is what the BIAS epilogues expect.
#include "engine/cuda/gemm_cublaslt.h"

#include <cstring>

#include <string>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/row_class.h"

namespace justnews::cuda {

namespace {

cudaDataType_t data_type(Precision precision) {
  switch (precision) {
    case Precision::kFp16:
      return CUDA_R_16F;
    case Precision::kBf16:
      return CUDA_R_16BF;
    case Precision::kFp32:
      return CUDA_R_32F;
  }
  return CUDA_R_32F;
}

cublasLtEpilogue_t lt_epilogue(GemmEpilogue epilogue) {
  switch (epilogue) {
    case GemmEpilogue::kNone:
      return CUBLASLT_EPILOGUE_DEFAULT;
    case GemmEpilogue::kBias:
      return CUBLASLT_EPILOGUE_BIAS;
    case GemmEpilogue::kBiasGeluTanh:
      return CUBLASLT_EPILOGUE_GELU_BIAS;
    case GemmEpilogue::kBiasRelu:
      return CUBLASLT_EPILOGUE_RELU_BIAS;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

}  // namespace

Result<std::unique_ptr<GemmRunner>> GemmRunner::create(Precision precision, void* workspace,
                                                       size_t workspace_bytes, bool autotune) {
  std::unique_ptr<GemmRunner> runner(
      new GemmRunner(precision, workspace, workspace_bytes, autotune));
  JN_CUBLAS_CHECK(cublasLtCreate(&runner->handle_));
  return runner;
}

void GemmRunner::destroy(Plan& plan) {
  if (plan.operation) cublasLtMatmulDescDestroy(plan.operation);
  if (plan.weight_layout) cublasLtMatrixLayoutDestroy(plan.weight_layout);
  if (plan.input_layout) cublasLtMatrixLayoutDestroy(plan.input_layout);
  if (plan.out_layout) cublasLtMatrixLayoutDestroy(plan.out_layout);
  plan = Plan{};
}

GemmRunner::~GemmRunner() {
  for (auto& [key, plan] : plans_) destroy(plan);
  if (handle_) cublasLtDestroy(handle_);
}

Status GemmRunner::describe(int64_t rows, int64_t in_features, int64_t out_features,
                            GemmEpilogue epilogue, Plan& plan) {
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
    JN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
        plan.operation, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &type, sizeof(type)));
  }
  JN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.weight_layout, type, in_features,
                                             out_features, in_features));
  JN_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&plan.input_layout, type, in_features, rows, in_features));
  JN_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&plan.out_layout, type, out_features, rows, out_features));
  return ok_status();
}

Result<GemmRunner::Plan*> GemmRunner::plan_for(int64_t rows, int64_t in_features,
                                               int64_t out_features, GemmEpilogue epilogue) {
  const PlanKey key{rows, in_features, out_features, epilogue};
  if (auto found = plans_.find(key); found != plans_.end()) return &found->second;
  if (auto refused = refused_.find(key); refused != refused_.end()) return refused->second;

  Plan& plan = plans_[key];
  const Status described = describe(rows, in_features, out_features, epilogue, plan);
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  constexpr int kCandidates = 8;
  int found_count = 0;
  cublasLtMatmulHeuristicResult_t heuristics[kCandidates] = {};
  if (described.ok()) {
    cublasLtMatmulPreference_t preference = nullptr;
    status = cublasLtMatmulPreferenceCreate(&preference);
    const uint64_t max_workspace = workspace_bytes_;
    if (status == CUBLAS_STATUS_SUCCESS) {
      status =
          cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                               &max_workspace, sizeof(max_workspace));
    }
    if (status == CUBLAS_STATUS_SUCCESS) {
      status = cublasLtMatmulAlgoGetHeuristic(
          handle_, plan.operation, plan.weight_layout, plan.input_layout, plan.out_layout,
          plan.out_layout, preference, autotune_ ? kCandidates : 1, heuristics, &found_count);
    }
    if (preference) cublasLtMatmulPreferenceDestroy(preference);
  }
  if (!described.ok() || status != CUBLAS_STATUS_SUCCESS || found_count == 0) {
    const std::string why = !described.ok()                   ? described.message()
                            : status != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusString(status)
                                                              : "no algorithm found";
    destroy(plan);
    plans_.erase(key);
    // Remembered, so a shape cuBLASLt cannot run costs one heuristic query, not one per call.
    return refused_
        .emplace(key,
                 unsupported(std::string("cuBLASLt has no ") + precision_name(precision_) + " algorithm for linear [" +
                             std::to_string(rows) + " x " + std::to_string(in_features) + "] -> " +
                             std::to_string(out_features) + ": " + why))
        .first->second;
  }
  plan.algo = heuristics[0].algo;
  plan.shape_class = {gemm_row_class(rows), in_features, out_features, epilogue};
  if (auto tuned = tuned_.find(plan.shape_class); tuned != tuned_.end()) {
    cublasLtMatmulHeuristicResult_t check{};
    if (cublasLtMatmulAlgoCheck(handle_, plan.operation, plan.weight_layout, plan.input_layout,
                                plan.out_layout, plan.out_layout, &tuned->second, &check) ==
            CUBLAS_STATUS_SUCCESS &&
        check.workspaceSize <= workspace_bytes_) {
      plan.algo = tuned->second;
      return &plan;
    }
  }
  for (int idx = 1; idx < found_count; ++idx)
    if (heuristics[idx].state == CUBLAS_STATUS_SUCCESS)
      plan.candidates.push_back(heuristics[idx].algo);
  if (!plan.candidates.empty()) plan.candidates.insert(plan.candidates.begin(), heuristics[0].algo);
  return &plan;
}

Status GemmRunner::matmul(Plan& plan, const void* weight, const void* input, void* out,
                          cudaStream_t stream) {
  const float alpha = 1.f, beta = 0.f;  // every plan computes in fp32
  const auto call = [&](const cublasLtMatmulAlgo_t& algo) {
    return cublasLtMatmul(handle_, plan.operation, &alpha, weight, plan.weight_layout, input,
                          plan.input_layout, &beta, out, plan.out_layout, out, plan.out_layout,
                          &algo, workspace_, workspace_bytes_, stream);
  };
  JN_RETURN_IF_ERROR(tune(plan, stream, call));
  JN_CUBLAS_CHECK(call(plan.algo));
  return ok_status();
}

Status GemmRunner::tune(Plan& plan, cudaStream_t stream, MatmulCall call) {
  if (plan.candidates.empty()) return ok_status();
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  JN_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  if (capture != cudaStreamCaptureStatusNone) return ok_status();
  constexpr int kTimedRuns = 3;
  cudaEvent_t start = nullptr, stop = nullptr;
  JN_CUDA_CHECK(cudaEventCreate(&start));
  JN_CUDA_CHECK(cudaEventCreate(&stop));
  float best_ms = 0.f;
  bool found = false;
  Status status = ok_status();
  for (const cublasLtMatmulAlgo_t& candidate : plan.candidates) {
    if (call(candidate) != CUBLAS_STATUS_SUCCESS) continue;  // warm-up; a refusal rules it out
    cudaEventRecord(start, stream);
    bool ran = true;
    for (int run = 0; run < kTimedRuns && ran; ++run)
      ran = call(candidate) == CUBLAS_STATUS_SUCCESS;
    cudaEventRecord(stop, stream);
    float elapsed_ms = 0.f;
    const cudaError_t waited = cudaEventSynchronize(stop);
    if (waited != cudaSuccess) {
      status =
          cuda_error_status(waited, "cudaEventSynchronize (GEMM autotuning)", __FILE__, __LINE__);
      break;
    }
    if (ran && cudaEventElapsedTime(&elapsed_ms, start, stop) == cudaSuccess &&
        (!found || elapsed_ms < best_ms)) {
      best_ms = elapsed_ms;
      plan.algo = candidate;
      found = true;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  plan.candidates.clear();
  if (found) tuned_[plan.shape_class] = plan.algo;
  return status;
}

std::vector<TunedCublasLt> GemmRunner::tuned_algorithms() const {
  static_assert(sizeof(cublasLtMatmulAlgo_t) == sizeof(TunedCublasLt::algo));
  std::vector<TunedCublasLt> entries;
  for (const auto& [shape_class, algo] : tuned_) {
    TunedCublasLt entry;
    std::tie(entry.row_class, entry.in_features, entry.out_features, std::ignore) = shape_class;
    entry.epilogue = static_cast<int>(std::get<3>(shape_class));
    std::memcpy(entry.algo, &algo, sizeof(entry.algo));
    entries.push_back(entry);
  }
  return entries;
}

void GemmRunner::reuse_tuned_algorithms(const std::vector<TunedCublasLt>& entries) {
  for (const TunedCublasLt& entry : entries) {
    if (entry.epilogue < static_cast<int>(GemmEpilogue::kNone) ||
        entry.epilogue > static_cast<int>(GemmEpilogue::kBiasRelu))
      continue;
    cublasLtMatmulAlgo_t algo;
    std::memcpy(&algo, entry.algo, sizeof(algo));
    tuned_[{entry.row_class, entry.in_features, entry.out_features, static_cast<GemmEpilogue>(entry.epilogue)}] =
        algo;
  }
}

std::string GemmRunner::library_version() { return std::to_string(cublasLtGetVersion()); }

Status GemmRunner::linear(const void* input, int64_t rows, int64_t in_features, const void* weight,
                          const void* bias, int64_t out_features, GemmEpilogue epilogue, void* out,
                          cudaStream_t stream) {
  if (rows <= 0) return ok_status();
  if (in_features <= 0 || out_features <= 0)
    return invalid_argument("linear: feature counts must be positive, got in " +
                            std::to_string(in_features) + ", out " + std::to_string(out_features));
  if (epilogue != GemmEpilogue::kNone && bias == nullptr)
    return invalid_argument("linear: the epilogue needs a bias vector");
  JN_ASSIGN_OR_RETURN(Plan * plan,
                      plan_for(rows, in_features, out_features, epilogue));
  if (epilogue != GemmEpilogue::kNone) {
    JN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
        plan->operation, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  return matmul(*plan, weight, input, out, stream);
}

}  // namespace justnews::cuda
