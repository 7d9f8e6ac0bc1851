// The backend seam: picks the engine (CPU or CUDA) for an agent and builds its encoder. The CPU
// backend is always built; the CUDA one only with JUSTNEWS_CUDA (and used only when a device is
// visible). This is the one place that knows which backends exist, and which of them take their
// memory from the agent's MemoryManager (CUDA: weights and a workspace sized for the agent's
// largest batch) rather than allocating it themselves (CPU: only accounted for). CUDA encoders
// come through the engine cache (engine.plan_cache), so a restart reads the converted and
// quantised weights instead of converting them again.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/encoder.h"
#include "engine/engine_cache.h"
#include "memory/memory_manager.h"
#include "model/model_dir.h"

namespace justnews {

// True when this build has the CUDA backend and a CUDA device is visible.
bool cuda_backend_available();

// What the configuration asks for: agent.device unless it is "auto", else engine.backend ("auto",
// "cpu" or "cuda"). No device is queried.
std::string requested_backend(const AgentConfig& agent, const EngineConfig& engine);
// The requested backend made concrete: "auto" means CUDA when available, else CPU. An explicit
// "cuda" without CUDA is an error naming the agent.
Result<std::string> resolve_backend(const AgentConfig& agent, const EngineConfig& engine);

// True when the encoder on `backend` takes its memory as leases from the MemoryManager passed to
// make_encoder (and sizes it for the agent's largest batch), so the agent needs no reservations.
bool backend_leases_memory(const std::string& backend);
// Pinned host memory an encoder holds (CUDA: its staging buffers); 0 for other backends.
int64_t encoder_pinned_bytes(const Encoder& encoder);

// Bytes the CPU encoder holds for its float32 weights, reserved before loading so that a load over
// budget is refused before the conversion.
int64_t estimate_weight_bytes(const LoadedModel& model);

// The engine cache directory for `engine`: engine.engine_cache_dir, or the CLI's default
// (default_engine_cache_dir()) when that is empty.
std::string engine_cache_dir(const EngineConfig& engine);

// How an encoder was made: where its plan came from (when it went through the engine cache) and
// what each step cost.
struct EncoderLoadInfo {
  std::optional<PlanOrigin> plan_origin;  // empty: no plan cache (CPU, or engine.plan_cache off)
  std::string plan_path;                  // the cached plan's file
  std::string rebuild_reason;             // why a cached plan was not used (kRebuilt)
  double fingerprint_s = 0;               // hashing the model's files for the cache key
  double plan_s = 0;                      // reading the plan, or converting (and writing) it
  double upload_s = 0;                    // creating the encoder from the plan
};

struct BuiltEncoder {
  std::unique_ptr<Encoder> encoder;
  EncoderLoadInfo info;
};

// Builds the encoder on `backend` ("cpu" | "cuda"). `pool` is used by the CPU backend. The CUDA
// backend allocates its weights and its workspace (for agent.max_batch_items sequences of
// agent.max_batch_tokens tokens in all) from `memory`, charged to agent.name, which must be
// registered there: a load over the agent's budget is refused with the agent, the request and the
// limit before any cudaMalloc; that stays true when the plan comes from the cache. With
// engine.plan_cache the CUDA plan is loaded from (or built into) engine_cache_dir(engine).
// `memory` must outlive the encoder.
Result<BuiltEncoder> make_encoder(const LoadedModel& model, const std::string& backend,
                                  const AgentConfig& agent, const EngineConfig& engine, ThreadPool* pool,
                                  MemoryManager* memory);

}  // namespace justnews
