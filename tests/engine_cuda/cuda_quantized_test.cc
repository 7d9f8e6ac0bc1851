// The FP8 and INT8 paths of the CUDA backend (and the fp16 / bf16 bias + GELU sm90 GEMM): the row
// epilogue and the sm90 GEMMs against CPU
// loops over the same codes, then whole encoders against the CPU encoder — FP32 for the accuracy
// bar, and the CPU's own INT8 W8A8 path (same quantisation rules) for a tight check of the GPU
// arithmetic — with dynamic and calibrated scales, SmoothQuant, plans and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cuda_test_util.h"
#include "engine/cpu/cpu_encoder.h"
#include "engine/cuda/cuda_encoder.h"
#include "engine/cuda/gemm_cublaslt.h"
#include "engine/cuda/int8_weight_cuda.h"
#include "engine/cuda/row_epilogue.h"
#include "engine/cuda/sm90/gemm_sm90.h"
#include "engine/engine_plan.h"
#include "quant/activation_stats.h"
#include "quant/fp8_e4m3.h"
#include "quant/int8_quant.h"
#include "random_model.h"
#include "tensor/vector_math.h"

namespace justnews::testing {
namespace {

using cuda::LinearFormat;
using cuda::Precision;
using cuda::RowActivation;
using cuda::RowCodes;

template <typename T>
std::vector<T> download(const cuda::DeviceBuffer& buffer, size_t count) {
  std::vector<T> values(count);
  EXPECT_EQ(cudaMemcpy(values.data(), buffer.data(), count * sizeof(T), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return values;
}

std::vector<float> download_bf16(const cuda::DeviceBuffer& buffer, size_t count) {
  const std::vector<uint16_t> bits = download<uint16_t>(buffer, count);
  std::vector<float> values(count);
  for (size_t idx = 0; idx < count; ++idx) values[idx] = bf16_to_f32(bits[idx]);
  return values;
}

std::vector<float> download_half(const cuda::DeviceBuffer& buffer, size_t count) {
  const std::vector<uint16_t> bits = download<uint16_t>(buffer, count);
  std::vector<float> values(count);
  for (size_t idx = 0; idx < count; ++idx) values[idx] = f16_to_f32(bits[idx]);
  return values;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  return cosine_similarity(a.data(), b.data(), static_cast<int64_t>(a.size()));
}

float activate(float x, RowActivation activation) {
  switch (activation) {
    case RowActivation::kGeluErf:
      return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
    case RowActivation::kGeluTanh:
      return 0.5f * x * (1.f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case RowActivation::kRelu:
      return std::max(x, 0.f);
    case RowActivation::kNone:
      break;
  }
  return x;
}

class RowEpilogueTest : public ::testing::Test {
 protected:
  void SetUp() override { JN_SKIP_WITHOUT_GPU(); }
};

// Every stage of the epilogue at once (GELU, residual + LayerNorm, fp16 out, SmoothQuant divisor,
// INT8 codes with per-row scales), and the FP8 variant with a calibrated scale, at widths up to the
// widest LayerNorm row the kernel takes (1024).
TEST_F(RowEpilogueTest, MatchesCpuLoop) {
  for (const RowCodes format : {RowCodes::kInt8, RowCodes::kFp8E4M3}) {
    for (const int64_t cols : {int64_t{64}, int64_t{384}, int64_t{768}, int64_t{1024}}) {
      const int64_t rows = 19;
      const bool dynamic = format == RowCodes::kInt8;  // INT8: per-row scales and a divisor
      std::vector<float> input = random_values(rows * cols, 3 + static_cast<uint32_t>(cols));
      std::vector<float> residual = random_values(rows * cols, 5);
      std::vector<float> gamma = random_values(cols, 6, 1.f, 0.1f);
      std::vector<float> beta = random_values(cols, 7, 0.f, 0.1f);
      std::vector<float> divisor = random_values(cols, 8, 1.f, 0.2f);
      for (float& d : divisor) d = std::max(std::abs(d), 0.25f);
      const float static_scale = 4.0f / 448.f;

      auto divisor_gpu = upload_raw(divisor);
      auto static_gpu = upload_raw(std::vector<float>{static_scale});
      auto input_gpu = upload(input, Precision::kFp16);
      auto residual_gpu = upload(residual, Precision::kFp16);
      auto gamma_gpu = upload(gamma, Precision::kFp16);
      auto beta_gpu = upload(beta, Precision::kFp16);
      auto out_gpu = poisoned(rows * cols, 2);
      auto codes_gpu = poisoned(rows * cols, 1);
      auto code_scales_gpu = poisoned(rows, 4);

      cuda::RowEpilogueArgs args;
      args.rows = rows;
      args.cols = cols;
      args.input = input_gpu.data();
      if (dynamic) {
        args.channel_divisor = static_cast<const float*>(divisor_gpu.data());
      } else {
        args.static_scale = static_cast<const float*>(static_gpu.data());
      }
      args.activation = RowActivation::kGeluErf;
      args.residual = residual_gpu.data();
      args.gamma = gamma_gpu.data();
      args.beta = beta_gpu.data();
      args.eps = 1e-12f;
      args.out = out_gpu.data();
      args.codes_format = format;
      args.codes = codes_gpu.data();
      args.code_scales = static_cast<float*>(code_scales_gpu.data());
      ASSERT_TRUE(cuda::launch_row_epilogue(Precision::kFp16, args, nullptr).ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<float> out = download_half(out_gpu, rows * cols);
      const std::vector<uint8_t> codes = download<uint8_t>(codes_gpu, rows * cols);
      const std::vector<float> code_scales = download<float>(code_scales_gpu, rows);

      for (int64_t row = 0; row < rows; ++row) {
        std::vector<double> x(cols);
        double mean = 0;
        for (int64_t col = 0; col < cols; ++col) {
          const int64_t idx = row * cols + col;
          const float value = activate(input[idx], RowActivation::kGeluErf) + residual[idx];
          x[col] = value;
          mean += value;
        }
        mean /= cols;
        double variance = 0;
        for (double value : x) variance += (value - mean) * (value - mean);
        const double inv_std = 1.0 / std::sqrt(variance / cols + 1e-12);
        float absmax = 0.f;
        std::vector<float> expected(cols);
        for (int64_t col = 0; col < cols; ++col) {
          expected[col] = static_cast<float>((x[col] - mean) * inv_std * gamma[col] + beta[col]);
          const float actual = out[row * cols + col];
          ASSERT_NEAR(actual, expected[col], 4e-3f + 2e-3f * std::abs(expected[col]))
              << "row " << row << " col " << col << " cols " << cols;
          const float quantised_input = dynamic ? actual / divisor[col] : actual;
          absmax = std::max(absmax, std::abs(quantised_input));
        }
        const float scale = dynamic ? absmax / 127.f : static_scale;
        ASSERT_NEAR(code_scales[row], scale, 1e-6f * std::max(scale, 1.f)) << "row " << row;
        for (int64_t col = 0; col < cols; ++col) {
          const float actual = out[row * cols + col];
          const uint8_t code = codes[row * cols + col];
          if (dynamic) {
            const int8_t expected_code =
                quantize_int8_value(actual / divisor[col], 1.f / code_scales[row]);
            ASSERT_LE(std::abs(static_cast<int8_t>(code) - expected_code), 1)
                << "row " << row << " col " << col;
          } else {
            ASSERT_EQ(code, float_to_fp8_e4m3(actual / static_scale))
                << "row " << row << " col " << col;
          }
        }
      }
    }
  }
}

// Rows wider than the register kernel takes and without a residual (the FFN activation) run the
// block-per-row kernel (up to 1024 rows) or the shared-memory kernel (more rows): activation,
// optional SmoothQuant divisor, per-row dynamic codes, and the activation-precision output only
// when asked for.
TEST_F(RowEpilogueTest, WideRowsWithoutResidualMatchCpuLoop) {
  for (const int64_t rows : {int64_t{37}, int64_t{1100}})
  for (const RowCodes format : {RowCodes::kFp8E4M3, RowCodes::kInt8}) {
    for (const int64_t cols : {int64_t{1032}, int64_t{2304}, int64_t{3072}, int64_t{4096}}) {
      const bool with_out = cols != 3072;
      const bool with_divisor = format == RowCodes::kInt8;
      std::vector<float> input = random_values(rows * cols, 41 + static_cast<uint32_t>(cols));
      std::vector<float> divisor = random_values(cols, 42, 1.f, 0.2f);
      for (float& d : divisor) d = std::max(std::abs(d), 0.25f);
      auto input_gpu = upload(input, Precision::kFp16);
      auto divisor_gpu = upload_raw(divisor);
      auto out_gpu = poisoned(rows * cols, 2);
      auto codes_gpu = poisoned(rows * cols, 1);
      auto code_scales_gpu = poisoned(rows, 4);
      cuda::RowEpilogueArgs args;
      args.rows = rows, args.cols = cols, args.input = input_gpu.data();
      args.activation = RowActivation::kGeluTanh;
      if (with_out) args.out = out_gpu.data();
      if (with_divisor) args.channel_divisor = static_cast<const float*>(divisor_gpu.data());
      args.codes_format = format, args.codes = codes_gpu.data();
      args.code_scales = static_cast<float*>(code_scales_gpu.data());
      ASSERT_TRUE(cuda::launch_row_epilogue(Precision::kFp16, args, nullptr).ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<float> out = download_half(out_gpu, rows * cols);
      const std::vector<uint8_t> codes = download<uint8_t>(codes_gpu, rows * cols);
      const std::vector<float> code_scales = download<float>(code_scales_gpu, rows);
      for (int64_t row = 0; row < rows; ++row) {
        std::vector<float> x(cols);
        float absmax = 0.f;
        for (int64_t col = 0; col < cols; ++col) {
          const float activated = round_to(Precision::kFp16, activate(input[row * cols + col], RowActivation::kGeluTanh));
          if (with_out)
            ASSERT_NEAR(out[row * cols + col], activated, 1e-3f + 1e-3f * std::abs(activated)) << row << "," << col;
          x[col] = with_divisor ? activated / divisor[col] : activated;
          absmax = std::max(absmax, std::abs(x[col]));
        }
        const float max_code = format == RowCodes::kFp8E4M3 ? 448.f : 127.f;
        ASSERT_NEAR(code_scales[row], absmax / max_code, 2e-3f * absmax / max_code) << "row " << row;
        for (int64_t col = 0; col < cols; ++col) {
          const uint8_t code = codes[row * cols + col];
          const float decoded = (format == RowCodes::kFp8E4M3 ? fp8_e4m3_to_float(code)
                                                               : static_cast<float>(static_cast<int8_t>(code))) *
                                code_scales[row];
          // Half a code step: 1/16 relative for E4M3's 3 mantissa bits, half a scale for INT8.
          const float step = format == RowCodes::kFp8E4M3 ? std::abs(x[col]) / 15.f + code_scales[row] * 0.01f
                                                          : code_scales[row] * 0.51f;
          ASSERT_NEAR(decoded, x[col], step + 1e-3f * absmax) << "row " << row << " col " << col << " cols " << cols;
        }
      }
      if (!with_out) {
        const std::vector<uint16_t> untouched = download<uint16_t>(out_gpu, rows * cols);
        EXPECT_EQ(untouched[0], 0xFFFF) << "no activation-precision output was asked for";
      }
    }
  }
}

TEST_F(RowEpilogueTest, RefusesBadArguments) {
  cuda::RowEpilogueArgs args;
  args.rows = 4;
  args.cols = 12;  // not a multiple of 8
  int dummy = 0;
  args.input = &dummy;
  args.out = &dummy;
  EXPECT_EQ(cuda::launch_row_epilogue(Precision::kFp16, args, nullptr).code(),
            StatusCode::kUnsupported);
  args.cols = 8192;
  EXPECT_EQ(cuda::launch_row_epilogue(Precision::kFp16, args, nullptr).code(),
            StatusCode::kUnsupported);
  args.cols = 64;
  EXPECT_EQ(cuda::launch_row_epilogue(Precision::kFp32, args, nullptr).code(),
            StatusCode::kUnsupported);
  args.input = nullptr;
  EXPECT_EQ(cuda::launch_row_epilogue(Precision::kFp16, args, nullptr).code(),
            StatusCode::kInvalidArgument);
  args.input = &dummy;
  args.residual = &dummy;  // a LayerNorm without gamma and beta
  EXPECT_EQ(cuda::launch_row_epilogue(Precision::kFp16, args, nullptr).code(),
            StatusCode::kInvalidArgument);
  args.gamma = &dummy, args.beta = &dummy;
  args.cols = 3072;  // a LayerNorm row wider than the 1024 the register kernel holds
  const Status wide = cuda::launch_row_epilogue(Precision::kFp16, args, nullptr);
  EXPECT_EQ(wide.code(), StatusCode::kUnsupported);
  EXPECT_NE(wide.message().find("1024"), std::string::npos) << wide.message();
}

class Sm90GemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JN_SKIP_WITHOUT_GPU();
    if (!cuda::sm90_gemm_device_supported()) GTEST_SKIP() << "the sm90 GEMMs need a Hopper GPU";
    auto scratch = cuda::DeviceBuffer::allocate(kWorkspaceBytes, "gemm workspace");
    ASSERT_TRUE(scratch.ok());
    workspace_ = std::move(*scratch);
  }
  // Runs one scaled GEMM on the default stream and waits for it.
  Status run_scaled_gemm(const cuda::Sm90ScaledGemmArgs& args, bool autotune) {
    JN_RETURN_IF_ERROR(cuda::launch_sm90_scaled_gemm(args, workspace_.data(), kWorkspaceBytes,
                                                     nullptr, autotune));
    const cudaError_t synced = cudaDeviceSynchronize();
    return synced == cudaSuccess ? ok_status()
                                 : internal_error(std::string("sm90 GEMM: ") +
                                                  cudaGetErrorString(synced));
  }
  static constexpr size_t kWorkspaceBytes = 32 << 20;
  cuda::DeviceBuffer workspace_;
};

// The operands of a code GEMM: x [rows, depth] and w [cols, depth] quantised per row (FP8 or
// INT8, as the encoder quantises them), on the device, and the host copies a reference loop needs.
struct CodeOperands {
  cuda::Sm90Codes format = cuda::Sm90Codes::kFp8E4M3;
  std::vector<uint8_t> x_codes, w_codes;
  std::vector<float> x_scales, w_scales;
  cuda::DeviceBuffer x_gpu, w_gpu, x_scales_gpu, w_scales_gpu;

  // per_tensor_input: one scale for all of x (a calibrated input), repeated per row.
  static CodeOperands make(cuda::Sm90Codes format, const std::vector<float>& x, int64_t rows,
                           const std::vector<float>& w, int64_t cols, int64_t depth,
                           bool per_tensor_input = false) {
    CodeOperands operands;
    operands.format = format;
    const auto as_bytes = [](const std::vector<int8_t>& codes) {
      return std::vector<uint8_t>(codes.begin(), codes.end());
    };
    const int64_t x_rows = per_tensor_input ? 1 : rows;
    const int64_t x_depth = per_tensor_input ? rows * depth : depth;
    if (format == cuda::Sm90Codes::kFp8E4M3) {
      auto qx = quantize_fp8_per_row(x.data(), x_rows, x_depth, "x");
      auto qw = quantize_fp8_per_row(w.data(), cols, depth, "w");
      EXPECT_TRUE(qx.ok() && qw.ok());
      operands.x_codes = qx->codes, operands.x_scales = qx->scales;
      operands.w_codes = qw->codes, operands.w_scales = qw->scales;
    } else {
      auto qx = quantize_int8_per_row(x.data(), x_rows, x_depth, "x");
      auto qw = quantize_int8_per_row(w.data(), cols, depth, "w");
      EXPECT_TRUE(qx.ok() && qw.ok());
      operands.x_codes = as_bytes(qx->codes), operands.x_scales = qx->scales;
      operands.w_codes = as_bytes(qw->codes), operands.w_scales = qw->scales;
    }
    if (per_tensor_input) operands.x_scales.assign(rows, operands.x_scales.front());
    operands.x_gpu = upload_raw(operands.x_codes);
    operands.w_gpu = upload_raw(operands.w_codes);
    operands.x_scales_gpu = upload_raw(operands.x_scales);
    operands.w_scales_gpu = upload_raw(operands.w_scales);
    return operands;
  }

  double decode(uint8_t code) const {
    return format == cuda::Sm90Codes::kFp8E4M3 ? fp8_e4m3_to_float(code)
                                               : static_cast<int8_t>(code);
  }
  // sum_k x[r, k] w[c, k] * x_scale[r] * w_scale[c] in double, from the codes.
  double scaled_sum(int64_t r, int64_t c, int64_t depth) const {
    double sum = 0;
    for (int64_t k = 0; k < depth; ++k)
      sum += decode(x_codes[r * depth + k]) * decode(w_codes[c * depth + k]);
    return sum * x_scales[r] * w_scales[c];
  }
  cuda::Sm90ScaledGemmArgs args(int64_t rows, int64_t cols, int64_t depth, const void* bias,
                                void* out) const {
    cuda::Sm90ScaledGemmArgs gemm;
    gemm.codes = format, gemm.rows = rows, gemm.cols = cols, gemm.depth = depth;
    gemm.input_codes = x_gpu.data(), gemm.weight_codes = w_gpu.data();
    gemm.row_scales = static_cast<const float*>(x_scales_gpu.data());
    gemm.col_scales = static_cast<const float*>(w_scales_gpu.data());
    gemm.bias = bias, gemm.out = out;
    return gemm;
  }
};

const char* format_name(cuda::Sm90Codes format) {
  return format == cuda::Sm90Codes::kFp8E4M3 ? "fp8" : "int8";
}

// A forced schedule, or the tuned choice with or without timing.
struct ScheduleCase {
  cuda::Sm90Schedule schedule;
  bool autotune;
};
const std::vector<ScheduleCase> kScaledSchedules = {{cuda::Sm90Schedule::kCooperative, false},
                                                    {cuda::Sm90Schedule::kPingpong, false},
                                                    {cuda::Sm90Schedule::kSmall, false},
                                                    {cuda::Sm90Schedule::kTuned, false},
                                                    {cuda::Sm90Schedule::kTuned, true}};

// Scaled FP8 / INT8 GEMMs against a double loop over the same codes, at row counts that leave
// partial tiles (1, 45, 300) and a column count that is not a tile multiple, through every
// schedule and the tuned choice (the first call of each shape times them; later calls run the
// chosen one); with a scale per row, and with one scale for the input folded into the column
// scales (no row scales: a calibrated input).
TEST_F(Sm90GemmTest, ScaledCodesMatchLoop) {
  for (const bool folded : {false, true})
  for (const cuda::Sm90Codes format : {cuda::Sm90Codes::kFp8E4M3, cuda::Sm90Codes::kInt8}) {
    for (const int64_t rows : {int64_t{1}, int64_t{45}, int64_t{300}}) {
      for (const ScheduleCase& schedule : kScaledSchedules) {
        const bool autotune = schedule.autotune;
        const int64_t in = 384, out = 160;
        const CodeOperands operands =
            CodeOperands::make(format, random_values(rows * in, 11 + rows), rows,
                               random_values(out * in, 12, 0.f, 0.05f), out, in, folded);
        std::vector<float> bias = random_values(out, 13, 0.f, 0.5f);
        auto bias_gpu = upload(bias, Precision::kFp16);
        auto out_gpu = poisoned(rows * out, 2);
        cuda::Sm90ScaledGemmArgs args = operands.args(rows, out, in, bias_gpu.data(), out_gpu.data());
        std::vector<float> folded_scales = operands.w_scales;
        for (float& scale : folded_scales) scale *= operands.x_scales.front();
        auto folded_gpu = upload_raw(folded_scales);
        if (folded) {
          args.row_scales = nullptr;
          args.col_scales = static_cast<const float*>(folded_gpu.data());
        }
        args.schedule = schedule.schedule;
        const Status status = run_scaled_gemm(args, autotune);
        ASSERT_TRUE(status.ok()) << status.to_string();
        const std::vector<float> actual = download_half(out_gpu, rows * out);
        std::vector<float> expected(rows * out);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t o = 0; o < out; ++o)
            expected[r * out + o] = static_cast<float>(operands.scaled_sum(r, o, in) + bias[o]);
        float largest = 0.f;
        for (float value : expected) largest = std::max(largest, std::abs(value));
        // One fp16 rounding of the output (0.05%); FP8 adds Hopper's fast accumulation, which keeps
        // fewer accumulator bits than fp32 (1.06% seen on one element under cuBLASLt).
        const float relative = format == cuda::Sm90Codes::kInt8 ? 1e-3f : 2e-2f;
        for (size_t idx = 0; idx < expected.size(); ++idx)
          ASSERT_NEAR(actual[idx], expected[idx],
                      2e-3f * largest + relative * std::abs(expected[idx]))
              << format_name(format) << (folded ? " folded " : " ") << rows << " rows, schedule "
              << static_cast<int>(schedule.schedule) << ", autotune " << autotune << ", element " << idx;
        EXPECT_GT(cosine(actual, expected), 0.9999);
      }
    }
  }
}

// The FFN-in GEMM that writes the next GEMM's codes: codes of gelu(scaled sum + bias) / scale
// against a double loop, for FP8 (E4M3, saturating at 448; one scale) and INT8 (rounded, clamped
// to +-127; a multiplier per column, 1 / (scale x a SmoothQuant-like divisor in [0.5, 2])), through
// every schedule and the tuned choice, with a scale small enough that the largest values saturate.
// Its input has one calibrated scale, folded into the column scales (no row scales).
TEST_F(Sm90GemmTest, GeluCodesMatchLoop) {
  const int64_t in = 384, out = 1536;
  for (const cuda::Sm90Codes format : {cuda::Sm90Codes::kFp8E4M3, cuda::Sm90Codes::kInt8}) {
    const bool fp8 = format == cuda::Sm90Codes::kFp8E4M3;
    const double max_code = fp8 ? kFp8E4M3Max : kInt8MaxCode;
    for (const int64_t rows : {int64_t{1}, int64_t{45}, int64_t{300}}) {
      const CodeOperands operands =
          CodeOperands::make(format, random_values(rows * in, 51 + rows), rows,
                             random_values(out * in, 52, 0.f, 0.05f), out, in,
                             /*per_tensor_input=*/true);
      std::vector<float> folded = operands.w_scales;
      for (float& scale : folded) scale *= operands.x_scales.front();
      auto folded_gpu = upload_raw(folded);
      std::vector<float> bias = random_values(out, 53, 0.f, 0.5f);
      auto bias_gpu = upload(bias, Precision::kFp16);  // rounds bias to fp16, as the GPU reads it
      std::vector<double> activated(rows * out);
      double largest = 0;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          const double value = operands.scaled_sum(r, o, in) + bias[o];
          activated[r * out + o] = 0.5 * value * (1.0 + std::erf(value / std::sqrt(2.0)));
          largest = std::max(largest, std::abs(activated[r * out + o]));
        }
      }
      const float next_scale = static_cast<float>(largest / max_code * 0.6);  // top 40% saturate
      auto next_scale_gpu = upload_raw(std::vector<float>{next_scale});
      const auto [divisors, multipliers] = code_multipliers(out, next_scale, 54, !fp8);
      auto multipliers_gpu = upload_raw(multipliers);
      for (const ScheduleCase& schedule : kScaledSchedules) {
        auto out_gpu = poisoned(rows * out, 1);
        cuda::Sm90ScaledGemmArgs args = operands.args(rows, out, in, bias_gpu.data(), out_gpu.data());
        // Each format takes its own form of the next scale and refuses the other's.
        args.gelu_codes_scale = static_cast<const float*>(next_scale_gpu.data());
        args.gelu_code_multipliers = static_cast<const float*>(multipliers_gpu.data());
        EXPECT_EQ(cuda::launch_sm90_scaled_gemm(args, workspace_.data(), kWorkspaceBytes, nullptr,
                                                schedule.autotune)
                      .code(),
                  StatusCode::kInvalidArgument);
        (fp8 ? args.gelu_code_multipliers : args.gelu_codes_scale) = nullptr;
        args.schedule = schedule.schedule;
        // Row scales are refused here: the caller must have folded them.
        EXPECT_EQ(cuda::launch_sm90_scaled_gemm(args, workspace_.data(), kWorkspaceBytes, nullptr,
                                                schedule.autotune)
                      .code(),
                  StatusCode::kInvalidArgument);
        args.row_scales = nullptr;
        args.col_scales = static_cast<const float*>(folded_gpu.data());
        const Status status = run_scaled_gemm(args, schedule.autotune);
        ASSERT_TRUE(status.ok()) << status.to_string();
        const std::vector<uint8_t> codes = download<uint8_t>(out_gpu, rows * out);
        size_t exact = 0, saturated = 0;
        for (size_t idx = 0; idx < codes.size(); ++idx) {
          const double target = activated[idx] / next_scale / divisors[idx % out];
          const double clamped = std::clamp(target, -max_code, max_code);
          const double decoded = operands.decode(codes[idx]);
          // FP8: half an E4M3 step (6.25% of the value) plus fast accumulation's error, and a floor
          // for values near zero (subnormal steps). INT8: one step at most (a sum next to a rounding
          // boundary), and never -128.
          const double tolerance = fp8 ? 0.09 * std::abs(clamped) + 0.5 : 1.0;
          ASSERT_NEAR(decoded, clamped, tolerance)
              << format_name(format) << " " << rows << " rows, schedule "
              << static_cast<int>(schedule.schedule) << ", element " << idx;
          const uint8_t want = fp8 ? float_to_fp8_e4m3(static_cast<float>(target))
                                   : static_cast<uint8_t>(quantize_int8_value(
                                         static_cast<float>(activated[idx]), multipliers[idx % out]));
          exact += codes[idx] == want;
          saturated += std::abs(target) > max_code;
        }
        // INT8 codes differ only where fp32 sums land next to a rounding boundary (seen: 99.9%
        // exact). FP8's GELU runs in packed fp16 (gelu_for_codes_x2: fp16 rounding and the tanh
        // form, 4.7e-4 from erf-GELU), which moves a few percent of values across an E4M3 rounding
        // boundary (seen: 96.9-97.8% exact); the tolerance above still holds for every code, and
        // the whole-encoder tests below bound the effect on the outputs.
        std::printf("gelu codes %s, %lld rows, schedule %d: %.4f of codes exact, %zu saturated\n",
                    format_name(format), static_cast<long long>(rows),
                    static_cast<int>(schedule.schedule), static_cast<double>(exact) / codes.size(),
                    saturated);
        EXPECT_GT(static_cast<double>(exact) / codes.size(), fp8 ? 0.95 : 0.97)
            << format_name(format) << " " << rows << " rows, schedule "
            << static_cast<int>(schedule.schedule);
        if (rows > 1) EXPECT_GT(saturated, 0u) << format_name(format);
      }
    }
  }
}

// Unsigned (asymmetric) activation codes times INT8 weights (the FFN-out GEMM of calibrated INT8
// with asymmetric codes): acc * col_scale + bias against a double loop, through every schedule and
// the tuned choice; row scales and GELU codes are refused for this input.
TEST_F(Sm90GemmTest, UnsignedCodesMatchLoop) {
  const int64_t in = 384, out = 208;
  for (const int64_t rows : {int64_t{1}, int64_t{45}, int64_t{300}}) {
    std::mt19937 rng(71 + static_cast<uint32_t>(rows));
    std::uniform_int_distribution<int> code(0, 255);
    std::vector<uint8_t> x_codes(static_cast<size_t>(rows * in));
    for (uint8_t& value : x_codes) value = static_cast<uint8_t>(code(rng));
    auto weights = quantize_int8_per_row(random_values(out * in, 72, 0.f, 0.05f).data(), out, in, "w");
    ASSERT_TRUE(weights.ok());
    std::vector<float> col_scales = weights->scales;
    for (float& scale : col_scales) scale *= 0.01f;  // the input's calibrated scale, folded
    std::vector<float> bias = random_values(out, 73, 0.f, 0.5f);
    auto bias_gpu = upload(bias, Precision::kFp16);
    auto x_gpu = upload_raw(x_codes);
    auto w_gpu = upload_raw(weights->codes);
    auto scales_gpu = upload_raw(col_scales);
    std::vector<double> expected(static_cast<size_t>(rows * out));
    double largest = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < out; ++c) {
        double sum = 0;
        for (int64_t k = 0; k < in; ++k)
          sum += static_cast<double>(x_codes[r * in + k]) * weights->codes[c * in + k];
        expected[r * out + c] = sum * col_scales[c] + bias[c];
        largest = std::max(largest, std::abs(expected[r * out + c]));
      }
    for (const ScheduleCase& schedule : kScaledSchedules) {
      auto out_gpu = poisoned(rows * out, 2);
      cuda::Sm90ScaledGemmArgs args;
      args.codes = cuda::Sm90Codes::kUint8, args.rows = rows, args.cols = out, args.depth = in;
      args.input_codes = x_gpu.data(), args.weight_codes = w_gpu.data();
      args.col_scales = static_cast<const float*>(scales_gpu.data());
      args.bias = bias_gpu.data(), args.out = out_gpu.data();
      args.schedule = schedule.schedule;
      args.row_scales = static_cast<const float*>(scales_gpu.data());
      EXPECT_EQ(cuda::launch_sm90_scaled_gemm(args, workspace_.data(), kWorkspaceBytes, nullptr,
                                              schedule.autotune)
                    .code(),
                StatusCode::kInvalidArgument);
      args.row_scales = nullptr;
      const Status status = run_scaled_gemm(args, schedule.autotune);
      ASSERT_TRUE(status.ok()) << status.to_string();
      const std::vector<float> actual = download_half(out_gpu, rows * out);
      for (size_t idx = 0; idx < expected.size(); ++idx)
        ASSERT_NEAR(actual[idx], expected[idx], 2e-3 * largest + 1e-3 * std::abs(expected[idx]))
            << rows << " rows, schedule " << static_cast<int>(schedule.schedule) << ", element "
            << idx;
    }
  }
}

// The INT8 FFN-in GEMM writing unsigned codes of (gelu - kGeluFloor) x multiplier[c] (0..255), with
// SmoothQuant-like multipliers and a scale that makes the largest saturate, against a double loop
// through every schedule and the tuned choice; unsigned GELU codes are refused for E4M3 inputs.
TEST_F(Sm90GemmTest, UnsignedGeluCodesMatchLoop) {
  const int64_t in = 384, out = 1536;
  for (const int64_t rows : {int64_t{1}, int64_t{45}, int64_t{300}}) {
    const CodeOperands operands =
        CodeOperands::make(cuda::Sm90Codes::kInt8, random_values(rows * in, 81 + rows), rows,
                           random_values(out * in, 82, 0.f, 0.05f), out, in,
                           /*per_tensor_input=*/true);
    std::vector<float> folded = operands.w_scales;
    for (float& scale : folded) scale *= operands.x_scales.front();
    auto folded_gpu = upload_raw(folded);
    std::vector<float> bias = random_values(out, 83, 0.f, 0.5f);
    auto bias_gpu = upload(bias, Precision::kFp16);
    std::vector<double> activated(rows * out);
    double largest = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        const double value = operands.scaled_sum(r, o, in) + bias[o];
        activated[r * out + o] = 0.5 * value * (1.0 + std::erf(value / std::sqrt(2.0)));
        largest = std::max(largest, activated[r * out + o]);
      }
    const double scale = (largest - kGeluFloor) / kInt8AsymmetricMaxCode * 0.6;  // top saturate
    const std::vector<float> multipliers = code_multipliers(out, scale, 84, true).multipliers;
    auto multipliers_gpu = upload_raw(multipliers);
    for (const ScheduleCase& schedule : kScaledSchedules) {
      auto out_gpu = poisoned(rows * out, 1);
      cuda::Sm90ScaledGemmArgs args =
          operands.args(rows, out, in, bias_gpu.data(), out_gpu.data());
      args.row_scales = nullptr;
      args.col_scales = static_cast<const float*>(folded_gpu.data());
      args.gelu_code_multipliers = static_cast<const float*>(multipliers_gpu.data());
      args.gelu_codes_unsigned = true;
      args.schedule = schedule.schedule;
      const Status status = run_scaled_gemm(args, schedule.autotune);
      ASSERT_TRUE(status.ok()) << status.to_string();
      const std::vector<uint8_t> codes = download<uint8_t>(out_gpu, rows * out);
      size_t exact = 0, saturated = 0;
      for (size_t idx = 0; idx < codes.size(); ++idx) {
        const double target = (activated[idx] - kGeluFloor) * multipliers[idx % out];
        const double clamped = std::clamp(target, 0.0, double{kInt8AsymmetricMaxCode});
        // One step at most (a sum next to a rounding boundary, the cheaper erf of the codes).
        ASSERT_NEAR(codes[idx], clamped, 1.0)
            << rows << " rows, schedule " << static_cast<int>(schedule.schedule) << ", element "
            << idx;
        exact += codes[idx] == std::nearbyint(clamped);
        saturated += target > kInt8AsymmetricMaxCode;
      }
      std::printf("unsigned gelu codes, %lld rows, schedule %d: %.4f of codes exact, %zu saturated\n",
                  static_cast<long long>(rows), static_cast<int>(schedule.schedule),
                  static_cast<double>(exact) / codes.size(), saturated);
      EXPECT_GT(static_cast<double>(exact) / codes.size(), 0.97);
      if (rows > 1) EXPECT_GT(saturated, 0u);
    }
  }
  cuda::Sm90ScaledGemmArgs fp8;
  int dummy = 0;
  fp8.codes = cuda::Sm90Codes::kFp8E4M3, fp8.rows = 1, fp8.cols = 16, fp8.depth = 16;
  fp8.input_codes = fp8.weight_codes = fp8.out = &dummy;
  fp8.col_scales = fp8.gelu_codes_scale = reinterpret_cast<const float*>(&dummy);
  fp8.gelu_codes_unsigned = true;
  EXPECT_EQ(cuda::launch_sm90_scaled_gemm(fp8, workspace_.data(), kWorkspaceBytes, nullptr, false)
                .code(),
            StatusCode::kInvalidArgument);
}

