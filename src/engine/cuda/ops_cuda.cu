// Element-wise, normalisation, pooling and head kernels of the CUDA backend (attention lives in
// attention_cuda.cu). LayerNorm kernels give one warp to one row and keep the row in registers, so a
// row is read once and written once; loads and stores are 16 bytes wide.
#include <cmath>
#include <string>
#include <type_traits>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/dependent_launch.cuh"
#include "engine/cuda/element_types.cuh"

namespace justnews::cuda {

namespace {

constexpr int kWarpSize = 32;
constexpr int kRowsPerBlock = 4;       // warps per block for the warp-per-row kernels
constexpr int kMaxLayerNormHidden = 1024;

// The 16-byte packs of a row one lane holds, at most: 1024 columns over 32 lanes.
template <typename T>
constexpr int max_packs_per_lane() {
  return kMaxLayerNormHidden / (kWarpSize * Pack<T>::kSize);
}

// LayerNorm of one row held by a warp, kPacks packs a lane (a compile-time count: a 768-wide fp16
// row keeps 24 floats a thread, where room for the widest row took 91 registers and 5 blocks an SM,
// so a 4096-row pass ran in 1.55 waves). gamma and beta are loaded before the reductions, so their
// latency hides behind the shuffles instead of following them.
template <typename T, int kPacks>
__device__ __forceinline__ void layer_norm_row(float (&values)[kPacks][Pack<T>::kSize],
                                               int packs_per_row, int lane, int hidden,
                                               const T* gamma, const T* beta, float eps, T* out_row) {
  constexpr int kPack = Pack<T>::kSize;
  Pack<T> gamma_packs[kPacks];
  Pack<T> beta_packs[kPacks];
#pragma unroll
  for (int i = 0; i < kPacks; ++i) {
    const int pack_idx = lane + i * kWarpSize;
    if (pack_idx < packs_per_row) {
      gamma_packs[i] = load_pack(gamma + pack_idx * kPack);
      beta_packs[i] = load_pack(beta + pack_idx * kPack);
    }
  }
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < kPacks; ++i) {
    if (lane + i * kWarpSize < packs_per_row) {
#pragma unroll
      for (int e = 0; e < kPack; ++e) sum += values[i][e];
    }
  }
  const float mean = warp_sum(sum) / hidden;
  // Two passes over registers: the variance of centred values does not cancel catastrophically.
  float squares = 0.f;
#pragma unroll
  for (int i = 0; i < kPacks; ++i) {
    if (lane + i * kWarpSize < packs_per_row) {
#pragma unroll
      for (int e = 0; e < kPack; ++e) {
        const float centred = values[i][e] - mean;
        squares += centred * centred;
      }
    }
  }
  const float inv_std = rsqrtf(warp_sum(squares) / hidden + eps);
#pragma unroll
  for (int i = 0; i < kPacks; ++i) {
    const int pack_idx = lane + i * kWarpSize;
    if (pack_idx < packs_per_row) {
      Pack<T> result;
#pragma unroll
      for (int e = 0; e < kPack; ++e)
        result.values[e] = from_float<T>((values[i][e] - mean) * inv_std * to_float(gamma_packs[i].values[e]) +
                                         to_float(beta_packs[i].values[e]));
      store_pack(out_row + pack_idx * kPack, result);
    }
  }
}

template <typename T, int kPacks>
__global__ void embeddings_layer_norm_kernel(const int32_t* token_ids, const int32_t* type_ids,
                                             const int32_t* position_ids, int num_tokens, int hidden,
                                             const T* word, const T* position, const T* token_type,
                                             const T* gamma, const T* beta, float eps, T* out) {
  wait_for_previous_kernel();
  constexpr int kPack = Pack<T>::kSize;
  const int token = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (token >= num_tokens) return;
  const int packs_per_row = hidden / kPack;
  const T* word_row = word + static_cast<int64_t>(token_ids[token]) * hidden;
  const T* position_row = position + static_cast<int64_t>(position_ids[token]) * hidden;
  const T* type_row = token_type ? token_type + static_cast<int64_t>(type_ids[token]) * hidden : nullptr;
  float values[kPacks][kPack];
#pragma unroll
  for (int i = 0; i < kPacks; ++i) {
    const int pack_idx = lane + i * kWarpSize;
    if (pack_idx < packs_per_row) {
      const Pack<T> w = load_pack(word_row + pack_idx * kPack);
      const Pack<T> p = load_pack(position_row + pack_idx * kPack);
#pragma unroll
      for (int e = 0; e < kPack; ++e) values[i][e] = to_float(w.values[e]) + to_float(p.values[e]);
      if (type_row) {
        const Pack<T> t = load_pack(type_row + pack_idx * kPack);
#pragma unroll
        for (int e = 0; e < kPack; ++e) values[i][e] += to_float(t.values[e]);
      }
    }
  }
  layer_norm_row<T, kPacks>(values, packs_per_row, lane, hidden, gamma, beta, eps,
                            out + static_cast<int64_t>(token) * hidden);
}

template <typename T, int kPacks>
__global__ void add_layer_norm_kernel(const T* input, const T* residual, const T* gamma,
                                      const T* beta, float eps, int rows, int hidden, T* out) {
  wait_for_previous_kernel();
  constexpr int kPack = Pack<T>::kSize;
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (row >= rows) return;
  const int packs_per_row = hidden / kPack;
  const int64_t row_start = static_cast<int64_t>(row) * hidden;
  float values[kPacks][kPack];
#pragma unroll
  for (int i = 0; i < kPacks; ++i) {
    const int pack_idx = lane + i * kWarpSize;
    if (pack_idx < packs_per_row) {
      const Pack<T> a = load_pack(input + row_start + pack_idx * kPack);
      const Pack<T> b = load_pack(residual + row_start + pack_idx * kPack);
#pragma unroll
      for (int e = 0; e < kPack; ++e) values[i][e] = to_float(a.values[e]) + to_float(b.values[e]);
    }
  }
  layer_norm_row<T, kPacks>(values, packs_per_row, lane, hidden, gamma, beta, eps, out + row_start);
}

// Calls body(std::integral_constant<int, kPacks>) with the packs a lane needs for `hidden` columns
// (hidden already checked against kMaxLayerNormHidden).
template <typename T, typename Body>
Status with_packs_per_lane(int64_t hidden, Body&& body) {
  const int64_t packs = (hidden / Pack<T>::kSize + kWarpSize - 1) / kWarpSize;
  switch (packs) {
    case 1: return body(std::integral_constant<int, 1>{});
    case 2: return body(std::integral_constant<int, 2>{});
    case 3: return body(std::integral_constant<int, 3>{});
    case 4: return body(std::integral_constant<int, 4>{});
    default: break;
  }
  if constexpr (max_packs_per_lane<T>() > 4) {
    switch (packs) {
      case 5: return body(std::integral_constant<int, 5>{});
      case 6: return body(std::integral_constant<int, 6>{});
      case 7: return body(std::integral_constant<int, 7>{});
      case 8: return body(std::integral_constant<int, 8>{});
      default: break;
    }
  }
  return internal_error("layer norm: " + std::to_string(hidden) + " columns passed the checks");
}

template <typename T>
__global__ void bias_gelu_erf_kernel(T* data, const T* bias, int64_t num_packs, int cols) {
  wait_for_previous_kernel();
  constexpr int kPack = Pack<T>::kSize;
  const int packs_per_row = cols / kPack;
  for (int64_t pack_idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       pack_idx < num_packs; pack_idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Pack<T> pack = load_pack(data + pack_idx * kPack);
    const int col = static_cast<int>(pack_idx % packs_per_row) * kPack;
    Pack<T> bias_pack;
    if (bias) bias_pack = load_pack(bias + col);
#pragma unroll
    for (int e = 0; e < kPack; ++e) {
      const float x = to_float(pack.values[e]) + (bias ? to_float(bias_pack.values[e]) : 0.f);
      pack.values[e] = from_float<T>(std::is_same_v<T, float> ? gelu_erf_exact(x) : gelu_erf_fast(x));
    }
    store_pack(data + pack_idx * kPack, pack);
  }
}

template <typename T>
__global__ void pooling_kernel(const T* hidden_states, const int32_t* seq_offsets, int hidden,
                               PoolingMode mode, bool normalize, float* out) {
  wait_for_previous_kernel();
  const int seq = blockIdx.x;
  const int start = seq_offsets[seq];
  const int end = seq_offsets[seq + 1];
  float* out_row = out + static_cast<int64_t>(seq) * hidden;
  float squares = 0.f;
  for (int col = threadIdx.x; col < hidden; col += blockDim.x) {
    float value;
    if (mode == PoolingMode::kCls) {
      value = to_float(hidden_states[static_cast<int64_t>(start) * hidden + col]);
    } else if (mode == PoolingMode::kMean) {
      value = 0.f;
      for (int token = start; token < end; ++token)
        value += to_float(hidden_states[static_cast<int64_t>(token) * hidden + col]);
      value /= static_cast<float>(end - start);
    } else {
      value = -INFINITY;
      for (int token = start; token < end; ++token)
        value = fmaxf(value, to_float(hidden_states[static_cast<int64_t>(token) * hidden + col]));
    }
    out_row[col] = value;
    squares += value * value;
  }
  if (!normalize) return;
  __shared__ float warp_squares[32];
  squares = warp_sum(squares);
  if (threadIdx.x % kWarpSize == 0) warp_squares[threadIdx.x / kWarpSize] = squares;
  __syncthreads();
  if (threadIdx.x < kWarpSize) {
    const int num_warps = blockDim.x / kWarpSize;
    float total = threadIdx.x < num_warps ? warp_squares[threadIdx.x] : 0.f;
    total = warp_sum(total);
    if (threadIdx.x == 0) warp_squares[0] = total;
  }
  __syncthreads();
  // Same floor as torch.nn.functional.normalize, so an all-zero row stays zero instead of NaN.
  const float inv_norm = 1.f / fmaxf(sqrtf(warp_squares[0]), 1e-12f);
  for (int col = threadIdx.x; col < hidden; col += blockDim.x) out_row[col] *= inv_norm;
}

template <typename T>
__global__ void gather_first_rows_kernel(const T* hidden_states, const int32_t* seq_offsets,
                                         int hidden, T* out) {
  wait_for_previous_kernel();
  const int seq = blockIdx.x;
  const T* row = hidden_states + static_cast<int64_t>(seq_offsets[seq]) * hidden;
  for (int col = threadIdx.x; col < hidden; col += blockDim.x)
    out[static_cast<int64_t>(seq) * hidden + col] = row[col];
}

__device__ __forceinline__ float apply_head_activation(float x, HeadActivation activation) {
  if (activation == HeadActivation::kTanh) return tanhf(x);
  if (activation == HeadActivation::kRelu) return fmaxf(x, 0.f);
  return x;
}

// One warp per output element; lanes stride the input so weight and input reads are coalesced.
template <typename T>
__global__ void small_linear_kernel(const T* input, int rows, int in_features,
                                    HeadActivation input_activation, const T* weight, const T* bias,
                                    int out_features, float* out) {
  wait_for_previous_kernel();
  const int64_t warp_idx = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (warp_idx >= static_cast<int64_t>(rows) * out_features) return;
  const int row = static_cast<int>(warp_idx / out_features);
  const int out_idx = static_cast<int>(warp_idx % out_features);
  const T* input_row = input + static_cast<int64_t>(row) * in_features;
  const T* weight_row = weight + static_cast<int64_t>(out_idx) * in_features;
  float sum = 0.f;
  for (int k = lane; k < in_features; k += kWarpSize)
    sum += apply_head_activation(to_float(input_row[k]), input_activation) * to_float(weight_row[k]);
  sum = warp_sum(sum);
  if (lane == 0) out[warp_idx] = sum + (bias ? to_float(bias[out_idx]) : 0.f);
}

__global__ void probabilities_kernel(float* logits, int rows, int cols, ProblemType problem_type) {
  wait_for_previous_kernel();
  const int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  float* values = logits + static_cast<int64_t>(row) * cols;
  if (problem_type == ProblemType::kMultiLabel) {
    for (int col = 0; col < cols; ++col) values[col] = 1.f / (1.f + expf(-values[col]));
  } else if (problem_type == ProblemType::kSingleLabel) {
    float max_value = -INFINITY;
    for (int col = 0; col < cols; ++col) max_value = fmaxf(max_value, values[col]);
    float sum = 0.f;
    for (int col = 0; col < cols; ++col) {
      values[col] = expf(values[col] - max_value);
      sum += values[col];
    }
    for (int col = 0; col < cols; ++col) values[col] /= sum;
  }
}

template <typename T>
__global__ void to_float_kernel(const T* input, int64_t count, float* out) {
  wait_for_previous_kernel();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = to_float(input[i]);
}

Status check_layer_norm_hidden(Precision precision, int64_t hidden, const char* op) {
  if (hidden <= 0 || hidden % 8 != 0 || hidden > kMaxLayerNormHidden)
    return unsupported(std::string(op) + ": hidden size " + std::to_string(hidden) +
                       " is not supported (needs a positive multiple of 8, at most " +
                       std::to_string(kMaxLayerNormHidden) + ")");
  return ok_status();
}

unsigned int blocks_for(int64_t work_items, int threads_per_block) {
  const int64_t blocks = (work_items + threads_per_block - 1) / threads_per_block;
  return static_cast<unsigned int>(blocks < 65535 * 64 ? (blocks > 0 ? blocks : 1) : 65535 * 64);
}

}  // namespace

