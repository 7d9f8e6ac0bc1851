// fp16 GEMMs with bias + erf-GELU fused, cooperative schedule.
#include "engine/cuda/sm90/gemm_sm90_kernel.cuh"
#include "engine/cuda/sm90/gemm_sm90_kernels.h"

namespace justnews::cuda::sm90 {

Status run_bias_gelu_fp16_cooperative(const Sm90BiasGemmArgs& args, void* workspace,
                                      size_t workspace_bytes, cudaStream_t stream) {
  return run_bias_gemm<cutlass::half_t, Cooperative, /*kGelu=*/true>(args, workspace, workspace_bytes,
                                                                      stream);
}

}  // namespace justnews::cuda::sm90
