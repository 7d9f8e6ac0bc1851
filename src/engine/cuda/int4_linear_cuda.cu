// INT4 / NF4 weight-only kernels: the blob layout helpers, the dequantising kernel (large batches)
// and the small-batch linear kernel that decodes 4-bit codes in registers and multiplies on the
// tensor cores.
//
// Small-batch linear, how the work is cut: the batch (m <= 16) is the M = 16 side of
// mma.m16n8k16, output channels the N = 8 side. A block owns kTiles groups of 8 output channels
// and all of K; its warps split K in spans of 128 columns. In a span, thread (group g = lane / 4,
// t = lane % 4) loads 16 bytes of packed codes (columns 32t..32t+31) of channel g of each tile, and
// the same 32 columns of batch rows g and g + 8. The mma's k order is free as long as A and B
// agree, so step s (0..7) feeds each thread its own columns 32t+4s..32t+4s+3 as the fragment's
// k = {2t, 2t+1, 2t+8, 2t+9}: no shuffles, no re-packed weight format. Warps meet once, in shared
// memory, for the sum over K and the epilogue. No input staging in shared memory: warps read
// disjoint columns, so there is nothing for them to share.
#include "engine/cuda/int4_linear_cuda.h"

#include <algorithm>
#include <string>
#include <type_traits>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/dependent_launch.cuh"
#include "engine/cuda/element_types.cuh"
#include "engine/cuda/mma_sm80.cuh"

