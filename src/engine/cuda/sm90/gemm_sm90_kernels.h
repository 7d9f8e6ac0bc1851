// The per-file entry points of the sm90 GEMM instantiations (internal to src/engine/cuda/sm90):
// every kernel in two schedules, which gemm_sm90.cc times against each other per shape.
#pragma once

#include "engine/cuda/sm90/gemm_sm90.h"

namespace justnews::cuda::sm90 {

Status run_fp8_cooperative(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream);
Status run_fp8_pingpong(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                        cudaStream_t stream);
Status run_int8_cooperative(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                            cudaStream_t stream);
Status run_int8_pingpong(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                         cudaStream_t stream);

Status run_fp8_gelu_codes_cooperative(const Sm90ScaledGemmArgs& args, void* workspace,
                                      size_t workspace_bytes, cudaStream_t stream);
Status run_fp8_gelu_codes_pingpong(const Sm90ScaledGemmArgs& args, void* workspace,
                                   size_t workspace_bytes, cudaStream_t stream);
Status run_int8_gelu_codes_cooperative(const Sm90ScaledGemmArgs& args, void* workspace,
                                       size_t workspace_bytes, cudaStream_t stream);
Status run_int8_gelu_codes_pingpong(const Sm90ScaledGemmArgs& args, void* workspace,
                                    size_t workspace_bytes, cudaStream_t stream);
Status run_bias_gelu_fp16_cooperative(const Sm90BiasGeluGemmArgs& args, void* workspace,
                                      size_t workspace_bytes, cudaStream_t stream);
Status run_bias_gelu_fp16_pingpong(const Sm90BiasGeluGemmArgs& args, void* workspace,
                                   size_t workspace_bytes, cudaStream_t stream);
Status run_bias_gelu_bf16_cooperative(const Sm90BiasGeluGemmArgs& args, void* workspace,
                                      size_t workspace_bytes, cudaStream_t stream);
Status run_bias_gelu_bf16_pingpong(const Sm90BiasGeluGemmArgs& args, void* workspace,
                                   size_t workspace_bytes, cudaStream_t stream);

}  // namespace justnews::cuda::sm90
