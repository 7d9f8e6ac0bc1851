// One (sequence, head) of packed attention fused in AVX-512 registers: Kᵀ is gathered once, then
// blocks of query rows go through S = q·kᵀ, an exponent pass and P·V without leaving L1, and the
// softmax's division is applied to the head_dim outputs instead of the length-long rows. Replaces
// the pair of OpenBLAS calls (their packing and small-matrix paths) and the separate softmax
// passes, which were 28% of a MiniLM INT8 forward at 2 threads (perf, dev VM).
#pragma once

#include <cstdint>
#include <vector>

namespace justnews {

// Whether attend_head_avx512 can take this head size on this CPU (AVX-512F; head_dim 32 or 64).
bool attention_avx512_supported(int64_t head_dim);

// context[t, head·head_dim ...] for the `length` tokens from token_begin: softmax(q·kᵀ·scale)·v,
// q, k, v read from qkv rows of `qkv_stride` floats (q at column q_column, k at +hidden, v at
// +2·hidden). `scratch` grows to what the sequence needs and is reused.
void attend_head_avx512(const float* qkv, int64_t qkv_stride, int64_t hidden, int64_t token_begin,
                        int64_t length, int64_t q_column, int64_t head_dim, float scale,
                        float* context, std::vector<float>& scratch);

}  // namespace justnews