namespace justnews::cuda {

namespace {

constexpr int kWarpSize = 32;
constexpr int kGpuGroupMultiple = 32;  // a thread's 32 columns must lie in one group
constexpr int kSmallBatchLimit = 16;   // the M of one mma tile
constexpr int kSpanColumns = 128;      // 4 threads x 32 columns
constexpr int kMaxLinearWarps = 8;
constexpr int kSpansPerRound = 2;      // spans whose loads a warp keeps in flight together
constexpr int kDequantizeThreads = 256;
constexpr int kDequantizeColumns = 8;  // columns per thread step: 4 code bytes in, 8 values out

std::string shape_text(int64_t rows, int64_t columns) {
  return "[" + std::to_string(rows) + ", " + std::to_string(columns) + "]";
}

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// NF4's codebook in constant memory, taken from the CPU's table so the two cannot drift apart.
__constant__ float kNf4DeviceCodebook[16] = {
    kNf4Codebook[0],  kNf4Codebook[1],  kNf4Codebook[2],  kNf4Codebook[3],
    kNf4Codebook[4],  kNf4Codebook[5],  kNf4Codebook[6],  kNf4Codebook[7],
    kNf4Codebook[8],  kNf4Codebook[9],  kNf4Codebook[10], kNf4Codebook[11],
    kNf4Codebook[12], kNf4Codebook[13], kNf4Codebook[14], kNf4Codebook[15]};

// Shape and pointer checks shared by both launchers; `what` names the launcher.
Status check_weight(const DeviceInt4Weight& weight, const char* what) {
  if (weight.rows <= 0 || weight.columns <= 0)
    return invalid_argument(std::string(what) + ": weight shape " +
                            shape_text(weight.rows, weight.columns) +
                            " is empty; expected rows, columns > 0");
  if (weight.group_size <= 0 || weight.group_size % kGpuGroupMultiple != 0 ||
      weight.columns % weight.group_size != 0)
    return unsupported(std::string(what) + ": group size " + std::to_string(weight.group_size) +
                       " with " + std::to_string(weight.columns) +
                       " columns; the GPU kernels need a positive multiple of 32 that divides the "
                       "columns");
  if (weight.rows > (int64_t{1} << 31) - 1 || weight.columns > (int64_t{1} << 30))
    return unsupported(std::string(what) + ": weight shape " +
                       shape_text(weight.rows, weight.columns) + " is too large for the kernels");
  if (weight.packed == nullptr || weight.scale_codes == nullptr || weight.block_scales == nullptr)
    return invalid_argument(std::string(what) +
                            ": weight has a null pointer (packed codes, scale codes or block "
                            "scales)");
  if (reinterpret_cast<uintptr_t>(weight.packed) % 16 != 0)
    return invalid_argument(std::string(what) +
                            ": packed codes must be 16-byte aligned (use the blob layout)");
  if (weight.format != Int4Format::kInt4 && weight.format != Int4Format::kNf4)
    return invalid_argument(std::string(what) + ": unknown weight format " +
                            std::to_string(static_cast<int>(weight.format)));
  return ok_status();
}

bool aligned_16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

// scale[g] = offset + code[g] * block_scale[g / 256], rounded exactly as the CPU does (no FMA).
__device__ __forceinline__ float group_scale(const DeviceInt4Weight& weight, int64_t group_idx) {
  return __fadd_rn(weight.scale_offset,
                   __fmul_rn(static_cast<float>(weight.scale_codes[group_idx]),
                             weight.block_scales[group_idx / kScaleBlockSize]));
}

__device__ __forceinline__ float decode(const float* table, uint32_t code, float scale) {
  return __fmul_rn(table[code], scale);
}

// The 16 values a code decodes to before scaling, in the CPU decoder's order (int4: code - 8),
// into shared memory.
__device__ __forceinline__ void fill_table(Int4Format format, float* table) {
  if (threadIdx.x < 16)
    table[threadIdx.x] = format == Int4Format::kInt4 ? static_cast<float>(static_cast<int>(threadIdx.x) - 8)
                                                     : kNf4DeviceCodebook[threadIdx.x];
  __syncthreads();
}

// ---- dequantise -----------------------------------------------------------------------------

template <typename T>
__global__ void int4_dequantize_kernel(DeviceInt4Weight weight, T* out) {
  wait_for_previous_kernel();
  __shared__ float table[16];
  fill_table(weight.format, table);
  constexpr int kPack = Pack<T>::kSize;
  const int64_t steps_per_row = weight.columns / kDequantizeColumns;
  const int64_t num_steps = weight.rows * steps_per_row;
  const int64_t groups_per_row = weight.columns / weight.group_size;
  for (int64_t step = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; step < num_steps;
       step += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = step / steps_per_row;
    const int64_t column = (step % steps_per_row) * kDequantizeColumns;
    // 8 consecutive columns never straddle a group: the group size is a multiple of 32.
    const float scale = group_scale(weight, row * groups_per_row + column / weight.group_size);
    const uint32_t codes = __ldg(reinterpret_cast<const uint32_t*>(
        weight.packed + row * (weight.columns / 2) + column / 2));
    Pack<T> packs[kDequantizeColumns / kPack];
#pragma unroll
    for (int idx = 0; idx < kDequantizeColumns; ++idx)
      packs[idx / kPack].values[idx % kPack] =
          from_float<T>(decode(table, (codes >> (4 * idx)) & 0xFu, scale));
    T* destination = out + row * weight.columns + column;
#pragma unroll
    for (int pack_idx = 0; pack_idx < kDequantizeColumns / kPack; ++pack_idx)
      store_pack(destination + pack_idx * kPack, packs[pack_idx]);
  }
}

// ---- small-batch linear ---------------------------------------------------------------------


__device__ __forceinline__ float apply_epilogue(float value, Int4Epilogue epilogue) {
  switch (epilogue) {
    case Int4Epilogue::kBiasGeluErf:
      return 0.5f * value * (1.f + erff(value * 0.70710678118654752f));
    case Int4Epilogue::kBiasGeluTanh: {
      const float inner = 0.79788456080286536f * (value + 0.044715f * value * value * value);
      return 0.5f * value * (1.f + tanhf(inner));
    }
    case Int4Epilogue::kBiasRelu: return fmaxf(value, 0.f);
    default: return value;
  }
}

// What one thread holds for one span: its 32 columns of batch rows g and g + 8 (as 16 pairs each)
// and of output channel g of every tile (16 code bytes and the group's scale).
template <int kTiles>
struct SpanFragments {
  uint4 input_low[4];
  uint4 input_high[4];
  uint4 codes[kTiles];
  float scales[kTiles];
};

template <typename T, int kTiles>
__device__ __forceinline__ void load_span(const T* input, int m, const DeviceInt4Weight& weight,
                                          int64_t tile_row0, int span, int lane,
                                          SpanFragments<kTiles>& fragments) {
  const int fragment_row = lane / 4;
  const int64_t column = static_cast<int64_t>(span) * kSpanColumns + (lane % 4) * 32;
  const bool column_valid = column < weight.columns;
  const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
  for (int half_idx = 0; half_idx < 2; ++half_idx) {
    const int batch_row = fragment_row + 8 * half_idx;
    uint4* target = half_idx == 0 ? fragments.input_low : fragments.input_high;
    const bool valid = column_valid && batch_row < m;
    const uint4* source = reinterpret_cast<const uint4*>(input + batch_row * weight.columns + column);
#pragma unroll
    for (int quad = 0; quad < 4; ++quad) target[quad] = valid ? __ldg(source + quad) : zero;
  }
  const int64_t groups_per_row = weight.columns / weight.group_size;
#pragma unroll
  for (int tile = 0; tile < kTiles; ++tile) {
    const int64_t channel = tile_row0 + tile * 8 + fragment_row;
    fragments.codes[tile] = zero;
    // A scale of 0 turns every code of a missing channel or column into 0.
    fragments.scales[tile] = 0.f;
    if (column_valid && channel < weight.rows) {
      fragments.codes[tile] = __ldg(reinterpret_cast<const uint4*>(
          weight.packed + channel * (weight.columns / 2) + column / 2));
      fragments.scales[tile] =
          group_scale(weight, channel * groups_per_row + column / weight.group_size);
    }
  }
}

template <typename T, int kTiles>
__device__ __forceinline__ void multiply_span(const SpanFragments<kTiles>& fragments,
                                              const float* table, float (&acc)[kTiles][4]) {
  const uint32_t* low = reinterpret_cast<const uint32_t*>(fragments.input_low);
  const uint32_t* high = reinterpret_cast<const uint32_t*>(fragments.input_high);
#pragma unroll
  for (int step = 0; step < 8; ++step) {
    // Columns 4s, 4s+1 (pair 2s) are the fragment's k = 2t, 2t+1; columns 4s+2, 4s+3 its 2t+8, 2t+9.
    const uint32_t a[4] = {low[2 * step], high[2 * step], low[2 * step + 1], high[2 * step + 1]};
#pragma unroll
    for (int tile = 0; tile < kTiles; ++tile) {
      const uint32_t* words = reinterpret_cast<const uint32_t*>(&fragments.codes[tile]);
      const uint32_t bits = words[step / 2] >> (16 * (step % 2));  // code bytes 2s and 2s+1
      const float scale = fragments.scales[tile];
      const uint32_t b0 = pack_pair<T>(decode(table, bits & 0xFu, scale),
                                       decode(table, (bits >> 4) & 0xFu, scale));
      const uint32_t b1 = pack_pair<T>(decode(table, (bits >> 8) & 0xFu, scale),
                                       decode(table, (bits >> 12) & 0xFu, scale));
      mma_16816<T>(acc[tile], a, b0, b1);
    }
  }
}

template <typename T, int kTiles>
__global__ void __launch_bounds__(kMaxLinearWarps * kWarpSize)
    int4_linear_kernel(const T* input, int m, DeviceInt4Weight weight, const T* bias, Int4Epilogue epilogue, T* out) {
  wait_for_previous_kernel();
  __shared__ float table[16];
  __shared__ float partial[kMaxLinearWarps][kTiles][4][kWarpSize];
  fill_table(weight.format, table);
  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int num_warps = blockDim.x / kWarpSize;
  const int64_t tile_row0 = static_cast<int64_t>(blockIdx.x) * 8 * kTiles;
  const int num_spans = static_cast<int>((weight.columns + kSpanColumns - 1) / kSpanColumns);

  float acc[kTiles][4] = {};
  for (int round_span = warp; round_span < num_spans;
       round_span += num_warps * kSpansPerRound) {
    SpanFragments<kTiles> fragments[kSpansPerRound];
#pragma unroll
    for (int idx = 0; idx < kSpansPerRound; ++idx) {
      const int span = round_span + idx * num_warps;
      if (span < num_spans) load_span<T, kTiles>(input, m, weight, tile_row0, span, lane, fragments[idx]);
    }
#pragma unroll
    for (int idx = 0; idx < kSpansPerRound; ++idx) {
      if (round_span + idx * num_warps < num_spans)
        multiply_span<T, kTiles>(fragments[idx], table, acc);
    }
  }

#pragma unroll
  for (int tile = 0; tile < kTiles; ++tile) {
#pragma unroll
    for (int idx = 0; idx < 4; ++idx) partial[warp][tile][idx][lane] = acc[tile][idx];
  }
  __syncthreads();
  // Element (batch row r, channel c of the block's 8 * kTiles): C fragment register
  // (r / 8) * 2 + c % 2 of lane (r % 8) * 4 + (c % 8) / 2 in tile c / 8.
  const int block_channels = 8 * kTiles;
  for (int element = threadIdx.x; element < m * block_channels; element += blockDim.x) {
    const int batch_row = element / block_channels;
    const int block_channel = element % block_channels;
    const int64_t channel = tile_row0 + block_channel;
    if (channel >= weight.rows) continue;
    const int tile = block_channel / 8;
    const int in_tile = block_channel % 8;
    const int source_lane = (batch_row % 8) * 4 + in_tile / 2;
    const int source_idx = (batch_row / 8) * 2 + in_tile % 2;
    float sum = 0.f;
    for (int source_warp = 0; source_warp < num_warps; ++source_warp)
      sum += partial[source_warp][tile][source_idx][source_lane];
    if (bias != nullptr) sum += to_float(bias[channel]);
    out[static_cast<int64_t>(batch_row) * weight.rows + channel] =
        from_float<T>(apply_epilogue(sum, epilogue));
  }
}

template <typename T, int kTiles>
Status launch_linear_typed(const T* input, int m, const DeviceInt4Weight& weight,
                           const T* bias, Int4Epilogue epilogue, T* out, cudaStream_t stream) {
  const int64_t num_spans = (weight.columns + kSpanColumns - 1) / kSpanColumns;
  const int num_warps = static_cast<int>(std::min<int64_t>(kMaxLinearWarps, num_spans));
  const int64_t num_blocks = (weight.rows + 8 * kTiles - 1) / (8 * kTiles);
  return launch_kernel("int4_linear_kernel", int4_linear_kernel<T, kTiles>,
                       static_cast<unsigned>(num_blocks), num_warps * kWarpSize, 0, stream, input,
                       m, weight, bias, epilogue, out);
}

// The activations' element type made concrete, and the tile count chosen for the weight's height.
template <typename T>
Status launch_linear_as(const void* input, int m, const DeviceInt4Weight& weight, const void* bias,
                        Int4Epilogue epilogue, void* out, cudaStream_t stream) {
  const auto* typed_input = static_cast<const T*>(input);
  const auto* typed_bias = static_cast<const T*>(bias);
  auto* typed_out = static_cast<T*>(out);
  // Two tiles per block once there are rows enough to fill the GPU: one tile per block gave 2.9
  // blocks per SM at 3072 rows, more than the registers let run at once (a second wave: 5.8 us vs
  // 4.6 us for 3072x768 on the H200).
  if (weight.rows >= 2048)
    return launch_linear_typed<T, 2>(typed_input, m, weight, typed_bias, epilogue, typed_out, stream);
  return launch_linear_typed<T, 1>(typed_input, m, weight, typed_bias, epilogue, typed_out, stream);
}

}  // namespace

Result<Int4BlobLayout> int4_blob_layout(const Int4Matrix& matrix, uint64_t offset_bytes,
                                        const std::string& name) {
  const std::string prefix = "int4 weight " + name + ": ";
  if (matrix.rows <= 0 || matrix.columns <= 0)
    return invalid_argument(prefix + "shape " + shape_text(matrix.rows, matrix.columns) +
                            " is empty; expected rows, columns > 0");
  JN_RETURN_IF_ERROR(check_group_size(matrix.group_size, matrix.columns, name));
  if (matrix.group_size % kGpuGroupMultiple != 0)
    return unsupported(prefix + "group size " + std::to_string(matrix.group_size) +
                       " is not a multiple of 32, which the GPU kernels need");
  if (matrix.format != Int4Format::kInt4 && matrix.format != Int4Format::kNf4)
    return invalid_argument(prefix + "unknown format " +
                            std::to_string(static_cast<int>(matrix.format)));
  const uint64_t packed_bytes = static_cast<uint64_t>(matrix.rows * (matrix.columns / 2));
  const uint64_t num_groups = static_cast<uint64_t>(matrix.rows * matrix.groups_per_row());
  const uint64_t num_blocks = (num_groups + kScaleBlockSize - 1) / kScaleBlockSize;
  if (matrix.packed.size() != packed_bytes)
    return invalid_argument(prefix + "packed codes hold " + std::to_string(matrix.packed.size()) +
                            " bytes; expected " + std::to_string(packed_bytes) + " for shape " +
                            shape_text(matrix.rows, matrix.columns));
  if (matrix.scales.codes.size() != num_groups)
    return invalid_argument(prefix + "has " + std::to_string(matrix.scales.codes.size()) +
                            " scale codes; expected " + std::to_string(num_groups) +
                            " (one per group of " + std::to_string(matrix.group_size) + ")");
  if (matrix.scales.block_scales.size() != num_blocks)
    return invalid_argument(prefix + "has " + std::to_string(matrix.scales.block_scales.size()) +
                            " block scales; expected " + std::to_string(num_blocks) +
                            " (one per " + std::to_string(kScaleBlockSize) + " groups)");
  Int4BlobLayout layout;
  layout.format = matrix.format;
  layout.rows = matrix.rows;
  layout.columns = matrix.columns;
  layout.group_size = matrix.group_size;
  layout.scale_offset = matrix.scales.offset;
  layout.packed_offset_bytes = align_up(offset_bytes, kInt4BlobAlignmentBytes);
  layout.scale_codes_offset_bytes =
      align_up(layout.packed_offset_bytes + packed_bytes, kInt4BlobAlignmentBytes);
  layout.block_scales_offset_bytes =
      align_up(layout.scale_codes_offset_bytes + num_groups, kInt4BlobAlignmentBytes);
  layout.end_offset_bytes = layout.block_scales_offset_bytes + num_blocks * sizeof(float);
  return layout;
}

Result<Int4BlobLayout> append_int4_weight(const Int4Matrix& matrix, const std::string& name,
                                          std::vector<uint8_t>& blob) {
  JN_ASSIGN_OR_RETURN(const Int4BlobLayout layout, int4_blob_layout(matrix, blob.size(), name));
  blob.resize(layout.end_offset_bytes, 0);
  std::copy(matrix.packed.begin(), matrix.packed.end(), blob.begin() + layout.packed_offset_bytes);
  std::copy(matrix.scales.codes.begin(), matrix.scales.codes.end(),
            reinterpret_cast<int8_t*>(blob.data() + layout.scale_codes_offset_bytes));
  std::copy(matrix.scales.block_scales.begin(), matrix.scales.block_scales.end(),
            reinterpret_cast<float*>(blob.data() + layout.block_scales_offset_bytes));
  return layout;
}

Result<DeviceInt4Weight> make_device_int4_weight(const void* device_base,
                                                 const Int4BlobLayout& layout) {
  if (device_base == nullptr) return invalid_argument("int4 weight: device base pointer is null");
  if (reinterpret_cast<uintptr_t>(device_base) % kInt4BlobAlignmentBytes != 0)
    return invalid_argument("int4 weight: device base pointer is not 256-byte aligned");
  const uint64_t offsets[] = {layout.packed_offset_bytes, layout.scale_codes_offset_bytes,
                              layout.block_scales_offset_bytes};
  for (const uint64_t offset : offsets)
    if (offset % kInt4BlobAlignmentBytes != 0)
      return invalid_argument("int4 weight: blob offset " + std::to_string(offset) +
                              " is not 256-byte aligned");
  const auto* base = static_cast<const uint8_t*>(device_base);
  DeviceInt4Weight weight;
  weight.format = layout.format;
  weight.rows = layout.rows;
  weight.columns = layout.columns;
  weight.group_size = layout.group_size;
  weight.packed = base + layout.packed_offset_bytes;
  weight.scale_codes = reinterpret_cast<const int8_t*>(base + layout.scale_codes_offset_bytes);
  weight.block_scales = reinterpret_cast<const float*>(base + layout.block_scales_offset_bytes);
  weight.scale_offset = layout.scale_offset;
  JN_RETURN_IF_ERROR(check_weight(weight, "int4 weight"));
  return weight;
}

Status launch_int4_dequantize(Precision precision, const DeviceInt4Weight& weight, void* out,
                              cudaStream_t stream) {
  JN_RETURN_IF_ERROR(check_weight(weight, "int4 dequantize"));
  if (out == nullptr) return invalid_argument("int4 dequantize: output pointer is null");
  if (!aligned_16(out)) return invalid_argument("int4 dequantize: output must be 16-byte aligned");
  if (precision != Precision::kFp16 && precision != Precision::kBf16 &&
      precision != Precision::kFp32)
    return invalid_argument("int4 dequantize: unknown precision");
  const int64_t num_steps = weight.rows * (weight.columns / kDequantizeColumns);
  const int64_t num_blocks =
      std::min<int64_t>((num_steps + kDequantizeThreads - 1) / kDequantizeThreads, 65536);
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    return launch_kernel("int4_dequantize_kernel", int4_dequantize_kernel<T>,
                         static_cast<unsigned>(num_blocks), kDequantizeThreads, 0, stream, weight,
                         static_cast<T*>(out));
  });
}

