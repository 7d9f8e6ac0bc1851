// launch_row_epilogue: one 128-thread block per row, the row in registers (8 columns per 16-byte
// pack, up to 4 packs per thread), block reductions for the LayerNorm moments and the row absmax.
#include <cuda_fp8.h>

#include <string>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/element_types.cuh"
#include "engine/cuda/row_epilogue.h"

namespace justnews::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kPackColumns = 8;
constexpr int kPacksPerThread = static_cast<int>(kMaxRowEpilogueColumns / kPackColumns / kThreads);
constexpr int kWarps = kThreads / 32;

// Sum (or max) over the block; every thread gets the result. `scratch` holds kWarps floats and
// may be reused by the next call (the leading barrier protects it).
template <bool kMax>
__device__ __forceinline__ float block_reduce(float value, float* scratch) {
  value = kMax ? warp_max(value) : warp_sum(value);
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = value;
  __syncthreads();
  float total = scratch[0];
#pragma unroll
  for (int warp = 1; warp < kWarps; ++warp)
    total = kMax ? fmaxf(total, scratch[warp]) : total + scratch[warp];
  return total;
}

__device__ __forceinline__ float activate(float x, RowActivation activation) {
  switch (activation) {
    case RowActivation::kGeluErf:
      return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case RowActivation::kGeluTanh:
      return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case RowActivation::kRelu:
      return fmaxf(x, 0.f);
    case RowActivation::kNone:
      break;
  }
  return x;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) row_epilogue_kernel(RowEpilogueArgs args) {
  __shared__ float scratch[kWarps];
  const int64_t row = blockIdx.x;
  const int cols = static_cast<int>(args.cols);
  const int packs = cols / kPackColumns;
  const int64_t row_start = row * cols;
  float values[kPacksPerThread][kPackColumns];
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < kPacksPerThread; ++k) {
    const int pack = threadIdx.x + k * kThreads;
    if (pack >= packs) continue;
    const int col = pack * kPackColumns;
    float* v = values[k];
    if (args.accumulators) {
      const int4* acc = reinterpret_cast<const int4*>(args.accumulators + row_start + col);
      const int4 low = acc[0], high = acc[1];
      const float4* col_scales = reinterpret_cast<const float4*>(args.col_scales + col);
      const float4 scale_low = col_scales[0], scale_high = col_scales[1];
      const float row_scale = args.row_scales[row];
      v[0] = low.x * scale_low.x;
      v[1] = low.y * scale_low.y;
      v[2] = low.z * scale_low.z;
      v[3] = low.w * scale_low.w;
      v[4] = high.x * scale_high.x;
      v[5] = high.y * scale_high.y;
      v[6] = high.z * scale_high.z;
      v[7] = high.w * scale_high.w;
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) v[e] *= row_scale;
    } else {
      const Pack<T> in = load_pack(static_cast<const T*>(args.input) + row_start + col);
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) v[e] = to_float(in.values[e]);
      if (args.row_scales) {
        const float4* col_scales = reinterpret_cast<const float4*>(args.col_scales + col);
        const float4 scale_low = col_scales[0], scale_high = col_scales[1];
        const float row_scale = args.row_scales[row];
        v[0] *= scale_low.x * row_scale;
        v[1] *= scale_low.y * row_scale;
        v[2] *= scale_low.z * row_scale;
        v[3] *= scale_low.w * row_scale;
        v[4] *= scale_high.x * row_scale;
        v[5] *= scale_high.y * row_scale;
        v[6] *= scale_high.z * row_scale;
        v[7] *= scale_high.w * row_scale;
      }
    }
    if (args.bias) {
      const Pack<T> bias = load_pack(static_cast<const T*>(args.bias) + col);
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) v[e] += to_float(bias.values[e]);
    }
#pragma unroll
    for (int e = 0; e < kPackColumns; ++e) v[e] = activate(v[e], args.activation);
    if (args.residual) {
      const Pack<T> residual = load_pack(static_cast<const T*>(args.residual) + row_start + col);
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) {
        v[e] += to_float(residual.values[e]);
        sum += v[e];
      }
    }
  }
  if (args.residual) {
    // Two passes over registers, as in the fp16 add + LayerNorm kernel.
    const float mean = block_reduce<false>(sum, scratch) / cols;
    float squares = 0.f;
#pragma unroll
    for (int k = 0; k < kPacksPerThread; ++k) {
      if (threadIdx.x + k * kThreads >= packs) continue;
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) {
        const float centred = values[k][e] - mean;
        squares += centred * centred;
      }
    }
    const float inv_std = rsqrtf(block_reduce<false>(squares, scratch) / cols + args.eps);
