// Unsigned (asymmetric) INT8 activation codes times int8 weights, small schedule, with the
// folded scales and bias fused.
#include "engine/cuda/sm90/gemm_sm90_kernel.cuh"
#include "engine/cuda/sm90/gemm_sm90_kernels.h"

namespace justnews::cuda::sm90 {

Status run_uint8_small(const Sm90ScaledGemmArgs& args, void* workspace,
                       size_t workspace_bytes, cudaStream_t stream) {
  return run_unsigned_scaled_gemm<Small>(args, workspace, workspace_bytes, stream);
}

}  // namespace justnews::cuda::sm90
