// Elementwise and row-wise FP32 kernels.
#include "engine/cpu/ops_cpu.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/fast_math_cpu.h"

namespace justnews {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kGeluTanhCubic = 0.044715f;
// LayerNorm rows are cheap; fewer rows per task would cost more in scheduling than they save.
constexpr size_t kMinRowsPerTask = 8;

// The elementwise loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load
// time, so a portable build still runs wide vectors.
#if defined(__x86_64__) && defined(__GNUC__)
#define JN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define JN_VECTOR_CLONES
#endif

void normalize_row(float* row, int64_t width, const float* gamma, const float* beta, float eps) {
  // Two passes (mean, then centred variance) avoid the cancellation of E[x²] - E[x]².
  float sum = 0.0f;
  for (int64_t i = 0; i < width; ++i) sum += row[i];
  const float mean = sum / static_cast<float>(width);
  float sum_sq = 0.0f;
  for (int64_t i = 0; i < width; ++i) {
    const float centred = row[i] - mean;
    sum_sq += centred * centred;
  }
  const float inv_std = 1.0f / std::sqrt(sum_sq / static_cast<float>(width) + eps);
  for (int64_t i = 0; i < width; ++i) row[i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];
}

template <typename RowFn>
void for_each_row(int64_t rows, ThreadPool* pool, const RowFn& row_fn) {
  if (!pool || rows <= static_cast<int64_t>(kMinRowsPerTask)) {
    for (int64_t row_idx = 0; row_idx < rows; ++row_idx) row_fn(row_idx);
    return;
  }
  pool->parallel_for(static_cast<size_t>(rows), kMinRowsPerTask, [&](size_t begin, size_t end) {
    for (size_t row_idx = begin; row_idx < end; ++row_idx) row_fn(static_cast<int64_t>(row_idx));
  });
}

}  // namespace

JN_VECTOR_CLONES void gelu_erf_cpu(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float x = values[i];
    values[i] = 0.5f * x * (1.0f + erf_fast(x * kInvSqrt2));
  }
}

JN_VECTOR_CLONES void gelu_tanh_cpu(float* values, int64_t count) {
  // 0.5·(1 + tanh(u)) = 1 / (1 + e^(-2u)): one exp, no cancellation near u = 0.
  for (int64_t i = 0; i < count; ++i) {
    const float x = values[i];
    const float u = kSqrt2OverPi * (x + kGeluTanhCubic * x * x * x);
    values[i] = x / (1.0f + exp_fast(-2.0f * u));
  }
}

void relu_cpu(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) values[i] = std::max(values[i], 0.0f);
}

void layer_norm_cpu(float* values, int64_t rows, int64_t width, const float* gamma,
                    const float* beta, float eps, ThreadPool* pool) {
  for_each_row(rows, pool, [&](int64_t row_idx) {
    normalize_row(values + row_idx * width, width, gamma, beta, eps);
  });
}

void add_layer_norm_cpu(const float* update, float* residual_inout, int64_t rows, int64_t width,
                        const float* gamma, const float* beta, float eps, ThreadPool* pool) {
  for_each_row(rows, pool, [&](int64_t row_idx) {
    float* row = residual_inout + row_idx * width;
    const float* update_row = update + row_idx * width;
    for (int64_t i = 0; i < width; ++i) row[i] += update_row[i];
    normalize_row(row, width, gamma, beta, eps);
  });
}

JN_VECTOR_CLONES void softmax_row_cpu(float* row, int64_t count) {
  if (count <= 0) return;
  const float row_max = *std::max_element(row, row + count);
  for (int64_t i = 0; i < count; ++i) row[i] = exp_fast(row[i] - row_max);
  // Separate partial sums: a single float accumulator would keep the loop scalar.
  constexpr int kLanes = 16;
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes)
    for (int lane = 0; lane < kLanes; ++lane) partial[lane] += row[i + lane];
  float sum = 0.0f;
  for (; i < count; ++i) sum += row[i];
  for (float lane_sum : partial) sum += lane_sum;
  const float inv_sum = 1.0f / sum;
  for (int64_t j = 0; j < count; ++j) row[j] *= inv_sum;
}

}  // namespace justnews
