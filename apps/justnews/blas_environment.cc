// Re-exec with OPENBLAS_CORETYPE set when OpenBLAS chose generic kernels.
#include "blas_environment.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "engine/cpu/blas_setup.h"

namespace justnews::cli {

void reexec_with_fast_blas_if_needed(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string core = recommended_blas_core();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), /*overwrite=*/1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // exec failed: carry on with the generic kernels
}

}  // namespace justnews::cli
