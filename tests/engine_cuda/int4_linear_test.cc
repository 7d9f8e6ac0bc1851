// INT4 / NF4 weight-only kernels against the CPU quantiser: the blob layout, GPU dequantisation
// (bit-exact with dequantize_int4 after rounding to the output type), the small-batch linear
// against a double-precision loop over the CPU-decoded weights (every epilogue), the large-batch
// path (dequantise + cuBLASLt), and the arguments every launcher must refuse. Layout and argument
// tests need no GPU; the rest skip without one.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "engine/cuda/gemm_cublaslt.h"
#include "engine/cuda/int4_linear_cuda.h"
#include "quant/int4_quant.h"

namespace justnews::testing {
namespace {

using cuda::Int4Epilogue;
using cuda::Precision;

struct Shape {
  int64_t rows, columns;
};

// BERT-base's linear shapes and small ones with odd row counts and spans of 128 columns cut short.
const std::vector<Shape> kShapes = {{768, 768}, {3072, 768}, {768, 3072}, {1, 128},
                                    {13, 384},  {37, 640},   {5, 256},    {24, 1152}};
const std::vector<Shape> kGroup64Shapes = {{3, 64}, {11, 192}, {9, 320}, {40, 448}};

Int4Matrix make_matrix(int64_t rows, int64_t columns, int64_t group_size, Int4Format format,
                       uint32_t seed) {
  const std::vector<float> values = random_values(rows * columns, seed, 0.f, 0.05f);
  auto matrix = quantize_int4(values.data(), rows, columns, group_size, format, "test weight");
  EXPECT_TRUE(matrix.ok()) << matrix.status().to_string();
  return std::move(matrix).value();
}

// A matrix uploaded as one blob, with its device view.
struct UploadedWeight {
  cuda::DeviceBuffer blob;
  cuda::DeviceInt4Weight weight;
};

UploadedWeight upload_weight(const Int4Matrix& matrix) {
  std::vector<uint8_t> blob;
  auto layout = cuda::append_int4_weight(matrix, "test weight", blob);
  EXPECT_TRUE(layout.ok()) << layout.status().to_string();
  UploadedWeight uploaded{upload_raw(blob), {}};
  auto weight = cuda::make_device_int4_weight(uploaded.blob.data(), *layout);
  EXPECT_TRUE(weight.ok()) << weight.status().to_string();
  uploaded.weight = *weight;
  return uploaded;
}

const char* format_name(Int4Format format) { return format == Int4Format::kInt4 ? "int4" : "nf4"; }

bool has_bias(Int4Epilogue epilogue) { return epilogue != Int4Epilogue::kNone; }

double apply_epilogue(double value, Int4Epilogue epilogue) {
  switch (epilogue) {
    case Int4Epilogue::kBiasGeluErf: return 0.5 * value * (1.0 + std::erf(value / std::sqrt(2.0)));
    case Int4Epilogue::kBiasGeluTanh:
      return 0.5 * value *
             (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (value + 0.044715 * value * value * value)));
    case Int4Epilogue::kBiasRelu: return std::max(value, 0.0);
    default: return value;
  }
}

// Relative rounding unit of the output type.
double unit_roundoff(Precision precision) {
  return precision == Precision::kFp16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
}

// ---- layout (no GPU) ------------------------------------------------------------------------

TEST(Int4BlobLayout, PartsAreAlignedAndHoldTheMatrix) {
  const Int4Matrix first = make_matrix(13, 384, 128, Int4Format::kInt4, 1);
  const Int4Matrix second = make_matrix(600, 256, 64, Int4Format::kNf4, 2);  // 2400 groups: 10 blocks
  std::vector<uint8_t> blob(5, 0xAB);  // something already in the blob, not aligned
  auto first_layout = cuda::append_int4_weight(first, "first", blob);
  ASSERT_TRUE(first_layout.ok()) << first_layout.status().to_string();
  auto second_layout = cuda::append_int4_weight(second, "second", blob);
  ASSERT_TRUE(second_layout.ok()) << second_layout.status().to_string();
  EXPECT_EQ(blob[0], 0xAB);
  for (const auto* layout : {&*first_layout, &*second_layout}) {
    EXPECT_EQ(layout->packed_offset_bytes % 256, 0u);
    EXPECT_EQ(layout->scale_codes_offset_bytes % 256, 0u);
    EXPECT_EQ(layout->block_scales_offset_bytes % 256, 0u);
  }
  EXPECT_GE(first_layout->packed_offset_bytes, 5u);
  EXPECT_GE(second_layout->packed_offset_bytes, first_layout->end_offset_bytes);
  EXPECT_EQ(blob.size(), second_layout->end_offset_bytes);
  for (const auto& [matrix, layout] : {std::pair{&first, *first_layout}, std::pair{&second, *second_layout}}) {
    EXPECT_EQ(layout.rows, matrix->rows);
    EXPECT_EQ(layout.columns, matrix->columns);
    EXPECT_EQ(layout.group_size, matrix->group_size);
    EXPECT_EQ(layout.format, matrix->format);
    EXPECT_EQ(layout.scale_offset, matrix->scales.offset);
    EXPECT_EQ(0, std::memcmp(blob.data() + layout.packed_offset_bytes, matrix->packed.data(),
                             matrix->packed.size()));
    EXPECT_EQ(0, std::memcmp(blob.data() + layout.scale_codes_offset_bytes,
                             matrix->scales.codes.data(), matrix->scales.codes.size()));
    EXPECT_EQ(0, std::memcmp(blob.data() + layout.block_scales_offset_bytes,
                             matrix->scales.block_scales.data(),
                             matrix->scales.block_scales.size() * sizeof(float)));
  }
  EXPECT_EQ(second.scales.block_scales.size(), 10u);
  // The layout alone places the matrix where appending would.
  auto planned = cuda::int4_blob_layout(first, 5, "first");
  ASSERT_TRUE(planned.ok());
  EXPECT_EQ(planned->packed_offset_bytes, first_layout->packed_offset_bytes);
  EXPECT_EQ(planned->end_offset_bytes, first_layout->end_offset_bytes);
}

TEST(Int4BlobLayout, RefusesInconsistentMatricesNamingThem) {
  const Int4Matrix good = make_matrix(4, 256, 64, Int4Format::kInt4, 3);
  auto expect_error = [](const Int4Matrix& matrix, StatusCode code, const std::string& words) {
    std::vector<uint8_t> blob(7, 1);
    auto layout = cuda::append_int4_weight(matrix, "layer.3.ffn", blob);
    ASSERT_FALSE(layout.ok());
    EXPECT_EQ(layout.status().code(), code) << layout.status().to_string();
    EXPECT_NE(layout.status().message().find("layer.3.ffn"), std::string::npos)
        << layout.status().message();
    EXPECT_NE(layout.status().message().find(words), std::string::npos) << layout.status().message();
    EXPECT_EQ(blob.size(), 7u);  // untouched
  };
  Int4Matrix short_packed = good;
  short_packed.packed.pop_back();
  expect_error(short_packed, StatusCode::kInvalidArgument, "packed codes hold 511 bytes; expected 512");
  Int4Matrix missing_codes = good;
  missing_codes.scales.codes.resize(3);
  expect_error(missing_codes, StatusCode::kInvalidArgument, "3 scale codes; expected 16");
  Int4Matrix extra_blocks = good;
  extra_blocks.scales.block_scales.push_back(1.f);
  expect_error(extra_blocks, StatusCode::kInvalidArgument, "2 block scales; expected 1");
  Int4Matrix odd_group = make_matrix(4, 240, 48, Int4Format::kInt4, 4);
  expect_error(odd_group, StatusCode::kUnsupported, "multiple of 32");
  Int4Matrix bad_group = good;
  bad_group.group_size = 96;  // does not divide 256
  expect_error(bad_group, StatusCode::kInvalidArgument, "does not divide");
  Int4Matrix empty = good;
  empty.rows = 0;
  expect_error(empty, StatusCode::kInvalidArgument, "is empty");
}

TEST(Int4DeviceWeight, RefusesBadBasePointers) {
  const Int4Matrix matrix = make_matrix(8, 128, 64, Int4Format::kNf4, 5);
  std::vector<uint8_t> blob;
  auto layout = cuda::append_int4_weight(matrix, "w", blob);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(cuda::make_device_int4_weight(nullptr, *layout).status().code(),
            StatusCode::kInvalidArgument);
  alignas(256) static uint8_t host_bytes[1024];
  auto misaligned = cuda::make_device_int4_weight(host_bytes + 16, *layout);
  ASSERT_FALSE(misaligned.ok());
  EXPECT_NE(misaligned.status().message().find("256-byte"), std::string::npos);
  cuda::Int4BlobLayout shifted = *layout;
  shifted.scale_codes_offset_bytes += 8;
  EXPECT_FALSE(cuda::make_device_int4_weight(host_bytes, shifted).ok());
  auto good = cuda::make_device_int4_weight(host_bytes, *layout);
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_EQ(good->packed, host_bytes + layout->packed_offset_bytes);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(good->block_scales),
            host_bytes + layout->block_scales_offset_bytes);
}

