// Loads a set of agents concurrently: their model reads, weight conversions (or engine-cache reads)
// and uploads overlap instead of adding up. Agents that share a model directory load one after
// another on the same thread, so that the second one finds the plan the first one cached and two
// writers never race for one cache file. Either every agent loads, or none is kept: on any failure
// the ones that did load are released (their memory returned to their managers) and the error
// names every agent that failed.
#pragma once

#include <memory>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "memory/memory_manager.h"
#include "runtime/agent.h"

namespace justnews {

// One agent to load and the memory manager it is charged to (it must outlive the agent).
struct AgentLoadRequest {
  AgentConfig config;
  MemoryManager* memory = nullptr;
  MemoryManager* pinned_memory = nullptr;  // CUDA agents: charged their pinned staging (optional)
};

// The agents in the order of `requests`. `pool` (shared by the CPU encoders) must outlive them.
Result<std::vector<std::unique_ptr<Agent>>> load_agents(
    const std::vector<AgentLoadRequest>& requests, const EngineConfig& engine,
    const MemoryConfig& memory_config, ThreadPool* pool);

}  // namespace justnews
