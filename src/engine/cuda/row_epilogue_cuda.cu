// launch_row_epilogue: one warp per row, the row in registers (8 columns per 16-byte pack, a
// compile-time number of packs per lane so nothing spills or waits on a run-time loop), every load
// of the row issued before the first use, and only warp shuffles for the LayerNorm moments and the
// row absmax: no block barriers. (The first version gave a 128-thread block to each row; under
// Nsight Compute it ran at 1.2-2.5 TB/s and cost 4.0 ms of BERT-base fp8's 6.9 ms at 128x128.)
// Rows wider than 1024 columns take shared-memory staging, or, when there are few of them (small
// batches), a block per row (row_epilogue_block_kernel).
#include <cuda_fp8.h>

#include <string>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/dependent_launch.cuh"
#include "engine/cuda/element_types.cuh"
#include "engine/cuda/row_epilogue.h"

namespace justnews::cuda {

namespace {

constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = 4;
constexpr int kPackColumns = 8;
// The register kernel holds up to 4 packs a lane: 1024 columns, the widest hidden size the encoder
// takes, so every LayerNorm row fits; wider rows (no LayerNorm) go to the shared-memory kernel.
constexpr int kPacksPerLane = 4;

__device__ __forceinline__ float activate(float x, RowActivation activation) {
  switch (activation) {
    case RowActivation::kGeluErf:  // the rows here are fp16 / bf16
      return gelu_erf_fast(x);
    case RowActivation::kGeluTanh:
      return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case RowActivation::kRelu:
      return fmaxf(x, 0.f);
    case RowActivation::kNone:
      break;
  }
  return x;
}

__device__ __forceinline__ void load_floats8(const float* address, float (&out)[kPackColumns]) {
  const float4 low = reinterpret_cast<const float4*>(address)[0];
  const float4 high = reinterpret_cast<const float4*>(address)[1];
  out[0] = low.x, out[1] = low.y, out[2] = low.z, out[3] = low.w;
  out[4] = high.x, out[5] = high.y, out[6] = high.z, out[7] = high.w;
}

// The activation of a value, in the cheaper GELU form when it only becomes an E4M3 code.
__device__ __forceinline__ float activate_value(float x, const RowEpilogueArgs& args,
                                               bool fp8_codes_only) {
  if (fp8_codes_only && args.activation == RowActivation::kGeluErf) return gelu_erf_for_codes(x);
  return activate(x, args.activation);
}

// A pack divided by its columns' SmoothQuant divisors (when there are any), and the running absmax
// of what the codes will quantise.
__device__ __forceinline__ void divide_by_channel(float (&values)[kPackColumns],
                                                  const float* channel_divisor, int col) {
  if (!channel_divisor) return;
  float divisors[kPackColumns];
  load_floats8(channel_divisor + col, divisors);
#pragma unroll
  for (int e = 0; e < kPackColumns; ++e) values[e] /= divisors[e];
}
__device__ __forceinline__ float pack_absmax(const float (&values)[kPackColumns], float absmax) {
#pragma unroll
  for (int e = 0; e < kPackColumns; ++e) absmax = fmaxf(absmax, fabsf(values[e]));
  return absmax;
}

// A row's code scale from its absmax (the format's largest code maps to it; 1 for a zero row).
__device__ __forceinline__ float code_scale_for(float absmax, RowCodes format) {
  const float max_code = format == RowCodes::kFp8E4M3 ? 448.f : 127.f;
  return absmax > 0.f ? absmax / max_code : 1.f;
}

// The row's code scale (lane-reduced absmax, or the calibrated per-tensor one); every lane gets it.
__device__ __forceinline__ float row_code_scale(float lane_absmax, const RowEpilogueArgs& args) {
  if (args.static_scale) return *args.static_scale;
  return code_scale_for(warp_max(lane_absmax), args.codes_format);
}

// Eight values times inv_scale as FP8 E4M3 or INT8 codes (INT8: round half away from zero and clamp
// to ±127, as the CPU quantiser does), packed for one 8-byte store.
__device__ __forceinline__ uint2 encode_codes8(const float (&values)[kPackColumns], float inv_scale,
                                               bool fp8) {
  union {
    uint8_t bytes[kPackColumns];
    uint2 word;
  } out;
#pragma unroll
  for (int e = 0; e < kPackColumns; ++e) {
    const float scaled = values[e] * inv_scale;
    out.bytes[e] =
        fp8 ? static_cast<uint8_t>(__nv_cvt_float_to_fp8(scaled, __NV_SATFINITE, __NV_E4M3))
            : static_cast<uint8_t>(static_cast<int8_t>(int8_code(scaled)));
  }
  return out.word;
}

template <typename T, int kPacks>
__global__ void __launch_bounds__(kWarpsPerBlock* kWarpSize) row_epilogue_kernel(RowEpilogueArgs args) {
  wait_for_previous_kernel();
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  if (row >= args.rows) return;
  const int lane = threadIdx.x % kWarpSize;
  const int cols = static_cast<int>(args.cols);
  const int packs = cols / kPackColumns;
  const int64_t row_start = row * cols;
  float values[kPacks][kPackColumns];
  // Every load of the row first, so a lane has all of its bytes in flight at once.
  Pack<T> raw[kPacks];
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int pack = lane + k * kWarpSize;
    if (pack < packs) raw[k] = load_pack(static_cast<const T*>(args.input) + row_start + pack * kPackColumns);
  }
#pragma unroll
  for (int k = 0; k < kPacks; ++k)
#pragma unroll
    for (int e = 0; e < kPackColumns; ++e) values[k][e] = to_float(raw[k].values[e]);
  // The LayerNorm's residual, gamma and beta too, before any reduction waits on a shuffle.
  Pack<T> residual[kPacks], gamma[kPacks], beta[kPacks];
  if (args.residual) {
#pragma unroll
    for (int k = 0; k < kPacks; ++k) {
      const int pack = lane + k * kWarpSize;
      if (pack < packs) {
        residual[k] = load_pack(static_cast<const T*>(args.residual) + row_start + pack * kPackColumns);
        gamma[k] = load_pack(static_cast<const T*>(args.gamma) + pack * kPackColumns);
        beta[k] = load_pack(static_cast<const T*>(args.beta) + pack * kPackColumns);
      }
    }
  }
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int pack = lane + k * kWarpSize;
    if (pack >= packs) continue;
    float* v = values[k];
    if (args.activation != RowActivation::kNone) {
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) v[e] = activate(v[e], args.activation);
    }
    if (args.residual) {
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) {
        v[e] += to_float(residual[k].values[e]);
        sum += v[e];
      }
    }
  }
  if (args.residual) {
    // Two passes over registers, as in the fp16 add + LayerNorm kernel.
    const float mean = warp_sum(sum) / cols;
    float squares = 0.f;
#pragma unroll
    for (int k = 0; k < kPacks; ++k) {
      if (lane + k * kWarpSize >= packs) continue;
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) {
        const float centred = values[k][e] - mean;
        squares += centred * centred;
      }
    }
    const float inv_std = rsqrtf(warp_sum(squares) / cols + args.eps);
