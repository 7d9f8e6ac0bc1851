// Re-exec with OPENBLAS_CORETYPE set when OpenBLAS chose generic kernels.
#include "blas_environment.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "core/config.h"
#include "engine/cpu/blas_setup.h"
#include "runtime/backend.h"

namespace justnews::cli {

void reexec_with_fast_blas_if_needed(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string core = recommended_blas_core();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), /*overwrite=*/1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // exec failed: carry on with the generic kernels
}

bool analyze_runs_only_on_cuda(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "analyze") return false;
  std::string config_path, backend_flag;
  for (int arg = 2; arg < argc; ++arg) {
    const std::string flag = argv[arg];
    const bool has_value = arg + 1 < argc;
    if (flag == "--config" && has_value) config_path = argv[++arg];
    else if (flag.rfind("--config=", 0) == 0) config_path = flag.substr(9);
    else if (flag == "--backend" && has_value) backend_flag = argv[++arg];
    else if (flag.rfind("--backend=", 0) == 0) backend_flag = flag.substr(10);
  }
  if (config_path.empty()) return false;
  auto config = load_config_file(config_path);
  if (!config.ok() || config->agents.empty()) return false;
  if (!backend_flag.empty()) config->engine.backend = backend_flag;  // as analyze applies it
  for (const AgentConfig& agent : config->agents)
    if (requested_backend(agent, config->engine) != "cuda") return false;
  return true;
}

}  // namespace justnews::cli