size_t precision_size_bytes(Precision precision) {
  return precision == Precision::kFp32 ? 4 : 2;
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
    case Precision::kFp32: return "fp32";
  }
  return "unknown";
}

Status launch_embeddings_layer_norm(Precision precision, const int32_t* token_ids,
                                    const int32_t* type_ids, const int32_t* position_ids,
                                    int64_t num_tokens, int64_t hidden, const void* word,
                                    const void* position, const void* token_type,
                                    const void* gamma, const void* beta, float eps, void* out,
                                    cudaStream_t stream) {
  JN_RETURN_IF_ERROR(check_layer_norm_hidden(precision, hidden, "embeddings layer norm"));
  if (num_tokens <= 0) return ok_status();
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    return with_packs_per_lane<T>(hidden, [&](auto packs) -> Status {
      return launch_kernel("embeddings_layer_norm_kernel", embeddings_layer_norm_kernel<T, decltype(packs)::value>,
                           blocks_for(num_tokens, kRowsPerBlock), kRowsPerBlock * kWarpSize, 0,
                           stream, token_ids, type_ids, position_ids, static_cast<int>(num_tokens),
                           static_cast<int>(hidden), static_cast<const T*>(word),
                           static_cast<const T*>(position), static_cast<const T*>(token_type),
                           static_cast<const T*>(gamma), static_cast<const T*>(beta), eps,
                           static_cast<T*>(out));
    });
  });
}

