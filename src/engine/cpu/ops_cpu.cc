// Elementwise and row-wise FP32 kernels.
#include "engine/cpu/ops_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

// Sixteen lane-wise partial sums, so that the loop vectorises (one float accumulator is a chain of
// dependent scalar adds: LayerNorm and softmax were 4% and 12% of MiniLM INT8's forward).
constexpr int kLanes = 16;

template <typename Term>
inline float lane_sum(int64_t count, const Term& term) {
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes)
    for (int lane = 0; lane < kLanes; ++lane) partial[lane] += term(i + lane);
  float sum = 0.0f;
  for (; i < count; ++i) sum += term(i);
  for (float lane_total : partial) sum += lane_total;
  return sum;
}

JN_VECTOR_CLONES void normalize_row(float* row, int64_t width, const float* gamma,
                                    const float* beta, float eps) {
  // Two passes (mean, then centred variance) avoid the cancellation of E[x²] - E[x]².
  const float mean = lane_sum(width, [&](int64_t i) { return row[i]; }) / static_cast<float>(width);
  const float sum_sq = lane_sum(width, [&](int64_t i) {
    const float centred = row[i] - mean;
    return centred * centred;
  });
  const float inv_std = 1.0f / std::sqrt(sum_sq / static_cast<float>(width) + eps);
  for (int64_t i = 0; i < width; ++i) row[i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];
}

// Here rather than in the caller's lambda, which is compiled for baseline x86-64 only.
JN_VECTOR_CLONES void add_row(const float* update, float* row, int64_t width) {
  for (int64_t i = 0; i < width; ++i) row[i] += update[i];
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
    add_row(update + row_idx * width, row, width);
    normalize_row(row, width, gamma, beta, eps);
  });
}

JN_VECTOR_CLONES void softmax_row_cpu(float* row, int64_t count) {
  if (count <= 0) return;
  // Lane-wise partial maxima too: std::max_element was a chain of dependent vmaxss, 60% of this
  // function's time.
  float partial_max[kLanes];
  for (float& lane_max : partial_max) lane_max = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes)
    for (int lane = 0; lane < kLanes; ++lane)
      partial_max[lane] = std::max(partial_max[lane], row[i + lane]);
  float row_max = -std::numeric_limits<float>::infinity();
  for (; i < count; ++i) row_max = std::max(row_max, row[i]);
  for (float lane_max : partial_max) row_max = std::max(row_max, lane_max);
  for (int64_t j = 0; j < count; ++j) row[j] = exp_fast(row[j] - row_max);
  const float inv_sum = 1.0f / lane_sum(count, [&](int64_t j) { return row[j]; });
  for (int64_t j = 0; j < count; ++j) row[j] *= inv_sum;
}

}  // namespace justnews
