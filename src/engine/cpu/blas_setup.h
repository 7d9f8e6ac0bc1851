// How the CPU encoder configures OpenBLAS: thread count and kernel selection.
//
// Threads: the encoder splits every GEMM itself across its ThreadPool (rows or output columns,
// one block per pool thread) and runs attention's small per-(sequence, head) GEMMs concurrently
// from pool workers. Both need OpenBLAS to run each call single-threaded in the calling thread:
// a multi-threaded OpenBLAS would start its own threads on top of ours (oversubscribing the
// cores) and serialise concurrent callers on its internal server lock. This setting is
// process-wide: other OpenBLAS users in the same process also become single-threaded.
//
// Kernels: Debian's OpenBLAS picks its kernels from CPUID at load time. On virtual machines whose
// CPU model it does not recognise it falls back to generic SSE3 ("Prescott") kernels, 5-8x slower
// than the AVX-512 ones. The only fix is the environment, before the process starts:
// OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2). The encoder warns once when it sees
// a generic core on a CPU that could do better.
#pragma once

#include <string>

namespace justnews {

// Makes OpenBLAS run every call in the calling thread (idempotent, thread-safe).
void use_single_threaded_blas();

// The kernel family OpenBLAS selected, e.g. "SkylakeX", "Haswell", "Prescott".
std::string blas_core_name();

// When OpenBLAS runs generic kernels on an AVX2/AVX-512 CPU: the OPENBLAS_CORETYPE to set.
// Empty when the selection is already fine.
std::string recommended_blas_core();

// Logs one warning per process naming recommended_blas_core(), if any.
void warn_if_blas_core_is_generic();

}  // namespace justnews