Status launch_add_layer_norm(Precision precision, const void* input, const void* residual,
                             const void* gamma, const void* beta, float eps, int64_t rows,
                             int64_t hidden, void* out, cudaStream_t stream) {
  JN_RETURN_IF_ERROR(check_layer_norm_hidden(precision, hidden, "add layer norm"));
  if (rows <= 0) return ok_status();
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    return with_packs_per_lane<T>(hidden, [&](auto packs) -> Status {
      return launch_kernel("add_layer_norm_kernel", add_layer_norm_kernel<T, decltype(packs)::value>,
                           blocks_for(rows, kRowsPerBlock), kRowsPerBlock * kWarpSize, 0, stream,
                           static_cast<const T*>(input), static_cast<const T*>(residual),
                           static_cast<const T*>(gamma), static_cast<const T*>(beta), eps,
                           static_cast<int>(rows), static_cast<int>(hidden), static_cast<T*>(out));
    });
  });
}

Status launch_bias_gelu_erf(Precision precision, void* data, const void* bias, int64_t rows,
                            int64_t cols, cudaStream_t stream) {
  if (cols <= 0 || cols % 8 != 0)
    return unsupported("bias + GELU: column count " + std::to_string(cols) +
                       " is not supported (needs a positive multiple of 8)");
  if (rows <= 0) return ok_status();
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    const int64_t num_packs = rows * cols / Pack<T>::kSize;
    constexpr int kThreads = 256;
    return launch_kernel("bias_gelu_erf_kernel", bias_gelu_erf_kernel<T>,
                         blocks_for(num_packs, kThreads), kThreads, 0, stream,
                         static_cast<T*>(data), static_cast<const T*>(bias), num_packs,
                         static_cast<int>(cols));
  });
}

