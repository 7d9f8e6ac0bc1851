// The CUDA backend's kernels behind plain host launchers. Each launcher checks its arguments (an
// unsupported shape is a Status, never a bad launch), enqueues on `stream` and reports a failed
// launch; none synchronises. Element type is chosen at run time by Precision: activations and
// weights are fp16, bf16 or fp32, and every kernel accumulates in fp32.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/status.h"
#include "engine/cuda/cuda_precision.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"

namespace justnews::cuda {

// hidden[token] = LayerNorm(word[token_ids] + position[position_ids] + token_type[type_ids]).
// `token_type` may be null (DistilBERT). Needs hidden % 8 == 0 and hidden <= 1024.
Status launch_embeddings_layer_norm(Precision precision, const int32_t* token_ids,
                                    const int32_t* type_ids, const int32_t* position_ids,
                                    int64_t num_tokens, int64_t hidden, const void* word,
                                    const void* position, const void* token_type,
                                    const void* gamma, const void* beta, float eps, void* out,
                                    cudaStream_t stream);

// out = LayerNorm(input + residual), row by row. `out` may alias `residual` (or `input`).
Status launch_add_layer_norm(Precision precision, const void* input, const void* residual,
                             const void* gamma, const void* beta, float eps, int64_t rows,
                             int64_t hidden, void* out, cudaStream_t stream);

// data = gelu_erf(data + bias) in place, over a [rows, cols] matrix; `bias` may be null.
Status launch_bias_gelu_erf(Precision precision, void* data, const void* bias, int64_t rows,
                            int64_t cols, cudaStream_t stream);

enum class AttentionKernel {
  kAuto,        // fp16/bf16: auto_attention_kernel's pick (kMma or kMmaWide); fp32: kScalar
  kScalar,      // fp32 FMA, any precision, head_dim 8/16/32/64/128
  kTensorCore,  // v2: wmma flash attention, softmax through shared memory, fp16/bf16, head_dim 32/64/128
  kMma,         // v3: mma.sync flash attention, S/P/O in registers, fp16/bf16, head_dim 32/64/128
  kMmaWide,     // v4: v3 with 8 warps, 128 queries a block (K/V tiles read once for twice the queries)
};

// kAuto's mma.sync kernel for a batch on a device with `multiprocessors` SMs: kMmaWide at head_dim
// 64 beyond 128 tokens, and beyond 64 when its blocks (one per sequence and head) fill the device;
// kMma otherwise.
AttentionKernel auto_attention_kernel(int64_t head_dim, int64_t max_sequence_length,
                                      int64_t num_sequences, int64_t num_heads, int multiprocessors);

// The kernel a command-line name selects: "auto", "v4", "v3", "v2" or "scalar"; nullopt otherwise.
std::optional<AttentionKernel> attention_kernel_from_name(std::string_view name);

// Whether launch_attention_codes can run `kernel` (kAuto and the mma.sync kernels).
bool attention_kernel_writes_codes(AttentionKernel kernel);

// Multi-head self-attention over a packed batch (no padding): qkv is [tokens, 3 * heads * head_dim]
// with Q, K, V blocks side by side; out is [tokens, heads * head_dim]. Each sequence attends only
// to itself. `max_sequence_length` bounds the grid (blocks past a sequence's end exit at once).
Status launch_attention(Precision precision, const void* qkv, const int32_t* seq_offsets,
                        int64_t num_sequences, int64_t max_sequence_length, int64_t num_heads,
                        int64_t head_dim, void* out, cudaStream_t stream,
                        AttentionKernel kernel = AttentionKernel::kAuto);

// The codes a producing kernel can write for the next GEMM's input (a calibrated per-tensor scale).
enum class CodeFormat { kFp8E4M3, kInt8 };

// The same attention (fp16 qkv, an mma.sync kernel: kAuto's pick or the one named; head_dim
// 32 / 64 / 128) writing codes of out[t, c] * code_multipliers[c] (device floats [heads *
// head_dim]: 1 / (scale x SmoothQuant divisor[c]), or 1 / scale without divisors) into codes
// [tokens, heads * head_dim] instead of fp16 (E4M3 saturating; INT8 rounded half away from zero,
// clamped to +-127): the context as the next GEMM's input when that input has a calibrated
// per-tensor scale.
Status launch_attention_codes(const void* qkv, const int32_t* seq_offsets, int64_t num_sequences,
                              int64_t max_sequence_length, int64_t num_heads, int64_t head_dim,
                              CodeFormat format, uint8_t* codes, const float* code_multipliers,
                              cudaStream_t stream, AttentionKernel kernel = AttentionKernel::kAuto);

// Pools each sequence's rows (CLS = first token, mean, max) into float32 out[num_sequences, hidden],
// then divides by the L2 norm when `normalize`.
Status launch_pooling(Precision precision, const void* hidden_states, const int32_t* seq_offsets,
                      int64_t num_sequences, int64_t hidden, PoolingMode mode, bool normalize,
                      float* out, cudaStream_t stream);

// out[s] = hidden_states[seq_offsets[s]]: the first (CLS) row of every sequence.
Status launch_gather_first_rows(Precision precision, const void* hidden_states,
                                const int32_t* seq_offsets, int64_t num_sequences, int64_t hidden,
                                void* out, cudaStream_t stream);

// out[r, j] = bias[j] + sum_k act(input[r, k]) * weight[j, k], float32 out; for narrow layers
// (classification heads) where a GEMM would be mostly padding. `bias` may be null.
Status launch_small_linear(Precision precision, const void* input, int64_t rows,
                           int64_t in_features, HeadActivation input_activation,
                           const void* weight, const void* bias, int64_t out_features, float* out,
                           cudaStream_t stream);

// Row-wise softmax (single label) or sigmoid (multi label) of float32 logits, in place;
// regression leaves the values as they are.
Status launch_probabilities(float* logits, int64_t rows, int64_t cols, ProblemType problem_type,
                            cudaStream_t stream);

// out[i] = float(input[i]).
Status launch_to_float(Precision precision, const void* input, int64_t count, float* out,
                       cudaStream_t stream);

}  // namespace justnews::cuda
