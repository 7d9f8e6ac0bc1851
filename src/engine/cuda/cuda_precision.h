// The element type of the CUDA backend's activations and weights. A header of its own so that the
// device helpers every kernel shares (element_types.cuh, in all 22 sm90 GEMM translation units) do
// not depend on the launchers' declarations: editing cuda_ops.h no longer rebuilds the GEMMs.
#pragma once

#include <cstddef>

namespace justnews::cuda {

enum class Precision { kFp16, kBf16, kFp32 };

size_t precision_size_bytes(Precision precision);
const char* precision_name(Precision precision);

}  // namespace justnews::cuda
