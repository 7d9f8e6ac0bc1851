// Backend selection and encoder construction.
#include "runtime/backend.h"

#include "engine/cpu/cpu_encoder.h"
#ifdef JUSTNEWS_HAS_CUDA_ENCODER
#include <cuda_runtime_api.h>

#include "engine/cuda/cuda_encoder.h"
#endif

namespace justnews {

bool cuda_backend_available() {
#ifdef JUSTNEWS_HAS_CUDA_ENCODER
  int count = 0;
  const bool found = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  cudaGetLastError();
  return found;
#else
  return false;
#endif
}

Result<std::string> resolve_backend(const AgentConfig& agent, const EngineConfig& engine) {
  const std::string wanted = agent.device != "auto" ? agent.device : engine.backend;
  if (wanted == "cpu") return std::string("cpu");
  if (wanted == "cuda") {
    if (cuda_backend_available()) return std::string("cuda");
#ifdef JUSTNEWS_HAS_CUDA_ENCODER
    return unsupported("agent '" + agent.name + "': device cuda was requested but no CUDA device is visible");
#else
    return unsupported("agent '" + agent.name + "': device cuda was requested but this build has no CUDA "
                       "backend (configure with -DJUSTNEWS_CUDA=ON)");
#endif
  }
  return std::string(cuda_backend_available() ? "cuda" : "cpu");
}

int64_t estimate_weight_bytes(const LoadedModel& model, const std::string& backend, const std::string& precision) {
  // The CPU engine converts every weight to float32; the CUDA engine stores the chosen precision.
  const int64_t bytes_per_parameter = backend == "cuda" && precision != "fp32" ? 2 : 4;
  return model.parameter_count * bytes_per_parameter;
}

Result<std::unique_ptr<Encoder>> make_encoder(const LoadedModel& model, const std::string& backend,
                                              const AgentConfig& agent, const EngineConfig& engine,
                                              ThreadPool* pool) {
  if (backend == "cpu") {
    auto encoder = make_cpu_encoder(model, pool);
    if (!encoder.ok()) return encoder.status().with_context("agent '" + agent.name + "'");
    return encoder;
  }
#ifdef JUSTNEWS_HAS_CUDA_ENCODER
  if (backend == "cuda") {
    CudaEncoderOptions options;
    options.precision = agent.precision == "fp32"   ? cuda::Precision::kFp32
                        : agent.precision == "bf16" ? cuda::Precision::kBf16
                                                    : cuda::Precision::kFp16;
    options.max_batch_tokens = agent.max_batch_tokens;
    auto encoder = make_cuda_encoder(model, options);
    if (!encoder.ok()) return encoder.status().with_context("agent '" + agent.name + "'");
    return encoder;
  }
#endif
  return unsupported("agent '" + agent.name + "': backend '" + backend + "' is not available in this build");
}

}  // namespace justnews
