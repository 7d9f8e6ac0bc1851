// QuantizedLinearCpu: one linear layer's weight in the precision the CPU encoder was asked for,
// with the kernel that goes with it (sgemm for FP32, vdpbf16ps for BF16, VNNI for INT8 W8A8,
// decode-then-sgemm for the weight-only formats). Built once from the float32 weight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/cpu/linear_bf16_cpu.h"
#include "engine/cpu/linear_cpu.h"
#include "engine/cpu/linear_int8_cpu.h"
#include "quant/fp8_e4m3.h"
#include "quant/int4_quant.h"
#include "quant/int8_quant.h"
#include "quant/precision.h"
#include "tensor/tensor.h"

namespace justnews {

struct LinearQuantOptions {
  int64_t group_size = 64;                        // int4 / nf4
  const std::vector<float>* smoothing = nullptr;  // int8 W8A8: SmoothQuant factors [in_features]
  float static_activation_absmax = 0.0f;          // int8 W8A8: > 0 selects a per-tensor scale
  const std::vector<float>* gram = nullptr;       // code formats: E[x xᵀ] of the input → GPTQ
  float input_floor = kNoInputFloor;  // int8 W8A8: the input's lowest value → asymmetric codes
};

class QuantizedLinearCpu {
 public:
  QuantizedLinearCpu() = default;
  // weight: float32 [out_features, in_features]. Errors name `name` (group size, shapes).
  static Result<QuantizedLinearCpu> prepare(const Tensor& weight, Precision precision,
                                            const LinearQuantOptions& options,
                                            const std::string& name);
  // input [rows, in_features] → output [rows, out_features].
  void run(const float* input, int64_t rows, const float* bias, Epilogue epilogue, float* output,
           ThreadPool* pool) const;
  Precision precision() const { return precision_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  // Resident bytes of this weight in its prepared form (codes, scales, padding).
  int64_t memory_bytes() const;

 private:
  Precision precision_ = Precision::kFp32;
  int64_t out_features_ = 0, in_features_ = 0;
  Tensor fp32_;
  Bf16LinearWeights bf16_;
  Int8LinearWeights int8_;
  Int8Matrix int8_weight_only_;
  Fp8Matrix fp8_;
  Int4Matrix int4_;
};

}  // namespace justnews
