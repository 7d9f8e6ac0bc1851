// The backend seam: picks the engine (CPU or CUDA) for an agent and builds its encoder. The CPU
// backend is always built; the CUDA one only with JUSTNEWS_CUDA (and used only when a device is
// visible). This is the one place that knows which backends exist, and which of them take their
// memory from the agent's MemoryManager (CUDA: weights and a workspace sized for the agent's
// largest batch) rather than allocating it themselves (CPU: only accounted for).
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/encoder.h"
#include "memory/memory_manager.h"
#include "model/model_dir.h"

namespace justnews {

// True when this build has the CUDA backend and a CUDA device is visible.
bool cuda_backend_available();

// agent.device wins over engine.backend unless it is "auto"; "auto" means CUDA when available,
// else CPU. An explicit "cuda" without CUDA is an error naming the agent.
Result<std::string> resolve_backend(const AgentConfig& agent, const EngineConfig& engine);

// True when the encoder on `backend` takes its memory as leases from the MemoryManager passed to
// make_encoder (and sizes it for the agent's largest batch), so the agent needs no reservations.
bool backend_leases_memory(const std::string& backend);

// Bytes the CPU encoder holds for its float32 weights, reserved before loading so that a load over
// budget is refused before the conversion.
int64_t estimate_weight_bytes(const LoadedModel& model);

// Builds the encoder on `backend` ("cpu" | "cuda"). `pool` is used by the CPU backend. The CUDA
// backend allocates its weights and its workspace (for agent.max_batch_items sequences of
// agent.max_batch_tokens tokens in all) from `memory`, charged to agent.name, which must be
// registered there: a load over the agent's budget is refused with the agent, the request and the
// limit before any cudaMalloc. `memory` must outlive the encoder.
Result<std::unique_ptr<Encoder>> make_encoder(const LoadedModel& model, const std::string& backend,
                                              const AgentConfig& agent, const EngineConfig& engine,
                                              ThreadPool* pool, MemoryManager* memory);

}  // namespace justnews
