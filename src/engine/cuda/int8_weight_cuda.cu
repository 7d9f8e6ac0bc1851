// The INT8 weight-only decode: 8 codes (one 8-byte load) into 8 values a thread step.
#include "engine/cuda/int8_weight_cuda.h"

#include <algorithm>
#include <string>

#include "engine/cuda/dependent_launch.cuh"
#include "engine/cuda/element_types.cuh"

namespace justnews::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kColumnsPerStep = 8;

template <typename T>
__global__ void int8_dequantize_kernel(const int8_t* codes, const float* scales, int64_t rows,
                                       int64_t columns, T* out) {
  wait_for_previous_kernel();
  constexpr int kPack = Pack<T>::kSize;
  const int64_t steps_per_row = columns / kColumnsPerStep;
  const int64_t num_steps = rows * steps_per_row;
  for (int64_t step = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; step < num_steps;
       step += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = step / steps_per_row;
    const int64_t column = (step % steps_per_row) * kColumnsPerStep;
    const float scale = __ldg(scales + row);
    const uint2 loaded = __ldg(reinterpret_cast<const uint2*>(codes + row * columns + column));
    Pack<T> packs[kColumnsPerStep / kPack];
#pragma unroll
    for (int idx = 0; idx < kColumnsPerStep; ++idx) {
      const uint32_t word = idx < 4 ? loaded.x : loaded.y;
      const auto code = static_cast<int8_t>((word >> (8 * (idx % 4))) & 0xFFu);
      packs[idx / kPack].values[idx % kPack] =
          from_float<T>(__fmul_rn(static_cast<float>(code), scale));
    }
    T* destination = out + row * columns + column;
#pragma unroll
    for (int pack_idx = 0; pack_idx < kColumnsPerStep / kPack; ++pack_idx)
      store_pack(destination + pack_idx * kPack, packs[pack_idx]);
  }
}

bool aligned_to(const void* pointer, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(pointer) % bytes == 0;
}

}  // namespace

Status launch_int8_dequantize(Precision precision, const int8_t* codes, const float* scales,
                              int64_t rows, int64_t columns, void* out, cudaStream_t stream) {
  if (rows <= 0 || columns <= 0 || columns % kColumnsPerStep != 0)
    return invalid_argument("int8 dequantize: weight shape [" + std::to_string(rows) + ", " +
                            std::to_string(columns) +
                            "] must be non-empty with columns a multiple of 8");
  if (!codes || !scales || !out) return invalid_argument("int8 dequantize: a pointer is null");
  if (!aligned_to(codes, 8) || !aligned_to(out, 16))
    return invalid_argument(
        "int8 dequantize: codes must be 8-byte and the output 16-byte aligned");
  if (precision != Precision::kFp16 && precision != Precision::kBf16 &&
      precision != Precision::kFp32)
    return invalid_argument("int8 dequantize: unknown precision");
  const int64_t num_steps = rows * (columns / kColumnsPerStep);
  const int64_t num_blocks = std::min<int64_t>((num_steps + kThreads - 1) / kThreads, 65536);
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    return launch_kernel("int8_dequantize_kernel", int8_dequantize_kernel<T>,
                         static_cast<unsigned>(num_blocks), kThreads, 0, stream, codes, scales,
                         rows, columns, static_cast<T*>(out));
  });
}

}  // namespace justnews::cuda
