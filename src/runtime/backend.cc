// Backend selection and encoder construction.
#include "runtime/backend.h"

#include <memory>

#include "engine/cpu/cpu_encoder.h"
#ifdef JUSTNEWS_HAS_CUDA_ENCODER
#include <cuda_runtime_api.h>

#include "engine/cuda/cuda_encoder.h"
#include "engine/cuda/cuda_plan_cache.h"
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

std::string requested_backend(const AgentConfig& agent, const EngineConfig& engine) {
  return agent.device != "auto" ? agent.device : engine.backend;
}

Result<std::string> resolve_backend(const AgentConfig& agent, const EngineConfig& engine) {
  const std::string wanted = requested_backend(agent, engine);
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

bool backend_leases_memory(const std::string& backend) { return backend == "cuda"; }

int64_t encoder_pinned_bytes(const Encoder& encoder) {
#ifdef JUSTNEWS_HAS_CUDA_ENCODER
  return static_cast<int64_t>(cuda_encoder_pinned_bytes(encoder));
#else
  (void)encoder;
  return 0;
#endif
}

int64_t estimate_weight_bytes(const LoadedModel& model) {
  // The CPU engine converts every weight to float32.
  return model.parameter_count * static_cast<int64_t>(sizeof(float));
}

std::string engine_cache_dir(const EngineConfig& engine) {
  return engine.engine_cache_dir.empty() ? default_engine_cache_dir() : engine.engine_cache_dir;
}

Result<BuiltEncoder> make_encoder(const LoadedModel& model, const std::string& backend,
                                  const AgentConfig& agent, const EngineConfig& engine, ThreadPool* pool,
                                  MemoryManager* memory) {
  BuiltEncoder built;
  if (backend == "cpu") {
    // The CPU has no fp16 arithmetic: fp16 agents run the FP32 reference there.
    CpuEncoderOptions options;
    if (agent.precision != "fp16") {
      auto precision = parse_precision(agent.precision);
      if (!precision.ok()) return precision.status().with_context("agent '" + agent.name + "'");
      options.precision = *precision;
    }
    auto encoder = make_cpu_encoder(model, pool, options);
    if (!encoder.ok()) return encoder.status().with_context("agent '" + agent.name + "'");
    built.encoder = std::move(encoder).value();
    return built;
  }
#ifdef JUSTNEWS_HAS_CUDA_ENCODER
  if (backend == "cuda") {
    CudaEncoderOptions options;
    if (Status precision = apply_precision_name(agent.precision, options); !precision.ok())
      return precision.with_context("agent '" + agent.name + "'");
    // The workspace is sized for the agent's largest batch (the scheduler never cuts a bigger one;
    // Agent::run_batch splits bigger ones), so batches need no memory of their own.
    options.max_batch_tokens = agent.max_batch_tokens;
    options.max_batch_sequences = agent.max_batch_items;
    options.max_workspace_bytes = static_cast<size_t>(engine.cuda_workspace_bytes);
    options.autotune_gemms = engine.cuda_autotune_gemms;
    if (memory) {
      options.device_memory = [memory, agent_name = agent.name, model_dir = model.directory](
                                  size_t size_bytes, const std::string& purpose) -> Result<cuda::DeviceMemory> {
        JN_ASSIGN_OR_RETURN(MemoryLease lease, memory->allocate(agent_name, static_cast<int64_t>(size_bytes),
                                                                purpose + " of " + model_dir));
        auto owner = std::make_shared<MemoryLease>(std::move(lease));
        return cuda::DeviceMemory{owner->data(), static_cast<size_t>(owner->bytes()), owner};
      };
    }
    if (engine.plan_cache) {
      // The plan's weights go to the device through options.device_memory, as they do uncached.
      auto opened = open_cached_cuda_encoder(model, options, engine_cache_dir(engine));
      if (!opened.ok()) return opened.status().with_context("agent '" + agent.name + "'");
      built.encoder = std::move(opened->encoder);
      built.info.plan_origin = opened->origin;
      built.info.plan_path = std::move(opened->plan_path);
      built.info.rebuild_reason = std::move(opened->rebuild_reason);
      built.info.fingerprint_s = opened->fingerprint_seconds;
      built.info.plan_s = opened->plan_seconds;
      built.info.upload_s = opened->upload_seconds;
      return built;
    }
    auto encoder = make_cuda_encoder(model, options);
    if (!encoder.ok()) return encoder.status().with_context("agent '" + agent.name + "'");
    built.encoder = std::move(encoder).value();
    return built;
  }
#endif
  return unsupported("agent '" + agent.name + "': backend '" + backend + "' is not available in this build");
}

}  // namespace justnews