#pragma unroll
    for (int k = 0; k < kPacks; ++k) {
      const int pack = lane + k * kWarpSize;
      if (pack >= packs) continue;
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e)
        values[k][e] = (values[k][e] - mean) * inv_std * to_float(gamma[k].values[e]) +
                       to_float(beta[k].values[e]);
    }
  }
  // Round to the activation precision: the codes then quantise exactly what `out` holds.
  float absmax = 0.f;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int pack = lane + k * kWarpSize;
    if (pack >= packs) continue;
    Pack<T> rounded;
#pragma unroll
    for (int e = 0; e < kPackColumns; ++e) {
      rounded.values[e] = from_float<T>(values[k][e]);
      values[k][e] = to_float(rounded.values[e]);
    }
    if (args.out) store_pack(static_cast<T*>(args.out) + row_start + pack * kPackColumns, rounded);
    if (args.codes_format != RowCodes::kNone) {
      divide_by_channel(values[k], args.channel_divisor, pack * kPackColumns);
      absmax = pack_absmax(values[k], absmax);
    }
  }
  if (args.codes_format == RowCodes::kNone) return;
  const bool fp8 = args.codes_format == RowCodes::kFp8E4M3;
  const float scale = row_code_scale(absmax, args);
  const float inv_scale = 1.f / scale;
  if (lane == 0) args.code_scales[row] = scale;
  uint8_t* codes = static_cast<uint8_t*>(args.codes) + row_start;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int pack = lane + k * kWarpSize;
    if (pack < packs)
      *reinterpret_cast<uint2*>(codes + pack * kPackColumns) = encode_codes8(values[k], inv_scale, fp8);
  }
}

// Rows wider than 32 lanes x 4 packs (never a LayerNorm row) (the FFN activation, 3072 columns in
// BERT-base): holding the row in registers would need ~200 registers a thread and leave a few
// warps per SM (measured: 1.2 TB/s, and 0.3 TB/s with GELU). Here a warp streams its row once,
// keeps the rounded values in shared memory for the absmax, and writes the codes from there.
constexpr int kWideUnroll = 4;

