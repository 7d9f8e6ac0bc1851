// The per-file entry points of the sm90 GEMM instantiations (internal to src/engine/cuda/sm90):
// one per kernel and schedule (gemm_sm90_kernel.cuh), which gemm_sm90.cc times against each other.
#pragma once

#include "engine/cuda/sm90/gemm_sm90.h"

namespace justnews::cuda::sm90 {

using ScaledRunner = Status (*)(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
using BiasRunner = Status (*)(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);

// acc * row_scale * col_scale + bias -> fp16.
Status run_fp8_cooperative(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_fp8_pingpong(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_fp8_small(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_cooperative(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_pingpong(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_small(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);

// The same, GELU, then the next GEMM's codes.
Status run_fp8_gelu_codes_cooperative(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_fp8_gelu_codes_pingpong(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_fp8_gelu_codes_small(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_gelu_codes_cooperative(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_gelu_codes_pingpong(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_gelu_codes_small(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
// The INT8 one writing unsigned (asymmetric) codes.
Status run_int8_gelu_ucodes_cooperative(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_gelu_ucodes_pingpong(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_int8_gelu_ucodes_small(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);

// Unsigned (asymmetric) activation codes x int8 weights: acc * col_scale + bias -> fp16.
Status run_uint8_cooperative(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_uint8_pingpong(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);
Status run_uint8_small(const Sm90ScaledGemmArgs&, void*, size_t, cudaStream_t);

// gelu_erf(acc + bias) in the element type.
Status run_bias_gelu_fp16_cooperative(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_gelu_fp16_pingpong(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_gelu_fp16_small(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_gelu_bf16_cooperative(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_gelu_bf16_pingpong(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_gelu_bf16_small(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);

// acc + bias in the element type.
Status run_bias_fp16_small(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_fp16_pingpong(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_bf16_small(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);
Status run_bias_bf16_pingpong(const Sm90BiasGemmArgs&, void*, size_t, cudaStream_t);

}  // namespace justnews::cuda::sm90
