// Elementwise and row-wise FP32 kernels of the CPU encoder: activations, LayerNorm (optionally
// fused with the residual add), softmax. Pointers are contiguous row-major; `pool` may be null.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace justnews {

// In place: 0.5·x·(1 + erf(x/√2)) (BERT "gelu").
void gelu_erf_cpu(float* values, int64_t count);
// In place: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) ("gelu_new", "gelu_pytorch_tanh").
void gelu_tanh_cpu(float* values, int64_t count);
void relu_cpu(float* values, int64_t count);

// In place over [rows, width]: x = (x - mean) / sqrt(var + eps) · gamma + beta, per row.
void layer_norm_cpu(float* values, int64_t rows, int64_t width, const float* gamma,
                    const float* beta, float eps, ThreadPool* pool);
// Post-LN residual step: residual_inout = LayerNorm(residual_inout + update), per row.
void add_layer_norm_cpu(const float* update, float* residual_inout, int64_t rows, int64_t width,
                        const float* gamma, const float* beta, float eps, ThreadPool* pool);

// In place, numerically stable (the row maximum is subtracted before exp).
void softmax_row_cpu(float* row, int64_t count);

}  // namespace justnews
