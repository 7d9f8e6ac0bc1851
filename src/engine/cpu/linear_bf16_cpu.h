// BF16 linear layers on the CPU: weights stored as bfloat16 (rounded to nearest even), activations
// rounded to bfloat16 per call, products accumulated in float32 by AVX512-BF16 vdpbf16ps (two
// products per 32-bit lane per instruction, twice the multiply rate of FP32 FMA), or by AMX
// tdpbf16ps on blocks of 32 rows where the tile unit is available (amx_cpu.h). Without
// AVX512-BF16 at run time a scalar kernel does the same rounding and float accumulation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/cpu/linear_cpu.h"

namespace justnews {

struct Bf16LinearWeights {
  int64_t out_features = 0, in_features = 0;
  int64_t padded_in = 0;         // rounded up to 32 (one AMX tile row)
  int64_t padded_out = 0;        // rounded up to 64 (one kernel tile)
  std::vector<uint16_t> packed;  // [padded_out/64][padded_in/2][4][16][2] bfloat16 bits
  int64_t memory_bytes() const { return static_cast<int64_t>(packed.size() * sizeof(uint16_t)); }
};

// weight: [out_features, in_features] float32. Errors name `name`.
Result<Bf16LinearWeights> prepare_bf16_linear(const float* weight, int64_t out_features,
                                              int64_t in_features, const std::string& name);

void linear_bf16_cpu(const float* input, int64_t rows, const Bf16LinearWeights& weights,
                     const float* bias, Epilogue epilogue, float* output, ThreadPool* pool,
                     bool use_simd = true);

bool cpu_has_avx512_bf16();

}  // namespace justnews
