// Cached CUDA plans for model directories (see cuda_plan_cache.h).
#include "engine/cuda/cuda_plan_cache.h"

#include <chrono>
#include <filesystem>

namespace justnews {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Result<CachedCudaEncoder> open_cached_cuda_encoder(const LoadedModel& model,
                                                   const CudaEncoderOptions& options,
                                                   const std::string& cache_dir) {
  CachedCudaEncoder opened;
  auto start = std::chrono::steady_clock::now();
  // Weight hashes are remembered beside the plans: a restart need not read every weight again.
  JN_ASSIGN_OR_RETURN(const ModelFingerprint fingerprint,
                      fingerprint_model(model, (std::filesystem::path(cache_dir) / "fingerprints").string()));
  JN_ASSIGN_OR_RETURN(const CudaDeviceIdentity identity, cuda_device_identity(options.device));
  const PlanKey key = cuda_plan_key(fingerprint.model_hash, identity, options);
  opened.fingerprint_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  const EngineCache cache(cache_dir);
  auto cached = cache.load_or_build(key, [&]() -> Result<EnginePlan> {
    JN_ASSIGN_OR_RETURN(EnginePlan plan, build_cuda_plan(model.config, model.weights, options, key));
    plan.tokenizer_hash = fingerprint.tokenizer_hash;
    plan.source = model.directory;
    return plan;
  });
  if (!cached.ok()) return cached.status().with_context(model.directory);
  opened.plan_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  CudaEncoderOptions run_options = options;
  if (run_options.gemm_tuning_path.empty())
    run_options.gemm_tuning_path = std::filesystem::path(cached->path).replace_extension(".tuning").string();
  JN_ASSIGN_OR_RETURN(opened.encoder, make_cuda_encoder(cached->plan, run_options));
  opened.upload_seconds = seconds_since(start);
  opened.origin = cached->origin;
  opened.plan_path = cached->path;
  opened.key_hash = key.hash();
  opened.rebuild_reason = cached->reason;
  opened.plan_weight_bytes = cached->plan.weights.size;
  return opened;
}

}  // namespace justnews