template <typename T>
__global__ void __launch_bounds__(kWarpsPerBlock* kWarpSize) row_epilogue_wide_kernel(RowEpilogueArgs args) {
  wait_for_previous_kernel();
  extern __shared__ __align__(16) unsigned char staged_bytes[];
  const int warp = threadIdx.x / kWarpSize;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp;
  if (row >= args.rows) return;
  const int lane = threadIdx.x % kWarpSize;
  const int cols = static_cast<int>(args.cols);
  const int packs = cols / kPackColumns;
  const int64_t row_start = row * cols;
  Pack<T>* staged = reinterpret_cast<Pack<T>*>(staged_bytes) + static_cast<int64_t>(warp) * packs;
  // Only E4M3 codes leave this pass (the FFN-in activations of the FP8 path): GELU can take the
  // cheaper form whose error stays far inside an E4M3 step.
  const bool fp8_codes_only = !args.out && args.codes_format == RowCodes::kFp8E4M3;
  float absmax = 0.f;
  for (int first = lane; first < packs; first += kWarpSize * kWideUnroll) {
    Pack<T> raw[kWideUnroll];
#pragma unroll
    for (int u = 0; u < kWideUnroll; ++u) {
      const int pack = first + u * kWarpSize;
      if (pack < packs) raw[u] = load_pack(static_cast<const T*>(args.input) + row_start + pack * kPackColumns);
    }
#pragma unroll
    for (int u = 0; u < kWideUnroll; ++u) {
      const int pack = first + u * kWarpSize;
      if (pack >= packs) continue;
      const int col = pack * kPackColumns;
      float v[kPackColumns];
      Pack<T> rounded;
#pragma unroll
      for (int e = 0; e < kPackColumns; ++e) {
        const float x = to_float(raw[u].values[e]);
        rounded.values[e] = from_float<T>(activate_value(x, args, fp8_codes_only));
        v[e] = to_float(rounded.values[e]);
      }
      if (args.out) store_pack(static_cast<T*>(args.out) + row_start + col, rounded);
      if (args.codes_format == RowCodes::kNone) continue;
      staged[pack] = rounded;
      divide_by_channel(v, args.channel_divisor, col);
      absmax = pack_absmax(v, absmax);
    }
  }
  if (args.codes_format == RowCodes::kNone) return;
  const bool fp8 = args.codes_format == RowCodes::kFp8E4M3;
  const float scale = row_code_scale(absmax, args);
  const float inv_scale = 1.f / scale;
  if (lane == 0) args.code_scales[row] = scale;
  __syncwarp();
  uint8_t* codes = static_cast<uint8_t*>(args.codes) + row_start;
  for (int pack = lane; pack < packs; pack += kWarpSize) {
    const Pack<T> rounded = staged[pack];
    float x[kPackColumns];
#pragma unroll
    for (int e = 0; e < kPackColumns; ++e) x[e] = to_float(rounded.values[e]);
    divide_by_channel(x, args.channel_divisor, pack * kPackColumns);
    *reinterpret_cast<uint2*>(codes + pack * kPackColumns) = encode_codes8(x, inv_scale, fp8);
  }
}

// Few wide rows (a small batch's FFN activation: 128 rows of 3072 at BERT-base 1x128): a warp per
// row left most SMs idle (32 blocks; 20 us a pass under Nsight Compute). Here the whole block takes
// one row, each thread kPacks packs in registers, and one barrier joins the warps' absmax. At many
// rows the warp-per-row kernels stay faster (no barrier; see the top of the file).
constexpr int kBlockRowThreads = 128;
constexpr int kBlockRowMaxRows = 1024;  // above this, the wide kernel has blocks enough

template <typename T, int kPacks>
__global__ void __launch_bounds__(kBlockRowThreads) row_epilogue_block_kernel(RowEpilogueArgs args) {
  wait_for_previous_kernel();
  __shared__ float warp_absmax[kBlockRowThreads / kWarpSize];
  const int64_t row = blockIdx.x;
  const int packs = static_cast<int>(args.cols / kPackColumns);
  const int64_t row_start = row * args.cols;
  const bool fp8_codes_only = !args.out && args.codes_format == RowCodes::kFp8E4M3;
  float values[kPacks][kPackColumns];
  Pack<T> raw[kPacks];
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int pack = threadIdx.x + k * kBlockRowThreads;
    if (pack < packs) raw[k] = load_pack(static_cast<const T*>(args.input) + row_start + pack * kPackColumns);
  }
  float absmax = 0.f;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int pack = threadIdx.x + k * kBlockRowThreads;
    if (pack >= packs) continue;
    Pack<T> rounded;
