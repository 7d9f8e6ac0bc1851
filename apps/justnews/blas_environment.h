// Debian's OpenBLAS picks its kernels from CPUID when the library loads; on CPUs it does not
// recognise (common on VMs) it falls back to generic SSE3 kernels, 5-8x slower. The choice can
// only be changed through OPENBLAS_CORETYPE before the process starts, so the CLI re-executes
// itself once with the right value. A value the user set is always respected.
#pragma once

namespace justnews::cli {

// Returns only when no re-exec is needed (or it failed, in which case the slow kernels are used).
void reexec_with_fast_blas_if_needed(char** argv);

// Whether the command line is `analyze` with every agent placed on CUDA by its config (agent
// device, else engine.backend, else --backend): such a run never calls OpenBLAS, so the re-exec (a
// second process start, ~0.1 s) is skipped. Anything unclear (no config, a config that does not
// load, an agent on auto or cpu) answers false.
bool analyze_runs_only_on_cuda(int argc, char** argv);

}  // namespace justnews::cli
