// Weight-only quantised linear layers: decode the weight into a per-thread float32 scratch buffer
// (in parallel), then run the FP32 linear on it.
#include "engine/cpu/linear_dequant_cpu.h"

#include <algorithm>
#include <vector>

namespace justnews {
namespace {

constexpr size_t kMinChannelsPerDecodeChunk = 64;

}  // namespace

void linear_dequant_cpu(const float* input, int64_t rows, int64_t in_features,
                        const WeightRowDecoder& decode_weight_rows, const float* bias,
                        int64_t out_features, Epilogue epilogue, float* output, ThreadPool* pool) {
  if (rows <= 0 || out_features <= 0) return;
  // One decoded layer at a time: the scratch is as large as the largest FP32 weight, transient,
  // while every layer's resident copy stays compressed.
  thread_local std::vector<float> decoded;
  decoded.resize(static_cast<size_t>(out_features * in_features));
  float* decoded_ptr = decoded.data();
  auto decode = [&](size_t begin, size_t end) {
    decode_weight_rows(static_cast<int64_t>(begin), static_cast<int64_t>(end),
                       decoded_ptr + static_cast<int64_t>(begin) * in_features);
  };
  if (pool && pool->num_threads() > 1)
    pool->parallel_for(static_cast<size_t>(out_features), kMinChannelsPerDecodeChunk, decode);
  else
    decode(0, static_cast<size_t>(out_features));
  linear_cpu(input, rows, in_features, decoded_ptr, bias, out_features, epilogue, output, pool);
}

}  // namespace justnews