// The fp16 / bf16 bias GEMMs, with and without erf-GELU, against a double loop (exact erf),
// through each schedule, the alternative (the encoder's path: cuBLASLt with its bias epilogue; with
// GELU, cuBLASLt then the bias + GELU pass) and the tuned choice among them, at row and column counts
// that leave partial tiles of every schedule.
TEST_F(Sm90GemmTest, BiasGemmMatchesLoop) {
  const int64_t in = 384, out = 1552;
  using cuda::Sm90Schedule;
  for (const bool gelu : {true, false})
  for (const Precision precision : {Precision::kFp16, Precision::kBf16}) {
    auto runner = cuda::GemmRunner::create(precision, workspace_.data(), kWorkspaceBytes);
    ASSERT_TRUE(runner.ok()) << runner.status().to_string();
    for (const int64_t rows : {int64_t{1}, int64_t{45}, int64_t{300}}) {
      std::vector<float> x = random_values(rows * in, 41 + rows);
      std::vector<float> w = random_values(out * in, 42, 0.f, 0.05f);
      std::vector<float> bias = random_values(out, 43, 0.f, 0.5f);
      auto x_gpu = upload(x, precision);
      auto w_gpu = upload(w, precision);
      auto bias_gpu = upload(bias, precision);
      std::vector<float> expected(rows * out);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          double sum = bias[o];
          for (int64_t k = 0; k < in; ++k) sum += static_cast<double>(x[r * in + k]) * w[o * in + k];
          expected[r * out + o] =
              static_cast<float>(gelu ? 0.5 * sum * (1.0 + std::erf(sum / std::sqrt(2.0))) : sum);
        }
      }
      float largest = 0.f;
      for (float value : expected) largest = std::max(largest, std::abs(value));
      const std::vector<Sm90Schedule> schedules =
          gelu ? std::vector<Sm90Schedule>{Sm90Schedule::kCooperative, Sm90Schedule::kPingpong,
                                           Sm90Schedule::kSmall, Sm90Schedule::kAlternative,
                                           Sm90Schedule::kTuned}
               : std::vector<Sm90Schedule>{Sm90Schedule::kSmall, Sm90Schedule::kPingpong,
                                           Sm90Schedule::kAlternative, Sm90Schedule::kTuned};
      for (const Sm90Schedule schedule : schedules) {
        auto out_gpu = poisoned(rows * out, 2);
        cuda::Sm90BiasGemmArgs args;
        args.element = precision == Precision::kFp16 ? cuda::Sm90Element::kFp16 : cuda::Sm90Element::kBf16;
        args.gelu_erf = gelu;
        args.rows = rows, args.cols = out, args.depth = in;
        args.input = x_gpu.data(), args.weight = w_gpu.data(), args.bias = bias_gpu.data();
        args.out = out_gpu.data(), args.schedule = schedule;
        const auto alternative = [&]() -> Status {
          if (!gelu)
            return (*runner)->linear(x_gpu.data(), rows, in, w_gpu.data(), bias_gpu.data(), out,
                                     cuda::GemmEpilogue::kBias, out_gpu.data(), nullptr);
          JN_RETURN_IF_ERROR((*runner)->linear(x_gpu.data(), rows, in, w_gpu.data(), nullptr, out,
                                               cuda::GemmEpilogue::kNone, out_gpu.data(), nullptr));
          return cuda::launch_bias_gelu_erf(precision, out_gpu.data(), bias_gpu.data(), rows, out, nullptr);
        };
        const Status status =
            cuda::launch_sm90_bias_gemm(args, alternative, workspace_.data(), kWorkspaceBytes, nullptr);
        ASSERT_TRUE(status.ok()) << status.to_string();
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::vector<float> actual = precision == Precision::kFp16 ? download_half(out_gpu, rows * out)
                                                                        : download_bf16(out_gpu, rows * out);
        // One rounding of the output (fp16 0.05%, bf16 0.4%); the unfused path rounds the GEMM's sums
        // once more before the bias, which the absolute term covers.
        const float relative = precision == Precision::kFp16 ? 1e-3f : 8e-3f;
        for (size_t idx = 0; idx < expected.size(); ++idx)
          ASSERT_NEAR(actual[idx], expected[idx], 2e-3f * largest + relative * std::abs(expected[idx]))
              << cuda::precision_name(precision) << (gelu ? " GELU " : " ") << rows
              << " rows, schedule " << static_cast<int>(schedule) << ", element " << idx;
        EXPECT_GT(cosine(actual, expected), 0.9999);
      }
    }
  }
}

