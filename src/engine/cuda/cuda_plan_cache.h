// The CUDA backend behind the engine cache: open a model directory as a CUDA encoder through a
// cached plan — fingerprint the model, key it by device, precision, engine version and plan
// options, load the plan when one is cached and intact, else compile and store it.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "engine/cuda/cuda_encoder.h"
#include "engine/engine_cache.h"
#include "model/model_dir.h"

namespace justnews {

struct CachedCudaEncoder {
  std::unique_ptr<Encoder> encoder;
  PlanOrigin origin = PlanOrigin::kBuilt;
  std::string plan_path;
  std::string key_hash;
  std::string rebuild_reason;   // set when a cached plan was unusable
  uint64_t plan_weight_bytes = 0;
  double fingerprint_seconds = 0;  // hashing the model's files for the key
  double plan_seconds = 0;         // reading (or building and writing) the plan
  double upload_seconds = 0;       // creating the encoder: one copy of the weights to the device
};

Result<CachedCudaEncoder> open_cached_cuda_encoder(const LoadedModel& model,
                                                   const CudaEncoderOptions& options,
                                                   const std::string& cache_dir);

}  // namespace justnews
