// OpenBLAS configuration (see blas_setup.h for the policy).
#include "engine/cpu/blas_setup.h"

#include <cblas.h>

#include <mutex>

#include "core/logging.h"

extern "C" char* openblas_get_corename(void);

namespace justnews {

void use_single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

std::string recommended_blas_core() {
  const std::string core = blas_core_name();
  // Families without AVX2: what DYNAMIC_ARCH falls back to when it does not know the CPU.
  const bool generic = core == "Prescott" || core == "Core2" || core == "Penryn" ||
                       core == "Dunnington" || core == "Nehalem" || core == "Sandybridge" ||
                       core == "Katmai" || core == "Coppermine" || core == "Northwood";
  if (!generic) return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2")) return "Haswell";
  return "";
}

void warn_if_blas_core_is_generic() {
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string better = recommended_blas_core();
    if (better.empty()) return;
    JN_LOG_WARN(
        "OpenBLAS selected generic '{}' kernels on a CPU that supports {}; the CPU encoder will be "
        "several times slower. Set OPENBLAS_CORETYPE={} in the environment before starting.",
        blas_core_name(), better == "SkylakeX" ? "AVX-512" : "AVX2", better);
  });
}

}  // namespace justnews