int64_t int4_small_batch_limit() { return kSmallBatchLimit; }

Status launch_int4_linear(Precision precision, const void* input, int64_t m,
                          const DeviceInt4Weight& weight, const void* bias, Int4Epilogue epilogue,
                          void* out, cudaStream_t stream) {
  JN_RETURN_IF_ERROR(check_weight(weight, "int4 linear"));
  if (precision == Precision::kFp32)
    return unsupported("int4 linear: fp32 activations are not supported (fp16 or bf16; for fp32 "
                       "dequantize and run the fp32 GEMM)");
  if (precision != Precision::kFp16 && precision != Precision::kBf16)
    return invalid_argument("int4 linear: unknown precision");
  if (m < 1 || m > kSmallBatchLimit)
    return invalid_argument("int4 linear: batch m = " + std::to_string(m) +
                            " is outside [1, " + std::to_string(kSmallBatchLimit) +
                            "]; dequantize and use the GEMM for larger batches");
  if (input == nullptr || out == nullptr)
    return invalid_argument(std::string("int4 linear: ") + (input ? "output" : "input") +
                            " pointer is null");
  if (!aligned_16(input) || !aligned_16(out))
    return invalid_argument("int4 linear: input and output must be 16-byte aligned");
  const bool wants_bias = epilogue != Int4Epilogue::kNone;
  switch (epilogue) {
    case Int4Epilogue::kNone:
    case Int4Epilogue::kBias:
    case Int4Epilogue::kBiasGeluErf:
    case Int4Epilogue::kBiasGeluTanh:
    case Int4Epilogue::kBiasRelu: break;
    default:
      return invalid_argument("int4 linear: unknown epilogue " +
                              std::to_string(static_cast<int>(epilogue)));
  }
  if (wants_bias && bias == nullptr)
    return invalid_argument("int4 linear: the epilogue adds a bias but the bias pointer is null");
  if (!wants_bias && bias != nullptr)
    return invalid_argument("int4 linear: a bias was given with the kNone epilogue (use kBias)");
  return precision == Precision::kFp16
             ? launch_linear_as<__half>(input, static_cast<int>(m), weight, bias, epilogue, out, stream)
             : launch_linear_as<__nv_bfloat16>(input, static_cast<int>(m), weight, bias, epilogue,
                                               out, stream);
}

}  // namespace justnews::cuda
