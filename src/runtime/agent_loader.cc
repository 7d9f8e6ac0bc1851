// Parallel agent loading: one thread per model directory.
#include "runtime/agent_loader.h"

#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

namespace justnews {
namespace {

// The directory as the file system resolves it, so "models/x" and "./models/x/" share a thread.
std::string model_dir_identity(const std::string& model_dir) {
  std::error_code error;
  const std::filesystem::path resolved = std::filesystem::weakly_canonical(model_dir, error);
  return error ? model_dir : resolved.string();
}

// Agent::load names the agent in its errors; this makes sure of it (and never lets an exception,
// e.g. bad_alloc, escape the loading thread).
Result<std::unique_ptr<Agent>> load_one(const AgentLoadRequest& request, const EngineConfig& engine,
                                        const MemoryConfig& memory_config, ThreadPool* pool) {
  const std::string where = "agent '" + request.config.name + "'";
  Result<std::unique_ptr<Agent>> loaded(internal_error(where + ": not loaded"));
  try {
    if (!request.memory)
      return invalid_argument(where + ": no memory manager to charge its weights to");
    loaded = Agent::load(request.config, engine, memory_config, request.memory, pool, request.pinned_memory);
  } catch (const std::exception& error) {
    return internal_error(where + ": loading failed: " + error.what());
  } catch (...) {
    return internal_error(where + ": loading failed with an unknown exception");
  }
  if (!loaded.ok() && loaded.status().message().find(where) == std::string::npos)
    return loaded.status().with_context(where);
  return loaded;
}

}  // namespace

Result<std::vector<std::unique_ptr<Agent>>> load_agents(
    const std::vector<AgentLoadRequest>& requests, const EngineConfig& engine,
    const MemoryConfig& memory_config, ThreadPool* pool) {
  std::map<std::string, std::vector<size_t>> by_model_dir;
  for (size_t request_idx = 0; request_idx < requests.size(); ++request_idx) {
    by_model_dir[model_dir_identity(requests[request_idx].config.model_dir)].push_back(request_idx);
  }
  // Each slot is written by exactly one thread and read after every thread is joined.
  std::vector<std::optional<Result<std::unique_ptr<Agent>>>> results(requests.size());
  std::vector<std::thread> threads;
  threads.reserve(by_model_dir.size());
  for (const auto& [model_dir, request_indices] : by_model_dir) {
    auto load_group = [&, indices = request_indices] {
      for (size_t request_idx : indices) {
        results[request_idx] = load_one(requests[request_idx], engine, memory_config, pool);
      }
    };
    try {
      threads.emplace_back(load_group);
    } catch (const std::system_error&) {
      load_group();  // no thread to spare: this group loads here
    }
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<std::unique_ptr<Agent>> agents;
  std::optional<Status> first_error;
  std::string other_errors;
  for (auto& result : results) {
    if (result->ok()) {
      agents.push_back(std::move(result->value()));
      continue;
    }
    if (!first_error) {
      first_error = result->status();
    } else {
      other_errors += "; " + result->status().message();
    }
  }
  if (first_error) {
    // Release the agents that did load before reporting: nothing stays registered or leased.
    agents.clear();
    if (other_errors.empty()) return *first_error;
    return Status(first_error->code(), first_error->message() + other_errors);
  }
  return agents;
}

}  // namespace justnews
