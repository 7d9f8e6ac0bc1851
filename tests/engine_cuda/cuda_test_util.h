// Helpers for the CUDA tests: a skip when no GPU is present, uploads that round host values to the
// device precision (so CPU references see exactly the GPU's inputs), poisoned outputs (0xFF bytes
// are NaN in fp32, fp16 and bf16, so an unwritten element fails the comparison), and errors.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/device_buffer.h"
#include "tensor/dtype.h"

namespace justnews::testing {

inline bool gpu_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

#define JN_SKIP_WITHOUT_GPU() \
  if (!::justnews::testing::gpu_available()) GTEST_SKIP() << "no CUDA device"

inline float round_to(cuda::Precision precision, float value) {
  if (precision == cuda::Precision::kFp16) return f16_to_f32(f32_to_f16(value));
  if (precision == cuda::Precision::kBf16) return bf16_to_f32(f32_to_bf16(value));
  return value;
}

inline std::vector<float> random_values(size_t count, uint32_t seed, float mean = 0.f,
                                        float stddev = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, stddev);
  std::vector<float> values(count);
  for (float& value : values) value = normal(rng);
  return values;
}

// What a codes producer multiplies by: multipliers[c] = 1 / (scale x divisors[c]), with
// SmoothQuant-like divisors 2^U(-1, 1) (in [0.5, 2]) drawn from `seed`, or all 1 when
// `with_divisors` is false (FP8 inputs have none).
struct CodeMultipliers {
  std::vector<float> divisors, multipliers;
};
inline CodeMultipliers code_multipliers(size_t count, double scale, uint32_t seed,
                                        bool with_divisors) {
  CodeMultipliers result{std::vector<float>(count, 1.f), std::vector<float>(count)};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> exponent(-1.f, 1.f);
  if (with_divisors)
    for (float& divisor : result.divisors) divisor = std::exp2(exponent(rng));
  for (size_t c = 0; c < count; ++c)
    result.multipliers[c] = static_cast<float>(1.0 / (scale * result.divisors[c]));
  return result;
}

// Rounds `values` in place to `precision` and copies them to a new device buffer.
inline cuda::DeviceBuffer upload(std::vector<float>& values, cuda::Precision precision) {
  const size_t element = cuda::precision_size_bytes(precision);
  std::vector<uint8_t> bytes(values.size() * element);
  for (size_t idx = 0; idx < values.size(); ++idx) {
    values[idx] = round_to(precision, values[idx]);
    if (precision == cuda::Precision::kFp32) {
      std::memcpy(bytes.data() + idx * 4, &values[idx], 4);
    } else {
      const uint16_t bits = precision == cuda::Precision::kFp16 ? f32_to_f16(values[idx])
                                                               : f32_to_bf16(values[idx]);
      std::memcpy(bytes.data() + idx * 2, &bits, 2);
    }
  }
  auto buffer = cuda::DeviceBuffer::allocate(std::max<size_t>(bytes.size(), 16), "test input");
  EXPECT_TRUE(buffer.ok()) << buffer.status().to_string();
  EXPECT_EQ(cudaMemcpy(buffer->data(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice), cudaSuccess);
  return std::move(buffer).value();
}

template <typename T>
inline cuda::DeviceBuffer upload_raw(const std::vector<T>& values) {
  auto buffer = cuda::DeviceBuffer::allocate(std::max<size_t>(values.size() * sizeof(T), 16), "test input");
  EXPECT_TRUE(buffer.ok()) << buffer.status().to_string();
  EXPECT_EQ(cudaMemcpy(buffer->data(), values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  return std::move(buffer).value();
}

// A device buffer of `count` elements filled with NaN bytes.
inline cuda::DeviceBuffer poisoned(size_t count, size_t element_bytes) {
  auto buffer = cuda::DeviceBuffer::allocate(std::max<size_t>(count * element_bytes, 16), "test output");
  EXPECT_TRUE(buffer.ok()) << buffer.status().to_string();
  EXPECT_EQ(cudaMemset(buffer->data(), 0xFF, count * element_bytes), cudaSuccess);
  return std::move(buffer).value();
}

inline std::vector<float> download(const cuda::DeviceBuffer& buffer, cuda::Precision precision,
                                   size_t count) {
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const size_t element = cuda::precision_size_bytes(precision);
  std::vector<uint8_t> bytes(count * element);
  EXPECT_EQ(cudaMemcpy(bytes.data(), buffer.data(), bytes.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  std::vector<float> values(count);
  for (size_t idx = 0; idx < count; ++idx) {
    if (precision == cuda::Precision::kFp32) {
      std::memcpy(&values[idx], bytes.data() + idx * 4, 4);
    } else {
      uint16_t bits;
      std::memcpy(&bits, bytes.data() + idx * 2, 2);
      values[idx] = precision == cuda::Precision::kFp16 ? f16_to_f32(bits) : bf16_to_f32(bits);
    }
  }
  return values;
}

inline std::vector<float> download_f32(const cuda::DeviceBuffer& buffer, size_t count) {
  return download(buffer, cuda::Precision::kFp32, count);
}

// ||out - ref|| / ||ref||; infinity when sizes differ or any output is NaN/inf.
inline double relative_error(const std::vector<float>& out, const std::vector<double>& ref) {
  if (out.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0;
  double norm = 0.0;
  for (size_t idx = 0; idx < out.size(); ++idx) {
    if (!std::isfinite(out[idx])) return std::numeric_limits<double>::infinity();
    diff += (out[idx] - ref[idx]) * (out[idx] - ref[idx]);
    norm += ref[idx] * ref[idx];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

// Tolerance on relative_error for outputs computed in `precision` (fp32 accumulation everywhere):
// one rounding of the output plus a few of intermediates.
inline double tolerance(cuda::Precision precision) {
  switch (precision) {
    case cuda::Precision::kFp32: return 2e-5;
    case cuda::Precision::kFp16: return 3e-3;
    case cuda::Precision::kBf16: return 2e-2;
  }
  return 0.0;
}

}  // namespace justnews::testing
