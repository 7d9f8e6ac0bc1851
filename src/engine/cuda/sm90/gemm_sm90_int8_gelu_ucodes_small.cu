// INT8 FFN-in GEMMs writing the FFN-out GEMM's unsigned (asymmetric) codes (scales, bias, GELU
// fused), small schedule.
#include "engine/cuda/sm90/gemm_sm90_kernel.cuh"
#include "engine/cuda/sm90/gemm_sm90_kernels.h"

namespace justnews::cuda::sm90 {

Status run_int8_gelu_ucodes_small(const Sm90ScaledGemmArgs& args, void* workspace,
                                   size_t workspace_bytes, cudaStream_t stream) {
  return run_gelu_codes_gemm<int8_t, Small, uint8_t>(args, workspace, workspace_bytes, stream);
}

}  // namespace justnews::cuda::sm90