#pragma unroll
    for (int e = 0; e < kPackColumns; ++e) {
      const float x = to_float(raw[k].values[e]);
      rounded.values[e] = from_float<T>(activate_value(x, args, fp8_codes_only));
      values[k][e] = to_float(rounded.values[e]);
    }
    if (args.out) store_pack(static_cast<T*>(args.out) + row_start + pack * kPackColumns, rounded);
    if (args.codes_format == RowCodes::kNone) continue;
    divide_by_channel(values[k], args.channel_divisor, pack * kPackColumns);
    absmax = pack_absmax(values[k], absmax);
  }
  if (args.codes_format == RowCodes::kNone) return;
  float scale = 1.f;
  if (args.static_scale) {
    scale = *args.static_scale;
  } else {
    absmax = warp_max(absmax);
    if (threadIdx.x % kWarpSize == 0) warp_absmax[threadIdx.x / kWarpSize] = absmax;
    __syncthreads();
#pragma unroll
    for (int warp = 0; warp < kBlockRowThreads / kWarpSize; ++warp)
      absmax = fmaxf(absmax, warp_absmax[warp]);
    scale = code_scale_for(absmax, args.codes_format);
  }
  const bool fp8 = args.codes_format == RowCodes::kFp8E4M3;
  const float inv_scale = 1.f / scale;
  if (threadIdx.x == 0) args.code_scales[row] = scale;
  uint8_t* codes = static_cast<uint8_t*>(args.codes) + row_start;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int pack = threadIdx.x + k * kBlockRowThreads;
    if (pack < packs)
      *reinterpret_cast<uint2*>(codes + pack * kPackColumns) = encode_codes8(values[k], inv_scale, fp8);
  }
}

template <typename T>
Status launch_for_width(const RowEpilogueArgs& args, cudaStream_t stream) {
  const unsigned int blocks = static_cast<unsigned int>((args.rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  const int packs_per_lane = static_cast<int>((args.cols / kPackColumns + kWarpSize - 1) / kWarpSize);
  constexpr unsigned int kThreads = kWarpsPerBlock * kWarpSize;
  if (packs_per_lane > kPacksPerLane && args.rows <= kBlockRowMaxRows && !args.residual) {
    const unsigned int row_blocks = static_cast<unsigned int>(args.rows);
    switch ((args.cols / kPackColumns + kBlockRowThreads - 1) / kBlockRowThreads) {
      case 1: return launch_kernel("row_epilogue_block_kernel", row_epilogue_block_kernel<T, 1>, row_blocks, kBlockRowThreads, 0, stream, args);
      case 2: return launch_kernel("row_epilogue_block_kernel", row_epilogue_block_kernel<T, 2>, row_blocks, kBlockRowThreads, 0, stream, args);
      case 3: return launch_kernel("row_epilogue_block_kernel", row_epilogue_block_kernel<T, 3>, row_blocks, kBlockRowThreads, 0, stream, args);
      default: return launch_kernel("row_epilogue_block_kernel", row_epilogue_block_kernel<T, 4>, row_blocks, kBlockRowThreads, 0, stream, args);
    }
  }
  if (packs_per_lane > kPacksPerLane) {
    const size_t staged_bytes = static_cast<size_t>(kWarpsPerBlock) * args.cols * sizeof(T);
    return launch_kernel("row_epilogue_wide_kernel", row_epilogue_wide_kernel<T>, blocks, kThreads,
                         staged_bytes, stream, args);
  }
  // Compiled per packs a lane (a 768-wide row: 3), so no registers sit idle for wider rows.
  switch (packs_per_lane) {
    case 1: return launch_kernel("row_epilogue_kernel", row_epilogue_kernel<T, 1>, blocks, kThreads, 0, stream, args);
    case 2: return launch_kernel("row_epilogue_kernel", row_epilogue_kernel<T, 2>, blocks, kThreads, 0, stream, args);
    case 3: return launch_kernel("row_epilogue_kernel", row_epilogue_kernel<T, 3>, blocks, kThreads, 0, stream, args);
    default: return launch_kernel("row_epilogue_kernel", row_epilogue_kernel<T, 4>, blocks, kThreads, 0, stream, args);
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
  if (args.input == nullptr) return invalid_argument("row epilogue: no input rows");
  if (args.residual && (!args.gamma || !args.beta))
    return invalid_argument("row epilogue: the LayerNorm needs gamma and beta");
  if (args.residual && args.cols > kPacksPerLane * kWarpSize * kPackColumns)
    return unsupported("row epilogue: a LayerNorm row holds at most " +
                       std::to_string(kPacksPerLane * kWarpSize * kPackColumns) + " columns, got " +
                       std::to_string(args.cols));
  if (args.codes_format != RowCodes::kNone && (!args.codes || !args.code_scales))
    return invalid_argument("row epilogue: quantised output needs codes and code_scales buffers");
  if (!args.out && args.codes_format == RowCodes::kNone)
    return invalid_argument("row epilogue: no output requested");
  if (args.rows > (1ll << 31) - 1) return invalid_argument("row epilogue: too many rows");
  if (precision == Precision::kFp16) return launch_for_width<__half>(args, stream);
  return launch_for_width<__nv_bfloat16>(args, stream);
}

}  // namespace justnews::cuda