// ---- argument checks (no GPU: every refusal comes before a launch) ----------------------------

class Int4ArgumentTest : public ::testing::Test {
 protected:
  // Fake but aligned addresses: the launchers must refuse before touching them.
  alignas(256) static inline uint8_t storage_[4096];
  cuda::DeviceInt4Weight weight() const {
    cuda::DeviceInt4Weight weight;
    weight.format = Int4Format::kInt4;
    weight.rows = 64;
    weight.columns = 256;
    weight.group_size = 128;
    weight.packed = storage_;
    weight.scale_codes = reinterpret_cast<const int8_t*>(storage_ + 1024);
    weight.block_scales = reinterpret_cast<const float*>(storage_ + 2048);
    return weight;
  }
  void* input() const { return storage_ + 256; }
  void* out() const { return storage_ + 512; }
  void* bias() const { return storage_ + 768; }
};

void expect_refused(const Status& status, StatusCode code, const std::string& words) {
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), code) << status.to_string();
  EXPECT_NE(status.message().find(words), std::string::npos) << status.message();
}

TEST_F(Int4ArgumentTest, LinearRefusesBadArguments) {
  const auto linear = [&](Precision precision, const void* in, int64_t m,
                          const cuda::DeviceInt4Weight& w, const void* b, Int4Epilogue epilogue,
                          void* o) {
    return cuda::launch_int4_linear(precision, in, m, w, b, epilogue, o, nullptr);
  };
  expect_refused(linear(Precision::kFp16, input(), 17, weight(), nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "m = 17");
  expect_refused(linear(Precision::kFp16, input(), 0, weight(), nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "m = 0");
  EXPECT_EQ(cuda::int4_small_batch_limit(), 16);
  expect_refused(linear(Precision::kFp32, input(), 4, weight(), nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kUnsupported, "fp32");
  expect_refused(linear(Precision::kFp16, nullptr, 4, weight(), nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "input pointer is null");
  expect_refused(linear(Precision::kBf16, input(), 4, weight(), nullptr, Int4Epilogue::kNone, nullptr),
                 StatusCode::kInvalidArgument, "output pointer is null");
  expect_refused(linear(Precision::kFp16, static_cast<uint8_t*>(input()) + 2, 4, weight(), nullptr,
                        Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "16-byte aligned");
  expect_refused(linear(Precision::kFp16, input(), 4, weight(), nullptr, Int4Epilogue::kBiasGeluErf, out()),
                 StatusCode::kInvalidArgument, "bias pointer is null");
  expect_refused(linear(Precision::kFp16, input(), 4, weight(), bias(), Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "kNone");
  expect_refused(linear(Precision::kFp16, input(), 4, weight(), bias(), static_cast<Int4Epilogue>(42), out()),
                 StatusCode::kInvalidArgument, "unknown epilogue");
  cuda::DeviceInt4Weight no_codes = weight();
  no_codes.scale_codes = nullptr;
  expect_refused(linear(Precision::kFp16, input(), 4, no_codes, nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "null pointer");
  cuda::DeviceInt4Weight small_group = weight();
  small_group.group_size = 16;
  expect_refused(linear(Precision::kFp16, input(), 4, small_group, nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kUnsupported, "group size 16");
  cuda::DeviceInt4Weight ragged = weight();
  ragged.columns = 320;  // not a multiple of the group size 128
  expect_refused(linear(Precision::kFp16, input(), 4, ragged, nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kUnsupported, "320 columns");
  cuda::DeviceInt4Weight empty = weight();
  empty.rows = 0;
  expect_refused(linear(Precision::kFp16, input(), 4, empty, nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "is empty");
  cuda::DeviceInt4Weight misaligned = weight();
  misaligned.packed = storage_ + 8;
  expect_refused(linear(Precision::kFp16, input(), 4, misaligned, nullptr, Int4Epilogue::kNone, out()),
                 StatusCode::kInvalidArgument, "16-byte aligned");
}

TEST_F(Int4ArgumentTest, DequantizeRefusesBadArguments) {
  expect_refused(cuda::launch_int4_dequantize(Precision::kFp16, weight(), nullptr, nullptr),
                 StatusCode::kInvalidArgument, "output pointer is null");
  expect_refused(cuda::launch_int4_dequantize(Precision::kFp16, weight(),
                                              static_cast<uint8_t*>(out()) + 4, nullptr),
                 StatusCode::kInvalidArgument, "16-byte aligned");
  cuda::DeviceInt4Weight no_packed = weight();
  no_packed.packed = nullptr;
  expect_refused(cuda::launch_int4_dequantize(Precision::kBf16, no_packed, out(), nullptr),
                 StatusCode::kInvalidArgument, "null pointer");
  cuda::DeviceInt4Weight bad_group = weight();
  bad_group.group_size = 0;
  expect_refused(cuda::launch_int4_dequantize(Precision::kFp32, bad_group, out(), nullptr),
                 StatusCode::kUnsupported, "group size 0");
}

// ---- GPU ------------------------------------------------------------------------------------

struct Case {
  Int4Format format;
  int64_t group_size;
  Shape shape;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const Int4Format format : {Int4Format::kInt4, Int4Format::kNf4}) {
    for (const int64_t group_size : {64, 128})
      for (const Shape& shape : kShapes) cases.push_back({format, group_size, shape});
    for (const Shape& shape : kGroup64Shapes) cases.push_back({format, 64, shape});
    cases.push_back({format, 32, {7, 96}});
  }
  return cases;
}

std::string describe(const Case& c) {
  return std::string(format_name(c.format)) + " group " + std::to_string(c.group_size) + " [" +
         std::to_string(c.shape.rows) + ", " + std::to_string(c.shape.columns) + "]";
}

class Int4GpuTest : public ::testing::TestWithParam<Precision> {
 protected:
  void SetUp() override { JN_SKIP_WITHOUT_GPU(); }
  Precision precision() const { return GetParam(); }
  size_t element() const { return cuda::precision_size_bytes(GetParam()); }
};

TEST_P(Int4GpuTest, DequantizeMatchesCpuExactly) {
  uint32_t seed = 100;
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(describe(c));
    const Int4Matrix matrix = make_matrix(c.shape.rows, c.shape.columns, c.group_size, c.format, ++seed);
    const std::vector<float> expected = dequantize_int4(matrix);
    UploadedWeight uploaded = upload_weight(matrix);
    const size_t count = expected.size();
    const size_t guard = 64;  // elements past the end that must stay untouched
    auto out = poisoned(count + guard, element());
    ASSERT_TRUE(cuda::launch_int4_dequantize(precision(), uploaded.weight, out.data(), nullptr).ok());
    const std::vector<float> got = download(out, precision(), count + guard);
    size_t mismatches = 0;
    for (size_t idx = 0; idx < count; ++idx) {
      const float want = round_to(precision(), expected[idx]);
      if (std::memcmp(&want, &got[idx], sizeof(float)) != 0 && ++mismatches <= 5)
        ADD_FAILURE() << "element [" << idx / c.shape.columns << ", " << idx % c.shape.columns
                      << "]: gpu " << got[idx] << ", cpu " << want;
    }
    EXPECT_EQ(mismatches, 0u);
    for (size_t idx = count; idx < count + guard; ++idx)
      ASSERT_TRUE(std::isnan(got[idx])) << "wrote past the end at " << idx;
  }
}

// out = epilogue(x . W^T + b) in double, from the inputs and CPU-decoded weights as the GPU sees
// them (rounded to the precision); `magnitude` gets sum |x w| + |b| per element for the tolerance.
std::vector<double> linear_reference(const std::vector<float>& input, int64_t m,
                                     const std::vector<float>& weight, int64_t rows,
                                     int64_t columns, const std::vector<float>& bias,
                                     Int4Epilogue epilogue, std::vector<double>& magnitude) {
  std::vector<double> out(m * rows);
  magnitude.assign(m * rows, 0.0);
  for (int64_t batch_row = 0; batch_row < m; ++batch_row) {
    for (int64_t channel = 0; channel < rows; ++channel) {
      double sum = bias.empty() ? 0.0 : bias[channel];
      double size = bias.empty() ? 0.0 : std::fabs(bias[channel]);
      for (int64_t col = 0; col < columns; ++col) {
        const double product = double(input[batch_row * columns + col]) * weight[channel * columns + col];
        sum += product;
        size += std::fabs(product);
      }
      out[batch_row * rows + channel] = apply_epilogue(sum, epilogue);
      magnitude[batch_row * rows + channel] = size;
    }
  }
  return out;
}

// Checks `got` against the reference: per element, one output rounding plus fp32 accumulation over
// K (bounded by K * 2^-23 * sum |x w|, times 1.5 for the GELU slope), and the whole-output
// relative error against the suite's per-precision tolerance.
void expect_close(Precision precision, const std::vector<float>& got,
                  const std::vector<double>& reference, const std::vector<double>& magnitude,
                  int64_t columns) {
  ASSERT_GE(got.size(), reference.size());
  size_t failures = 0;
  for (size_t idx = 0; idx < reference.size(); ++idx) {
    const double tolerance_value = unit_roundoff(precision) * std::fabs(reference[idx]) +
                                   1.5 * columns * std::ldexp(1.0, -23) * magnitude[idx] +
                                   std::ldexp(1.0, -24);
    if (!(std::fabs(got[idx] - reference[idx]) <= tolerance_value) && ++failures <= 5)
      ADD_FAILURE() << "element " << idx << ": gpu " << got[idx] << ", reference " << reference[idx]
                    << ", tolerance " << tolerance_value;
  }
  EXPECT_EQ(failures, 0u);
  const std::vector<float> head(got.begin(), got.begin() + reference.size());
  EXPECT_LT(relative_error(head, reference), tolerance(precision));
}

TEST_P(Int4GpuTest, LinearMatchesDoubleReference) {
  if (precision() == Precision::kFp32) GTEST_SKIP() << "fp32 is refused (tested above)";
  uint32_t seed = 500;
  const std::vector<Int4Epilogue> epilogues = {Int4Epilogue::kNone, Int4Epilogue::kBias,
                                               Int4Epilogue::kBiasGeluErf,
                                               Int4Epilogue::kBiasGeluTanh, Int4Epilogue::kBiasRelu};
  size_t case_idx = 0;
  for (const Case& c : all_cases()) {
    const Int4Matrix matrix = make_matrix(c.shape.rows, c.shape.columns, c.group_size, c.format, ++seed);
    std::vector<float> weight = dequantize_int4(matrix);
    for (float& value : weight) value = round_to(precision(), value);
    UploadedWeight uploaded = upload_weight(matrix);
    for (const int64_t m : {1, 3, 8, 16}) {
      // Every epilogue on every shape would be slow on the CPU side: rotate them, all on BERT shapes.
      const Int4Epilogue epilogue = epilogues[case_idx++ % epilogues.size()];
      SCOPED_TRACE(describe(c) + " m " + std::to_string(m) + " epilogue " +
                   std::to_string(static_cast<int>(epilogue)));
      std::vector<float> input = random_values(m * c.shape.columns, ++seed);
      auto input_d = upload(input, precision());
      std::vector<float> bias;
      cuda::DeviceBuffer bias_d;
      if (has_bias(epilogue)) {
        bias = random_values(c.shape.rows, ++seed, 0.f, 0.5f);
        bias_d = upload(bias, precision());
      }
      // One guard row past the output must stay NaN.
      auto out = poisoned((m + 1) * c.shape.rows, element());
      const Status status = cuda::launch_int4_linear(precision(), input_d.data(), m, uploaded.weight,
                                                     has_bias(epilogue) ? bias_d.data() : nullptr,
                                                     epilogue, out.data(), nullptr);
      ASSERT_TRUE(status.ok()) << status.to_string();
      const std::vector<float> got = download(out, precision(), (m + 1) * c.shape.rows);
      std::vector<double> magnitude;
      const auto reference = linear_reference(input, m, weight, c.shape.rows, c.shape.columns,
                                              bias, epilogue, magnitude);
      expect_close(precision(), got, reference, magnitude, c.shape.columns);
      for (size_t idx = m * c.shape.rows; idx < got.size(); ++idx)
        ASSERT_TRUE(std::isnan(got[idx])) << "wrote past the output at " << idx;
    }
  }
}

TEST_P(Int4GpuTest, EveryEpilogueOnBertShapes) {
  if (precision() == Precision::kFp32) GTEST_SKIP() << "fp32 is refused (tested above)";
  uint32_t seed = 900;
  for (const Shape shape : {Shape{3072, 768}, Shape{768, 3072}}) {
    const Int4Matrix matrix = make_matrix(shape.rows, shape.columns, 128, Int4Format::kNf4, ++seed);
    std::vector<float> weight = dequantize_int4(matrix);
    for (float& value : weight) value = round_to(precision(), value);
    UploadedWeight uploaded = upload_weight(matrix);
    const int64_t m = 5;
    std::vector<float> input = random_values(m * shape.columns, ++seed);
    auto input_d = upload(input, precision());
    std::vector<float> bias = random_values(shape.rows, ++seed, 0.f, 0.5f);
    auto bias_d = upload(bias, precision());
    for (const Int4Epilogue epilogue : {Int4Epilogue::kNone, Int4Epilogue::kBias, Int4Epilogue::kBiasGeluErf,
                                        Int4Epilogue::kBiasGeluTanh, Int4Epilogue::kBiasRelu}) {
      SCOPED_TRACE("[" + std::to_string(shape.rows) + ", " + std::to_string(shape.columns) +
                   "] epilogue " + std::to_string(static_cast<int>(epilogue)));
      auto out = poisoned(m * shape.rows, element());
      ASSERT_TRUE(cuda::launch_int4_linear(precision(), input_d.data(), m, uploaded.weight,
                                           has_bias(epilogue) ? bias_d.data() : nullptr, epilogue,
                                           out.data(), nullptr)
                      .ok());
      std::vector<double> magnitude;
      const auto reference = linear_reference(input, m, weight, shape.rows, shape.columns,
                                              has_bias(epilogue) ? bias : std::vector<float>{},
                                              epilogue, magnitude);
      expect_close(precision(), download(out, precision(), m * shape.rows), reference, magnitude,
                   shape.columns);
    }
  }
}

// The large-batch path as the engine runs it: dequantise into scratch, then cuBLASLt.
TEST_P(Int4GpuTest, DequantizeThenGemmMatchesReference) {
  if (precision() == Precision::kFp32) GTEST_SKIP() << "the engine's int4 path is fp16/bf16";
  const Shape shape{768, 768};
  const int64_t m = 48;
  const Int4Matrix matrix = make_matrix(shape.rows, shape.columns, 64, Int4Format::kInt4, 1234);
  std::vector<float> weight = dequantize_int4(matrix);
  for (float& value : weight) value = round_to(precision(), value);
  UploadedWeight uploaded = upload_weight(matrix);
  auto scratch = poisoned(shape.rows * shape.columns, element());
  ASSERT_TRUE(cuda::launch_int4_dequantize(precision(), uploaded.weight, scratch.data(), nullptr).ok());
  std::vector<float> input = random_values(m * shape.columns, 1235);
  auto input_d = upload(input, precision());
  std::vector<float> bias = random_values(shape.rows, 1236, 0.f, 0.5f);
  auto bias_d = upload(bias, precision());
  auto runner = cuda::GemmRunner::create(precision(), nullptr, 0);
  ASSERT_TRUE(runner.ok()) << runner.status().to_string();
  auto out = poisoned(m * shape.rows, element());
  const Status status = (*runner)->linear(input_d.data(), m, shape.columns, scratch.data(), bias_d.data(),
                                          shape.rows, cuda::GemmEpilogue::kBias, out.data(), nullptr);
  ASSERT_TRUE(status.ok()) << status.to_string();
  std::vector<double> magnitude;
  const auto reference = linear_reference(input, m, weight, shape.rows, shape.columns, bias,
                                          Int4Epilogue::kBias, magnitude);
  expect_close(precision(), download(out, precision(), m * shape.rows), reference, magnitude,
               shape.columns);
}

// Small-batch linear and dequantise + GEMM compute the same thing from the same decoded weights.
TEST_P(Int4GpuTest, SmallBatchAgreesWithDequantizeAndGemm) {
  if (precision() == Precision::kFp32) GTEST_SKIP() << "the engine's int4 path is fp16/bf16";
  for (const Shape shape : {Shape{3072, 768}, Shape{768, 3072}}) {
    const int64_t m = cuda::int4_small_batch_limit();
    const Int4Matrix matrix = make_matrix(shape.rows, shape.columns, 128, Int4Format::kInt4, 77);
    UploadedWeight uploaded = upload_weight(matrix);
    std::vector<float> input = random_values(m * shape.columns, 78);
    auto input_d = upload(input, precision());
    auto small = poisoned(m * shape.rows, element());
    ASSERT_TRUE(cuda::launch_int4_linear(precision(), input_d.data(), m, uploaded.weight, nullptr,
                                         Int4Epilogue::kNone, small.data(), nullptr)
                    .ok());
    auto scratch = poisoned(shape.rows * shape.columns, element());
    ASSERT_TRUE(cuda::launch_int4_dequantize(precision(), uploaded.weight, scratch.data(), nullptr).ok());
    auto runner = cuda::GemmRunner::create(precision(), nullptr, 0);
    ASSERT_TRUE(runner.ok());
    auto gemm = poisoned(m * shape.rows, element());
    ASSERT_TRUE((*runner)->linear(input_d.data(), m, shape.columns, scratch.data(), nullptr, shape.rows,
                                  cuda::GemmEpilogue::kNone, gemm.data(), nullptr)
                    .ok());
    const std::vector<float> small_out = download(small, precision(), m * shape.rows);
    const std::vector<float> gemm_out = download(gemm, precision(), m * shape.rows);
    const std::vector<double> gemm_double(gemm_out.begin(), gemm_out.end());
    EXPECT_LT(relative_error(small_out, gemm_double), 2 * tolerance(precision()));
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, Int4GpuTest,
                         ::testing::Values(Precision::kFp16, Precision::kBf16, Precision::kFp32),
                         [](const ::testing::TestParamInfo<Precision>& info) {
                           return std::string(cuda::precision_name(info.param));
                         });

}  // namespace
}  // namespace justnews::testing
