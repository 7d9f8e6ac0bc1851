// The backend seam: picks the engine (CPU or CUDA) for an agent and builds its encoder. The CPU
// backend is always built; the CUDA one only with JUSTNEWS_CUDA (and used only when a device is
// visible). This is the one place that knows which backends exist.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/encoder.h"
#include "model/model_dir.h"

namespace justnews {

// True when this build has the CUDA backend and a CUDA device is visible.
bool cuda_backend_available();

// agent.device wins over engine.backend unless it is "auto"; "auto" means CUDA when available,
// else CPU. An explicit "cuda" without CUDA is an error naming the agent.
Result<std::string> resolve_backend(const AgentConfig& agent, const EngineConfig& engine);

// Device bytes the encoder will hold for weights and workspace at this precision, estimated
// before loading so that a load over budget is refused without touching the device.
int64_t estimate_weight_bytes(const LoadedModel& model, const std::string& backend, const std::string& precision);

// Builds the encoder on `backend` ("cpu" | "cuda"). `pool` is used by the CPU backend.
Result<std::unique_ptr<Encoder>> make_encoder(const LoadedModel& model, const std::string& backend,
                                              const AgentConfig& agent, const EngineConfig& engine,
                                              ThreadPool* pool);

}  // namespace justnews
