// FP8 code GEMMs, small schedule, with scales and bias fused.
#include "engine/cuda/sm90/gemm_sm90_kernel.cuh"
#include "engine/cuda/sm90/gemm_sm90_kernels.h"

namespace justnews::cuda::sm90 {

Status run_fp8_small(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                     cudaStream_t stream) {
  return run_scaled_gemm<cutlass::float_e4m3_t, float, Small>(args, workspace, workspace_bytes, stream);
}

}  // namespace justnews::cuda::sm90