#pragma unroll
    for (int k = 0; k < kPacksPerThread; ++k) {
      const int pack = threadIdx.x + k * kThreads;
      if (pack >= packs) continue;
      const Pack<T> gamma = load_pack(static_cast<const T*>(args.gamma) + pack * kPackColumns);
      const Pack<T> beta = load_pack(static_cast<const T*>(args.beta) + pack * kPackColumns);
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e)
        values[k][e] =
            (values[k][e] - mean) * inv_std * to_float(gamma.values[e]) + to_float(beta.values[e]);
    }
  }
  // Round to the activation precision: the codes then quantise exactly what `out` holds.
  float absmax = 0.f;
#pragma unroll
  for (int k = 0; k < kPacksPerThread; ++k) {
    const int pack = threadIdx.x + k * kThreads;
    if (pack >= packs) continue;
    Pack<T> rounded;
#pragma unroll
    for (int e = 0; e < kPackColumns; ++e) {
      rounded.values[e] = from_float<T>(values[k][e]);
      values[k][e] = to_float(rounded.values[e]);
    }
    if (args.out) store_pack(static_cast<T*>(args.out) + row_start + pack * kPackColumns, rounded);
    if (args.codes_format != RowCodes::kNone) {
      if (args.channel_divisor) {
#pragma unroll
        for (int e = 0; e < kPackColumns; ++e)
          values[k][e] /= args.channel_divisor[pack * kPackColumns + e];
      }
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) absmax = fmaxf(absmax, fabsf(values[k][e]));
    }
  }
  if (args.codes_format == RowCodes::kNone) return;
  const bool fp8 = args.codes_format == RowCodes::kFp8E4M3;
  const float max_code = fp8 ? 448.f : 127.f;
  float scale;
  if (args.static_scale) {
    scale = *args.static_scale;
  } else {
    absmax = block_reduce<true>(absmax, scratch);
    scale = absmax > 0.f ? absmax / max_code : 1.f;
  }
  const float inv_scale = 1.f / scale;
  // code_scales may be the row_scales this block read above (INT8 layers reuse one buffer).
  __syncthreads();
  if (threadIdx.x == 0) args.code_scales[row] = scale;
  uint8_t* codes = static_cast<uint8_t*>(args.codes) + row_start;
#pragma unroll
  for (int k = 0; k < kPacksPerThread; ++k) {
    const int pack = threadIdx.x + k * kThreads;
    if (pack >= packs) continue;
    union {
      uint8_t bytes[kPackColumns];
      uint2 word;
    } out;
#pragma unroll
    for (int e = 0; e < kPackColumns; ++e) {
      const float scaled = values[k][e] * inv_scale;
      if (fp8) {
        out.bytes[e] =
            static_cast<uint8_t>(__nv_cvt_float_to_fp8(scaled, __NV_SATFINITE, __NV_E4M3));
      } else {
        // Round half away from zero and clamp to ±127, as the CPU quantiser does.
        out.bytes[e] =
            static_cast<uint8_t>(static_cast<int8_t>(fminf(fmaxf(roundf(scaled), -127.f), 127.f)));
      }
    }
    *reinterpret_cast<uint2*>(codes + pack * kPackColumns) = out.word;
  }
}

}  // namespace

Status launch_row_epilogue(Precision precision, const RowEpilogueArgs& args, cudaStream_t stream) {
  if (args.rows <= 0) return ok_status();
  if (precision == Precision::kFp32)
    return unsupported("row epilogue: the quantised layers run fp16 or bf16 activations, not fp32");
  if (args.cols <= 0 || args.cols % kPackColumns != 0 || args.cols > kMaxRowEpilogueColumns)
    return unsupported("row epilogue: " + std::to_string(args.cols) +
                       " columns; needs a multiple of 8 up to " +
                       std::to_string(kMaxRowEpilogueColumns));
  if ((args.input == nullptr) == (args.accumulators == nullptr))
    return invalid_argument("row epilogue: give exactly one of input and accumulators");
  if (args.accumulators && (!args.row_scales || !args.col_scales))
    return invalid_argument("row epilogue: int32 accumulators need row and column scales");
  if ((args.row_scales == nullptr) != (args.col_scales == nullptr))
    return invalid_argument("row epilogue: give both row and column scales or neither");
  if (args.residual && (!args.gamma || !args.beta))
    return invalid_argument("row epilogue: the LayerNorm needs gamma and beta");
  if (args.codes_format != RowCodes::kNone && (!args.codes || !args.code_scales))
    return invalid_argument("row epilogue: quantised output needs codes and code_scales buffers");
  if (!args.out && args.codes_format == RowCodes::kNone)
    return invalid_argument("row epilogue: no output requested");
  if (args.rows > (1ll << 31) - 1) return invalid_argument("row epilogue: too many rows");
  const unsigned int blocks = static_cast<unsigned int>(args.rows);
  if (precision == Precision::kFp16) {
    row_epilogue_kernel<__half><<<blocks, kThreads, 0, stream>>>(args);
  } else {
    row_epilogue_kernel<__nv_bfloat16><<<blocks, kThreads, 0, stream>>>(args);
  }
  JN_CUDA_CHECK_LAUNCH(row_epilogue_kernel);
  return ok_status();
}

}  // namespace justnews::cuda
