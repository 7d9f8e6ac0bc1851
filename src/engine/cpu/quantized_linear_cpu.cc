// QuantizedLinearCpu: preparation per precision and kernel dispatch.
#include "engine/cpu/quantized_linear_cpu.h"

#include "engine/cpu/linear_dequant_cpu.h"
#include "quant/gptq.h"

namespace justnews {

Result<QuantizedLinearCpu> QuantizedLinearCpu::prepare(const Tensor& weight, Precision precision,
                                                       const LinearQuantOptions& options,
                                                       const std::string& name) {
  if (weight.dtype() != DType::kF32 || weight.rank() != 2)
    return invalid_argument(
        "quantized linear " + name + ": expected a float32 [out, in] weight, got " +
        std::string(dtype_name(weight.dtype())) + " " + shape_to_string(weight.shape()));
  QuantizedLinearCpu linear;
  linear.precision_ = precision;
  linear.out_features_ = weight.dim(0);
  linear.in_features_ = weight.dim(1);
  const float* values = weight.data_as<float>();
  const int64_t out = linear.out_features_, in = linear.in_features_;
  if (options.gram && options.gram->size() != static_cast<size_t>(in * in))
    return invalid_argument("quantized linear " + name + ": GPTQ statistics have " +
                            std::to_string(options.gram->size()) + " entries, expected " +
                            std::to_string(in * in));
  // FP32 and BF16 round nothing GPTQ could compensate; every code format can use the statistics.
  const float* gram = options.gram ? options.gram->data() : nullptr;
  switch (precision) {
    case Precision::kFp32:
      linear.fp32_ = weight;
      break;
    case Precision::kBf16: {
      JN_ASSIGN_OR_RETURN(linear.bf16_, prepare_bf16_linear(values, out, in, name));
      break;
    }
    case Precision::kInt8: {
      if (options.smoothing && static_cast<int64_t>(options.smoothing->size()) != in)
        return invalid_argument("quantized linear " + name + ": " +
                                std::to_string(options.smoothing->size()) +
                                " smoothing factors, expected " + std::to_string(in));
      JN_ASSIGN_OR_RETURN(
          linear.int8_, prepare_int8_linear(values, out, in,
                                            options.smoothing ? options.smoothing->data() : nullptr,
                                            options.static_activation_absmax, name, gram,
                                            options.input_floor));
      break;
    }
    case Precision::kInt8WeightOnly: {
      JN_ASSIGN_OR_RETURN(linear.int8_weight_only_,
                          quantize_int8_per_row(values, out, in, name, gram));
      break;
    }
    case Precision::kFp8: {
      JN_ASSIGN_OR_RETURN(linear.fp8_, quantize_fp8_per_row(values, out, in, name, gram));
      break;
    }
    case Precision::kInt4:
    case Precision::kNf4: {
      const Int4Format format = precision == Precision::kInt4 ? Int4Format::kInt4 : Int4Format::kNf4;
      JN_ASSIGN_OR_RETURN(
          linear.int4_,
          gram ? quantize_int4_gptq(values, out, in, options.group_size, format, gram, kGptqDamping,
                                    name)
               : quantize_int4(values, out, in, options.group_size, format, name));
      break;
    }
  }
  return linear;
}

void QuantizedLinearCpu::run(const float* input, int64_t rows, const float* bias, Epilogue epilogue,
                             float* output, ThreadPool* pool) const {
  const int64_t in = in_features_;
  switch (precision_) {
    case Precision::kFp32:
      linear_cpu(input, rows, in, fp32_.data_as<float>(), bias, out_features_, epilogue, output,
                 pool);
      return;
    case Precision::kBf16:
      linear_bf16_cpu(input, rows, bf16_, bias, epilogue, output, pool);
      return;
    case Precision::kInt8:
      linear_int8_cpu(input, rows, int8_, bias, epilogue, output, pool);
      return;
    case Precision::kInt8WeightOnly: {
      const Int8Matrix& matrix = int8_weight_only_;
      linear_dequant_cpu(
          input, rows, in,
          [&matrix, in](int64_t begin, int64_t end, float* dst) {
            for (int64_t row = begin; row < end; ++row) {
              const float scale = matrix.scales[static_cast<size_t>(row)];
              const int8_t* codes = matrix.codes.data() + row * in;
              float* out = dst + (row - begin) * in;
              for (int64_t k = 0; k < in; ++k) out[k] = static_cast<float>(codes[k]) * scale;
            }
          },
          bias, out_features_, epilogue, output, pool);
      return;
    }
    case Precision::kFp8: {
      const Fp8Matrix& matrix = fp8_;
      linear_dequant_cpu(
          input, rows, in,
          [&matrix, in](int64_t begin, int64_t end, float* dst) {
            for (int64_t row = begin; row < end; ++row) {
              const float scale = matrix.scales[static_cast<size_t>(row)];
              const uint8_t* codes = matrix.codes.data() + row * in;
              float* out = dst + (row - begin) * in;
              for (int64_t k = 0; k < in; ++k) out[k] = fp8_e4m3_to_float(codes[k]) * scale;
            }
          },
          bias, out_features_, epilogue, output, pool);
      return;
    }
    case Precision::kInt4:
    case Precision::kNf4: {
      const Int4Matrix& matrix = int4_;
      linear_dequant_cpu(
          input, rows, in,
          [&matrix](int64_t begin, int64_t end, float* dst) {
            dequantize_int4_rows(matrix, begin, end, dst);
          },
          bias, out_features_, epilogue, output, pool);
      return;
    }
  }
}

int64_t QuantizedLinearCpu::memory_bytes() const {
  switch (precision_) {
    case Precision::kFp32:
      return static_cast<int64_t>(fp32_.nbytes());
    case Precision::kBf16:
      return bf16_.memory_bytes();
    case Precision::kInt8:
      return int8_.memory_bytes();
    case Precision::kInt8WeightOnly:
      return static_cast<int64_t>(int8_weight_only_.codes.size() +
                                  int8_weight_only_.scales.size() * 4);
    case Precision::kFp8:
      return static_cast<int64_t>(fp8_.codes.size() + fp8_.scales.size() * 4);
    case Precision::kInt4:
    case Precision::kNf4:
      return int4_.memory_bytes();
  }
  return 0;
}

}  // namespace justnews
