// Weight-only INT4 / NF4 linear layers on the GPU (issue 5). The weights stay in the CPU format of
// quant/int4_quant.h (group-wise 4-bit codes, two per byte with the even column in the low nibble,
// double-quantised group scales) inside one 256-byte aligned device blob per matrix; two paths use
// them:
//   - small batches (m <= int4_small_batch_limit()): launch_int4_linear decodes the codes in
//     registers and multiplies on the tensor cores, reading every weight byte once per call;
//   - large batches: launch_int4_dequantize writes a dense fp16/bf16 copy into scratch memory and
//     the caller runs the ordinary cuBLASLt GEMM (GemmRunner) on it.
// Both decode a weight exactly as dequantize_int4 does on the CPU (float32 scale and product, then
// one rounding to the output type). Launchers check their arguments and return a Status; none
// synchronises.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/cuda/cuda_ops.h"
#include "quant/int4_quant.h"

namespace justnews::cuda {

// Alignment of every part of a weight blob (and of the blob's device base address).
inline constexpr uint64_t kInt4BlobAlignmentBytes = 256;

// One Int4Matrix as the kernels see it, pointers into device memory.
struct DeviceInt4Weight {
  Int4Format format = Int4Format::kInt4;
  int64_t rows = 0;        // out_features
  int64_t columns = 0;     // in_features
  int64_t group_size = 0;  // consecutive columns of one row that share a scale
  const uint8_t* packed = nullptr;      // [rows, columns / 2]
  const int8_t* scale_codes = nullptr;  // [rows * columns / group_size], row-major groups
  const float* block_scales = nullptr;  // one per kScaleBlockSize groups
  float scale_offset = 0.0f;
};

// Where the parts of one matrix lie in a host/device blob, as byte offsets from the blob's start.
struct Int4BlobLayout {
  Int4Format format = Int4Format::kInt4;
  int64_t rows = 0, columns = 0, group_size = 0;
  float scale_offset = 0.0f;
  uint64_t packed_offset_bytes = 0;
  uint64_t scale_codes_offset_bytes = 0;
  uint64_t block_scales_offset_bytes = 0;
  uint64_t end_offset_bytes = 0;  // one past the block scales
};

// Layout of `matrix` placed at the first 256-byte boundary at or after `offset_bytes`. Checks that
// the matrix is consistent (sizes of packed codes, scale codes and block scales for its shape) and
// that the GPU kernels can run it (group size a multiple of 32 dividing the columns); errors name
// `name`.
Result<Int4BlobLayout> int4_blob_layout(const Int4Matrix& matrix, uint64_t offset_bytes,
                                        const std::string& name);

// Appends `matrix` to `blob` (zero padding up to each 256-byte boundary) and returns where its
// parts went. On error `blob` is left unchanged.
Result<Int4BlobLayout> append_int4_weight(const Int4Matrix& matrix, const std::string& name,
                                          std::vector<uint8_t>& blob);

// The device view of a matrix whose blob was copied to `device_base` (256-byte aligned).
Result<DeviceInt4Weight> make_device_int4_weight(const void* device_base,
                                                 const Int4BlobLayout& layout);

// out[rows, columns] (row-major, fp16, bf16 or fp32, 16-byte aligned) = the decoded weights.
Status launch_int4_dequantize(Precision precision, const DeviceInt4Weight& weight, void* out,
                              cudaStream_t stream);

enum class Int4Epilogue {
  kNone,          // out = x W^T                     (bias must be null)
  kBias,          // out = x W^T + b
  kBiasGeluErf,   // out = gelu_erf(x W^T + b)
  kBiasGeluTanh,  // out = gelu_tanh(x W^T + b)
  kBiasRelu,      // out = relu(x W^T + b)
};

// The largest batch launch_int4_linear accepts, and the one up to which the engine should prefer
// it to dequantise + GEMM.
int64_t int4_small_batch_limit();

// out[m, rows] = epilogue(input[m, columns] . decode(weight)^T + bias), fp16 or bf16 (fp32 is
// kUnsupported: the tensor cores take 16-bit operands), fp32 accumulation. The weight is decoded
// to the activation type first, so the result equals dequantise + GEMM up to summation order.
// m in [1, int4_small_batch_limit()]; input and out 16-byte aligned; bias has `rows` entries.
Status launch_int4_linear(Precision precision, const void* input, int64_t m,
                          const DeviceInt4Weight& weight, const void* bias, Int4Epilogue epilogue,
                          void* out, cudaStream_t stream);

}  // namespace justnews::cuda