// Attention writing the next GEMM's codes against the fp16 attention quantised on the host, for
// both formats, the three tensor-core head dims and every mma.sync kernel (each against its own
// fp16 output), with a scale that makes the largest saturate and a multiplier per column
// (1 / (scale x divisor[c]); INT8 with SmoothQuant-like divisors in [0.5, 2], FP8 without);
// batches whose longest sequence is 128 and 200 tokens (kAuto's choice depends on the length).
TEST(AttentionCodes, MatchFp16Attention) {
  JN_SKIP_WITHOUT_GPU();
  const int64_t heads = 4;
  for (const cuda::AttentionKernel kernel :
       {cuda::AttentionKernel::kAuto, cuda::AttentionKernel::kMma, cuda::AttentionKernel::kMmaWide})
  for (const std::vector<int32_t>& offsets :
       {std::vector<int32_t>{0, 37, 100, 228}, std::vector<int32_t>{0, 37, 100, 300}})
  for (const cuda::CodeFormat format : {cuda::CodeFormat::kFp8E4M3, cuda::CodeFormat::kInt8}) {
    const int64_t tokens = offsets.back();
    const int64_t longest = offsets[3] - offsets[2];
    auto offsets_gpu = upload_raw(offsets);
    const bool fp8 = format == cuda::CodeFormat::kFp8E4M3;
    const float max_code = fp8 ? kFp8E4M3Max : static_cast<float>(kInt8MaxCode);
    for (const int64_t head_dim : {int64_t{32}, int64_t{64}, int64_t{128}}) {
      const int64_t hidden = heads * head_dim;
      std::vector<float> qkv = random_values(tokens * 3 * hidden, 61 + head_dim);
      auto qkv_gpu = upload(qkv, Precision::kFp16);
      auto reference_gpu = poisoned(tokens * hidden, 2);
      ASSERT_TRUE(cuda::launch_attention(Precision::kFp16, qkv_gpu.data(),
                                         static_cast<const int32_t*>(offsets_gpu.data()), 3,
                                         longest, heads, head_dim, reference_gpu.data(), nullptr,
                                         kernel)
                      .ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<float> reference = download_half(reference_gpu, tokens * hidden);
      float largest = 0.f;
      for (float value : reference) largest = std::max(largest, std::abs(value));
      const float scale = largest / max_code * 0.8f;  // the largest 20% of the range saturate
      const std::vector<float> multipliers =
          code_multipliers(hidden, scale, 62, !fp8).multipliers;
      auto multipliers_gpu = upload_raw(multipliers);
      auto codes_gpu = poisoned(tokens * hidden, 1);
      const Status status = cuda::launch_attention_codes(
          qkv_gpu.data(), static_cast<const int32_t*>(offsets_gpu.data()), 3, longest, heads,
          head_dim, format, static_cast<uint8_t*>(codes_gpu.data()),
          static_cast<const float*>(multipliers_gpu.data()), nullptr, kernel);
      ASSERT_TRUE(status.ok()) << status.to_string();
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<uint8_t> codes = download<uint8_t>(codes_gpu, tokens * hidden);
      size_t exact = 0;
      for (size_t idx = 0; idx < codes.size(); ++idx) {
        const float target =
            std::clamp(reference[idx] * multipliers[idx % hidden], -max_code, max_code);
        if (fp8) {
          // Half an E4M3 step, plus the fp16 rounding of the reference and the subnormal floor.
          ASSERT_NEAR(fp8_e4m3_to_float(codes[idx]), target, 0.07f * std::abs(target) + 0.02f)
              << "fp8, head_dim " << head_dim << ", longest " << longest << ", element " << idx
              << ", kernel " << static_cast<int>(kernel);
          exact += codes[idx] == float_to_fp8_e4m3(target);
        } else {
          // Half a step, plus the fp16 rounding of the reference (0.05% of 127).
          const int8_t code = static_cast<int8_t>(codes[idx]);
          ASSERT_NEAR(code, target, 0.57f)
              << "int8, head_dim " << head_dim << ", longest " << longest << ", element " << idx
              << ", kernel " << static_cast<int>(kernel);
          exact += code == quantize_int8_value(reference[idx], multipliers[idx % hidden]);
        }
      }
      // The fp16 path rounds before quantising; codes differ only next to rounding boundaries.
      EXPECT_GT(static_cast<double>(exact) / codes.size(), 0.97)
          << (fp8 ? "fp8" : "int8") << ", head_dim " << head_dim << ", longest " << longest
          << ", kernel " << static_cast<int>(kernel);
    }
  }
  const std::vector<int32_t> offsets = {0, 37, 100, 228};
  auto offsets_gpu = upload_raw(offsets);
  int dummy = 0;
  EXPECT_EQ(
      cuda::launch_attention_codes(&dummy, static_cast<const int32_t*>(offsets_gpu.data()), 3, 128,
                                   heads, 64, cuda::CodeFormat::kInt8, nullptr, nullptr, nullptr)
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::launch_attention_codes(&dummy, static_cast<const int32_t*>(offsets_gpu.data()), 3,
                                         128, heads, 16, cuda::CodeFormat::kFp8E4M3,
                                         reinterpret_cast<uint8_t*>(&dummy),
                                         reinterpret_cast<const float*>(&dummy), nullptr)
                .code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(cuda::launch_attention_codes(&dummy, static_cast<const int32_t*>(offsets_gpu.data()), 3,
                                         128, heads, 64, cuda::CodeFormat::kFp8E4M3,
                                         reinterpret_cast<uint8_t*>(&dummy),
                                         reinterpret_cast<const float*>(&dummy), nullptr,
                                         cuda::AttentionKernel::kScalar)
                .code(),
            StatusCode::kUnsupported);
}

// A tuned bias GEMM needs its alternative; a missing bias, a schedule that was not instantiated for
// the kernel and columns that are not a multiple of 16 are refused.
TEST_F(Sm90GemmTest, BiasGemmRefusesMissingOperands) {
  int dummy = 0;
  cuda::Sm90BiasGemmArgs args;
  args.gelu_erf = true;
  args.rows = 4, args.cols = 64, args.depth = 64;
  args.input = &dummy, args.weight = &dummy, args.out = &dummy;
  EXPECT_EQ(cuda::launch_sm90_bias_gemm(args, {}, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
  args.bias = &dummy;
  const Status no_alternative = cuda::launch_sm90_bias_gemm(args, {}, nullptr, 0, nullptr);
  EXPECT_EQ(no_alternative.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_alternative.message().find("alternative"), std::string::npos) << no_alternative.message();
  args.gelu_erf = false;
  args.schedule = cuda::Sm90Schedule::kCooperative;  // instantiated with GELU only
  const Status missing = cuda::launch_sm90_bias_gemm(args, {}, nullptr, 0, nullptr);
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find("cooperative"), std::string::npos) << missing.message();
  args.schedule = cuda::Sm90Schedule::kTuned;
  args.cols = 72;  // not a multiple of 16
  EXPECT_EQ(cuda::launch_sm90_bias_gemm(args, {}, nullptr, 0, nullptr).code(), StatusCode::kUnsupported);
}

// Captured into a CUDA graph (as the encoder runs them), the GEMMs give the eager result bit for bit.
TEST_F(Sm90GemmTest, GraphReplayMatchesEager) {
  const int64_t rows = 200, in = 512, out = 256;
  const CodeOperands operands =
      CodeOperands::make(cuda::Sm90Codes::kFp8E4M3, random_values(rows * in, 31), rows,
                         random_values(out * in, 32, 0.f, 0.05f), out, in);
  std::vector<float> bias = random_values(out, 33);
  auto bias_gpu = upload(bias, Precision::kFp16);
  auto eager = poisoned(rows * out, 2);
  auto replayed = poisoned(rows * out, 2);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cuda::Sm90ScaledGemmArgs args = operands.args(rows, out, in, bias_gpu.data(), eager.data());
  ASSERT_TRUE(cuda::launch_sm90_scaled_gemm(args, workspace_.data(), kWorkspaceBytes, stream).ok());
  args.out = replayed.data();
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const Status captured = cuda::launch_sm90_scaled_gemm(args, workspace_.data(), kWorkspaceBytes, stream);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  ASSERT_TRUE(captured.ok()) << captured.to_string();
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(download<uint16_t>(eager, rows * out), download<uint16_t>(replayed, rows * out));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST_F(Sm90GemmTest, RefusesWhatItCannotRun) {
  cuda::Sm90ScaledGemmArgs args;
  int dummy = 0;
  args.rows = 4, args.cols = 100, args.depth = 64;  // 100 columns: not a multiple of 16
  args.input_codes = &dummy, args.weight_codes = &dummy, args.out = &dummy;
  args.row_scales = reinterpret_cast<const float*>(&dummy), args.col_scales = args.row_scales;
  EXPECT_EQ(cuda::launch_sm90_scaled_gemm(args, nullptr, 0, nullptr).code(), StatusCode::kUnsupported);
  args.cols = 96;
  args.col_scales = nullptr;
  EXPECT_EQ(cuda::launch_sm90_scaled_gemm(args, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
  args.col_scales = args.row_scales;
  args.schedule = cuda::Sm90Schedule::kAlternative;  // the code GEMMs have no alternative path
  EXPECT_EQ(cuda::launch_sm90_scaled_gemm(args, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
  args.schedule = cuda::Sm90Schedule::kTuned;
  args.out = nullptr;
  EXPECT_EQ(cuda::launch_sm90_scaled_gemm(args, nullptr, 0, nullptr).code(), StatusCode::kInvalidArgument);
}

// ---- whole encoders ----

RandomModelShape bert_like_shape() {
  RandomModelShape shape;  // head_dim 64 (tensor-core attention), erf-GELU, a classifier
  shape.hidden_size = 256;
  shape.num_heads = 4;
  shape.intermediate_size = 1024;
  shape.num_layers = 3;
  shape.head = HeadKind::kSequenceClassification;
  shape.num_labels = 4;
  shape.pooling = {true, PoolingMode::kMean, true};
  return shape;
}

const std::vector<int64_t> kLengths = {1, 9, 70, 130, 33, 200, 64, 17};

Result<ForwardResult> run_cpu(const RandomModel& model, const PackedBatch& batch,
                              const CpuEncoderOptions& options) {
  auto encoder = make_cpu_encoder(model.config, model.weights, nullptr, options);
  if (!encoder.ok()) return encoder.status();
  return (*encoder)->forward(batch, ForwardRequest{true, true, true});
}

Result<ForwardResult> run_gpu(const RandomModel& model, const PackedBatch& batch,
                              const CudaEncoderOptions& options) {
  auto encoder = make_cuda_encoder(model.config, model.weights, options);
  if (!encoder.ok()) return encoder.status();
  Result<ForwardResult> result = internal_error("not run");
  for (int run = 0; run < 3; ++run) {  // eager, capture, replay: all must give the same answer
    auto current = (*encoder)->forward(batch, ForwardRequest{true, true, true});
    if (!current.ok()) return current.status();
    if (run > 0) {
      const auto& a = result->hidden_states;
      const auto& b = current->hidden_states;
      if (std::memcmp(a.data_as<float>(), b.data_as<float>(), a.numel() * sizeof(float)) != 0)
        return internal_error("graph replay differs from the eager run");
    }
    result = std::move(current);
  }
  return result;
}

std::vector<float> as_vector(const Tensor& tensor) {
  return std::vector<float>(tensor.data_as<float>(), tensor.data_as<float>() + tensor.numel());
}

double min_row_cosine(const Tensor& a, const Tensor& b) {
  double worst = 1.0;
  const int64_t rows = a.dim(0), cols = a.dim(1);
  for (int64_t row = 0; row < rows; ++row) {
    std::vector<float> x(a.data_as<float>() + row * cols, a.data_as<float>() + (row + 1) * cols);
    std::vector<float> y(b.data_as<float>() + row * cols, b.data_as<float>() + (row + 1) * cols);
    worst = std::min(worst, cosine(x, y));
  }
  return worst;
}

ActivationCalibration calibrate(const RandomModel& model) {
  auto calibration = calibrate_random_model(model);
  EXPECT_TRUE(calibration.ok()) << calibration.status().to_string();
  return std::move(calibration).value();
}

class QuantizedEncoderTest : public ::testing::Test {
 protected:
  void SetUp() override { JN_SKIP_WITHOUT_GPU(); }
};

// Accuracy against FP32 (the quantisation error itself) for both formats and every activation.
TEST_F(QuantizedEncoderTest, CloseToFp32) {
  for (const Activation activation :
       {Activation::kGeluErf, Activation::kGeluTanh, Activation::kRelu}) {
    RandomModelShape shape = bert_like_shape();
    shape.activation = activation;
    const RandomModel model = make_random_model(shape, 77);
    const PackedBatch batch = make_random_batch(model.config, kLengths, 3);
    auto reference = run_cpu(model, batch, CpuEncoderOptions{});
    ASSERT_TRUE(reference.ok()) << reference.status().to_string();
    for (const LinearFormat format : {LinearFormat::kFp8, LinearFormat::kInt8}) {
      CudaEncoderOptions options;
      ASSERT_TRUE(apply_precision_name(cuda::linear_format_name(format), options).ok());
      options.max_batch_tokens = 1024;
      auto actual = run_gpu(model, batch, options);
      ASSERT_TRUE(actual.ok()) << actual.status().to_string();
      const std::string what = std::string(cuda::linear_format_name(format)) + " activation " +
                               std::to_string(static_cast<int>(activation));
      const double hidden =
          cosine(as_vector(actual->hidden_states), as_vector(reference->hidden_states));
      const double pooled = min_row_cosine(actual->embeddings, reference->embeddings);
      std::printf("%s: hidden cosine %.6f, worst embedding cosine %.6f\n", what.c_str(), hidden,
                  pooled);
      // The formats' own error on these random models (H200): E4M3's 3 mantissa bits give ~0.998,
      // INT8 per channel / per token ~0.9998. The arithmetic itself is checked against CPU paths
      // over the same codes (the GEMM and row epilogue tests, Int8MatchesCpuInt8).
      const double bar = format == LinearFormat::kFp8 ? 0.997 : 0.9995;
      EXPECT_GT(hidden, bar) << what;
      EXPECT_GT(pooled, bar - 0.001) << what;
    }
  }
}

// The GPU INT8 path against the CPU INT8 path: same per-channel weights, per-token activations (or
// calibrated scales, with SmoothQuant or without: attention and the FFN-in GEMM then write the next
// GEMM's codes themselves, divided by the SmoothQuant divisors where there are some, the FFN-out
// input's asymmetric unless asked otherwise), so the only differences are fp16 activations and
// rounding. The plan records the asymmetric input (`_input_floor`) and the key says so.
TEST_F(QuantizedEncoderTest, Int8MatchesCpuInt8) {
  const RandomModel model = make_random_model(bert_like_shape(), 78);
  const PackedBatch batch = make_random_batch(model.config, kLengths, 4);
  const ActivationCalibration calibration = calibrate(model);
  for (const char* mode : {"dynamic", "calibrated + SmoothQuant", "calibrated",
                           "calibrated, symmetric FFN codes"}) {
    const std::string name = mode;
    CpuEncoderOptions cpu_options;
    cpu_options.precision = justnews::Precision::kInt8;
    CudaEncoderOptions gpu_options;
    gpu_options.linear_format = LinearFormat::kInt8;
    gpu_options.max_batch_tokens = 1024;
    if (name != "dynamic") {
      cpu_options.calibration = gpu_options.calibration = &calibration;
      cpu_options.static_activation_scales = gpu_options.static_activation_scales = true;
    }
    if (name == "calibrated + SmoothQuant")
      cpu_options.smoothquant_alpha = gpu_options.smoothquant_alpha = 0.5f;
    // The GPU's per-token codes are symmetric (its row epilogue); calibrated ones are asymmetric
    // for the FFN-out input by default, as on the CPU.
    if (name == "dynamic" || name == "calibrated, symmetric FFN codes")
      cpu_options.int8_asymmetric_ffn_codes = gpu_options.int8_asymmetric_ffn_codes = false;
    auto cpu = run_cpu(model, batch, cpu_options);
    auto gpu = run_gpu(model, batch, gpu_options);
    ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    const double hidden = cosine(as_vector(gpu->hidden_states), as_vector(cpu->hidden_states));
    std::printf("int8 %s: GPU vs CPU int8 hidden cosine %.7f\n", mode, hidden);
    // Codes flip by one step where fp16 rounding of the input crosses a rounding boundary, so the
    // two INT8 paths differ by a fraction of the quantisation noise, not by nothing.
    EXPECT_GT(hidden, 0.9995) << mode;
    EXPECT_GT(min_row_cosine(gpu->embeddings, cpu->embeddings), 0.9995) << mode;
  }
  CudaEncoderOptions options;
  options.linear_format = LinearFormat::kInt8;
  options.max_batch_tokens = 1024;
  options.calibration = &calibration;
  options.static_activation_scales = true;
  const PlanKey key = cuda_plan_key("model-hash", CudaDeviceIdentity{"gpu", "9.0"}, options);
  EXPECT_NE(key.build_options.find("asymmetric_ffn_codes=1"), std::string::npos);
  EXPECT_NE(key.build_options.find("static_clip=searched"), std::string::npos);
  auto plan = build_cuda_plan(model.config, model.weights, options, key);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_NE(plan->find("layer.0.ffn_out_input_floor"), nullptr);
  EXPECT_EQ(plan->find("layer.0.qkv_input_floor"), nullptr);
  // Only the calibrated codes path writes unsigned codes: the scalar attention kernel cannot.
  CudaEncoderOptions scalar_attention;
  scalar_attention.attention_kernel = cuda::AttentionKernel::kScalar;
  auto refused = make_cuda_encoder(*plan, scalar_attention);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(refused.status().message().find("asymmetric FFN codes"), std::string::npos);
}

TEST_F(QuantizedEncoderTest, CalibratedFp8AndPlanRoundTrip) {
  const RandomModel model = make_random_model(bert_like_shape(), 79);
  const PackedBatch batch = make_random_batch(model.config, kLengths, 5);
  const ActivationCalibration calibration = calibrate(model);
  auto reference = run_cpu(model, batch, CpuEncoderOptions{});
  ASSERT_TRUE(reference.ok());
  CudaEncoderOptions options;
  ASSERT_TRUE(apply_precision_name("fp8", options).ok());
  EXPECT_EQ(options.precision, Precision::kFp16);
  options.max_batch_tokens = 1024;
  options.calibration = &calibration;
  options.static_activation_scales = true;
  const PlanKey key = cuda_plan_key("model-hash", CudaDeviceIdentity{"gpu", "9.0"}, options);
  EXPECT_EQ(key.precision, "fp8");
  EXPECT_NE(key.build_options.find("static_activation_scales=1"), std::string::npos);
  EXPECT_EQ(key.build_options.find("static_clip"), std::string::npos);  // FP8 keeps the percentile
  auto plan = build_cuda_plan(model.config, model.weights, options, key);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_NE(plan->find("layer.0.qkv_input_scale"), nullptr);
  ASSERT_NE(plan->find("layer.2.ffn_out_weight_scale"), nullptr);
  const std::string path = (std::filesystem::temp_directory_path() / "jn_fp8_plan.jnplan").string();
  ASSERT_TRUE(write_engine_plan(*plan, path).ok());
  auto reread = read_engine_plan(path);
  ASSERT_TRUE(reread.ok()) << reread.status().to_string();
  std::filesystem::remove(path);
  auto from_memory = make_cuda_encoder(*plan, CudaEncoderOptions{});
  auto from_file = make_cuda_encoder(*reread, CudaEncoderOptions{});
  ASSERT_TRUE(from_memory.ok() && from_file.ok());
  auto a = (*from_memory)->forward(batch, ForwardRequest{true, true, true});
  auto b = (*from_file)->forward(batch, ForwardRequest{true, true, true});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(std::memcmp(a->hidden_states.data_as<float>(), b->hidden_states.data_as<float>(),
                        a->hidden_states.numel() * sizeof(float)),
            0);
  EXPECT_EQ((*from_file)->backend_name(), "cuda-fp8");
  const double hidden = cosine(as_vector(a->hidden_states), as_vector(reference->hidden_states));
  std::printf("fp8 calibrated: hidden cosine vs fp32 %.6f\n", hidden);
  EXPECT_GT(hidden, 0.997);  // E4M3's own error (0.998 measured on the H200)
}

// 4-bit weight-only: the GPU decodes the same codes as the CPU's weight-only path, so the two agree
// up to fp16 activations — for a large batch (decode into scratch + GEMM) and a small one (decode
// in registers) — and both stay close to FP32.
TEST_F(QuantizedEncoderTest, FourBitMatchesCpuOnBothPaths) {
  const RandomModel model = make_random_model(bert_like_shape(), 82);
  for (const LinearFormat format : {LinearFormat::kInt4, LinearFormat::kNf4}) {
    for (const bool small : {false, true}) {
      const PackedBatch batch = small ? make_random_batch(model.config, {3, 5}, 6)
                                      : make_random_batch(model.config, kLengths, 6);
      CpuEncoderOptions cpu_options;
      cpu_options.precision =
          format == LinearFormat::kInt4 ? justnews::Precision::kInt4 : justnews::Precision::kNf4;
      cpu_options.group_size = 64;
      CudaEncoderOptions gpu_options;
      gpu_options.linear_format = format;
      gpu_options.int4_group_size = 64;
      gpu_options.max_batch_tokens = 1024;
      auto cpu = run_cpu(model, batch, cpu_options);
      auto fp32 = run_cpu(model, batch, CpuEncoderOptions{});
      auto gpu = run_gpu(model, batch, gpu_options);
      ASSERT_TRUE(cpu.ok() && fp32.ok()) << cpu.status().to_string();
      ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
      const std::string what =
          std::string(cuda::linear_format_name(format)) + (small ? " small" : " large");
      const double same_codes =
          cosine(as_vector(gpu->hidden_states), as_vector(cpu->hidden_states));
      const double vs_fp32 = cosine(as_vector(gpu->hidden_states), as_vector(fp32->hidden_states));
      std::printf("%s batch: vs CPU %s %.7f, vs fp32 %.6f\n", what.c_str(),
                  cuda::linear_format_name(format), same_codes, vs_fp32);
      EXPECT_GT(same_codes, 0.9999) << what;
      EXPECT_GT(vs_fp32, 0.975) << what;  // 16 levels per group: 0.980-0.988 measured on the H200
    }
  }
  CudaEncoderOptions too_coarse;
  too_coarse.linear_format = LinearFormat::kInt4;
  too_coarse.int4_group_size = 512;  // longer than hidden_size 256
  EXPECT_FALSE(make_cuda_encoder(model.config, model.weights, too_coarse).ok());
}

// The INT8 weight-only decode is dequantize_int8's float product, rounded once to the output type,
// bit for bit, and writes nothing past the matrix.
TEST(Int8WeightDecode, IsTheCpuDecodeBitForBit) {
  JN_SKIP_WITHOUT_GPU();
  uint32_t seed = 300;
  for (const auto& [rows, columns] : std::vector<std::pair<int64_t, int64_t>>{{7, 96}, {2304, 768}}) {
    const std::vector<float> values = random_values(static_cast<size_t>(rows * columns), ++seed);
    auto matrix = quantize_int8_per_row(values.data(), rows, columns, "w");
    ASSERT_TRUE(matrix.ok());
    const std::vector<float> expected = dequantize_int8(*matrix);
    cuda::DeviceBuffer codes = upload_raw(matrix->codes);
    cuda::DeviceBuffer scales = upload_raw(matrix->scales);
    for (const Precision precision : {Precision::kFp16, Precision::kBf16, Precision::kFp32}) {
      const size_t count = expected.size(), guard = 64;
      auto out = poisoned(count + guard, cuda::precision_size_bytes(precision));
      ASSERT_TRUE(cuda::launch_int8_dequantize(precision, static_cast<const int8_t*>(codes.data()),
                                               static_cast<const float*>(scales.data()), rows,
                                               columns, out.data(), nullptr)
                      .ok());
      const std::vector<float> got = testing::download(out, precision, count + guard);
      size_t mismatches = 0;
      for (size_t idx = 0; idx < count; ++idx) {
        const float want = round_to(precision, expected[idx]);
        if (std::memcmp(&want, &got[idx], sizeof(float)) != 0 && ++mismatches <= 5)
          ADD_FAILURE() << cuda::precision_name(precision) << " [" << idx / columns << ", "
                        << idx % columns << "]: gpu " << got[idx] << ", cpu " << want;
      }
      EXPECT_EQ(mismatches, 0u);
      for (size_t idx = count; idx < count + guard; ++idx)
        ASSERT_TRUE(std::isnan(got[idx])) << "wrote past the end at " << idx;
    }
    const auto refused = cuda::launch_int8_dequantize(
        Precision::kFp16, static_cast<const int8_t*>(codes.data()),
        static_cast<const float*>(scales.data()), rows, columns - 4, codes.data(), nullptr);
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.message().find("multiple of 8"), std::string::npos) << refused.message();
  }
}

// INT8 weight-only: the GPU decodes the CPU's codes (round-to-nearest, or GPTQ from the
// calibration's Gram matrices) before an ordinary GEMM, so GPU and CPU agree up to the activation
// precision, both stay close to FP32, and GPTQ plans have keys of their own.
TEST_F(QuantizedEncoderTest, Int8WeightOnlyMatchesCpuWithAndWithoutGptq) {
  const RandomModel model = make_random_model(bert_like_shape(), 83);
  auto calibration = calibrate_random_model(model, /*gram=*/true);
  ASSERT_TRUE(calibration.ok()) << calibration.status().to_string();
  for (const bool small : {false, true}) {
    const PackedBatch batch = small ? make_random_batch(model.config, {3, 5}, 7)
                                    : make_random_batch(model.config, kLengths, 7);
    auto reference = run_cpu(model, batch, CpuEncoderOptions{});
    ASSERT_TRUE(reference.ok()) << reference.status().to_string();
    for (const bool gptq : {false, true}) {
      {
        const Precision activations = Precision::kFp16;
        CpuEncoderOptions cpu_options;
        cpu_options.precision = justnews::Precision::kInt8WeightOnly;
        cpu_options.calibration = &*calibration;
        cpu_options.gptq = gptq;
        CudaEncoderOptions gpu_options;
        gpu_options.linear_format = LinearFormat::kInt8WeightOnly;
        gpu_options.precision = activations;
        gpu_options.calibration = &*calibration;
        gpu_options.gptq = gptq;
        gpu_options.max_batch_tokens = 1024;
        auto cpu = run_cpu(model, batch, cpu_options);
        auto gpu = run_gpu(model, batch, gpu_options);
        ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
        ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
        const std::string what = std::string(gptq ? "gptq" : "round-to-nearest") + ", " +
                                 cuda::precision_name(activations) + (small ? ", small" : ", large");
        const double same_codes =
            cosine(as_vector(gpu->hidden_states), as_vector(cpu->hidden_states));
        const double vs_fp32 =
            cosine(as_vector(gpu->hidden_states), as_vector(reference->hidden_states));
        std::printf("int8-weight-only %s: vs CPU %.7f, vs fp32 %.7f\n", what.c_str(), same_codes,
                    vs_fp32);
        EXPECT_GT(same_codes, 0.99995) << what;
        EXPECT_GT(vs_fp32, 0.999) << what;
      }
    }
  }
  CudaEncoderOptions options;
  options.linear_format = LinearFormat::kInt8WeightOnly;
  options.calibration = &*calibration;
  const PlanKey with_gptq = cuda_plan_key("m", CudaDeviceIdentity{"gpu", "9.0"}, options);
  options.gptq = false;
  const PlanKey without = cuda_plan_key("m", CudaDeviceIdentity{"gpu", "9.0"}, options);
  EXPECT_NE(with_gptq.build_options.find("gptq=1"), std::string::npos) << with_gptq.build_options;
  EXPECT_EQ(without.build_options.find("gptq"), std::string::npos) << without.build_options;
  EXPECT_EQ(with_gptq.precision, "int8-weight-only");
  for (const Precision activations : {Precision::kFp32, Precision::kBf16}) {
    options.precision = activations;  // the plan's name stands for fp16 activations
    EXPECT_EQ(make_cuda_encoder(model.config, model.weights, options).status().code(),
              StatusCode::kUnsupported);
  }
}

TEST_F(QuantizedEncoderTest, RefusesWhatItCannotRun) {
  const RandomModel model = make_random_model(bert_like_shape(), 80);
  CudaEncoderOptions options;
  options.linear_format = LinearFormat::kInt8;
  options.precision = Precision::kFp32;
  EXPECT_EQ(make_cuda_encoder(model.config, model.weights, options).status().code(),
            StatusCode::kUnsupported);
  options.precision = Precision::kFp16;
  options.static_activation_scales = true;  // without a calibration
  EXPECT_EQ(make_cuda_encoder(model.config, model.weights, options).status().code(),
            StatusCode::kInvalidArgument);
  ActivationCalibration wrong;  // no layers
  options.calibration = &wrong;
  EXPECT_FALSE(make_cuda_encoder(model.config, model.weights, options).ok());
  RandomModelShape odd = bert_like_shape();
  odd.hidden_size = 72;  // not a multiple of 16
  odd.num_heads = 9;
  odd.intermediate_size = 288;
  const RandomModel odd_model = make_random_model(odd, 81);
  CudaEncoderOptions fp8;
  fp8.linear_format = LinearFormat::kFp8;
  fp8.precision = Precision::kBf16;
  EXPECT_EQ(make_cuda_encoder(model.config, model.weights, fp8).status().code(),
            StatusCode::kUnsupported)
      << "fp8 with bf16 activations";
  fp8.precision = Precision::kFp16;
  const Status refused = make_cuda_encoder(odd_model.config, odd_model.weights, fp8).status();
  EXPECT_EQ(refused.code(), StatusCode::kUnsupported);
  EXPECT_NE(refused.message().find("multiples of 16"), std::string::npos) << refused.message();
  CudaEncoderOptions named;
  EXPECT_TRUE(apply_precision_name("nf4", named).ok());
  EXPECT_EQ(named.linear_format, LinearFormat::kNf4);
  EXPECT_EQ(apply_precision_name("int3", named).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace justnews::testing
