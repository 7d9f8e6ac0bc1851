// FP8 FFN-in GEMMs writing the next GEMM's E4M3 codes, small schedule.
#include "engine/cuda/sm90/gemm_sm90_kernel.cuh"
#include "engine/cuda/sm90/gemm_sm90_kernels.h"

namespace justnews::cuda::sm90 {

Status run_fp8_gelu_codes_small(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                                cudaStream_t stream) {
  return run_gelu_codes_gemm<cutlass::float_e4m3_t, Small>(args, workspace, workspace_bytes, stream);
}

}  // namespace justnews::cuda::sm90