Status launch_pooling(Precision precision, const void* hidden_states, const int32_t* seq_offsets,
                      int64_t num_sequences, int64_t hidden, PoolingMode mode, bool normalize,
                      float* out, cudaStream_t stream) {
  if (hidden <= 0) return invalid_argument("pooling: hidden size must be positive");
  if (num_sequences <= 0) return ok_status();
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    return launch_kernel("pooling_kernel", pooling_kernel<T>,
                         static_cast<unsigned int>(num_sequences), 256, 0, stream,
                         static_cast<const T*>(hidden_states), seq_offsets,
                         static_cast<int>(hidden), mode, normalize, out);
  });
}

Status launch_gather_first_rows(Precision precision, const void* hidden_states,
                                const int32_t* seq_offsets, int64_t num_sequences, int64_t hidden,
                                void* out, cudaStream_t stream) {
  if (num_sequences <= 0) return ok_status();
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    return launch_kernel("gather_first_rows_kernel", gather_first_rows_kernel<T>,
                         static_cast<unsigned int>(num_sequences), 256, 0, stream,
                         static_cast<const T*>(hidden_states), seq_offsets,
                         static_cast<int>(hidden), static_cast<T*>(out));
  });
}

Status launch_small_linear(Precision precision, const void* input, int64_t rows,
                           int64_t in_features, HeadActivation input_activation,
                           const void* weight, const void* bias, int64_t out_features, float* out,
                           cudaStream_t stream) {
  if (in_features <= 0 || out_features <= 0)
    return invalid_argument("small linear: feature counts must be positive, got in " +
                            std::to_string(in_features) + ", out " + std::to_string(out_features));
  if (rows <= 0) return ok_status();
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    constexpr int kThreads = 256;
    return launch_kernel("small_linear_kernel", small_linear_kernel<T>,
                         blocks_for(rows * out_features * kWarpSize, kThreads), kThreads, 0, stream,
                         static_cast<const T*>(input), static_cast<int>(rows),
                         static_cast<int>(in_features), input_activation,
                         static_cast<const T*>(weight), static_cast<const T*>(bias),
                         static_cast<int>(out_features), out);
  });
}

Status launch_probabilities(float* logits, int64_t rows, int64_t cols, ProblemType problem_type,
                            cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return ok_status();
  constexpr int kThreads = 128;
  return launch_kernel("probabilities_kernel", probabilities_kernel, blocks_for(rows, kThreads),
                       kThreads, 0, stream, logits, static_cast<int>(rows), static_cast<int>(cols),
                       problem_type);
}

Status launch_to_float(Precision precision, const void* input, int64_t count, float* out,
                       cudaStream_t stream) {
  if (count <= 0) return ok_status();
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    constexpr int kThreads = 256;
    return launch_kernel("to_float_kernel", to_float_kernel<T>, blocks_for(count, kThreads),
                         kThreads, 0, stream, static_cast<const T*>(input), count, out);
  });
}

}  // namespace justnews::cuda
