// Packed multi-head attention per (sequence, head): fused in AVX-512 registers for head sizes 32
// and 64 (attention_avx512_cpu.h), otherwise two small sgemms and a row softmax.
#include "engine/cpu/attention_cpu.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "engine/cpu/attention_avx512_cpu.h"
#include "engine/cpu/ops_cpu.h"

namespace justnews {
namespace {

void attend_one(const float* qkv, int64_t token_begin, int64_t length, int64_t head_idx,
                AttentionShape shape, float* context, std::vector<float>& scores) {
  const int64_t hidden = shape.hidden();
  const int64_t qkv_stride = 3 * hidden;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  if (attention_avx512_supported(shape.head_dim)) {
    attend_head_avx512(qkv, qkv_stride, hidden, token_begin, length, head_idx * shape.head_dim,
                       shape.head_dim, scale, context, scores);
    return;
  }
  const float* query = qkv + token_begin * qkv_stride + head_idx * shape.head_dim;
  const float* key = query + hidden;
  const float* value = query + 2 * hidden;
  if (scores.size() < static_cast<size_t>(length * length))
    scores.resize(static_cast<size_t>(length * length));
  const int n = static_cast<int>(length);
  const int head_dim = static_cast<int>(shape.head_dim);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, head_dim, scale, query,
              static_cast<int>(qkv_stride), key, static_cast<int>(qkv_stride), 0.0f, scores.data(),
              n);
  for (int64_t row_idx = 0; row_idx < length; ++row_idx)
    softmax_row_cpu(scores.data() + row_idx * length, length);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, head_dim, n, 1.0f, scores.data(), n,
              value, static_cast<int>(qkv_stride), 0.0f,
              context + token_begin * hidden + head_idx * shape.head_dim, static_cast<int>(hidden));
}

}  // namespace

std::vector<int32_t> longest_first_order(const int32_t* seq_offsets, int64_t num_sequences) {
  std::vector<int32_t> order(static_cast<size_t>(num_sequences));
  for (int64_t seq_idx = 0; seq_idx < num_sequences; ++seq_idx)
    order[static_cast<size_t>(seq_idx)] = static_cast<int32_t>(seq_idx);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return seq_offsets[a + 1] - seq_offsets[a] > seq_offsets[b + 1] - seq_offsets[b];
  });
  return order;
}

void attention_cpu(const float* qkv, const int32_t* seq_offsets, int64_t num_sequences,
                   const int32_t* sequence_order, AttentionShape shape, float* context,
                   ThreadPool* pool) {
  const int64_t num_tasks = num_sequences * shape.num_heads;
  auto run_task = [&](int64_t task, std::vector<float>& scores) {
    const int64_t order_idx = task / shape.num_heads;
    const int64_t seq_idx = sequence_order ? sequence_order[order_idx] : order_idx;
    attend_one(qkv, seq_offsets[seq_idx], seq_offsets[seq_idx + 1] - seq_offsets[seq_idx],
               task % shape.num_heads, shape, context, scores);
  };
  if (!pool || pool->num_threads() <= 1 || num_tasks <= 1) {
    // Scratch grows to the longest sequence seen by this thread, then is reused.
    thread_local std::vector<float> scores;
    for (int64_t task = 0; task < num_tasks; ++task) run_task(task, scores);
    return;
  }
  std::atomic<int64_t> next_task{0};
  pool->parallel_for(pool->num_threads(), 1, [&](size_t, size_t) {
    thread_local std::vector<float> worker_scores;
    for (int64_t task = next_task.fetch_add(1); task < num_tasks; task = next_task.fetch_add(1))
      run_task(task, worker_scores);
  });
}

}  // namespace justnews
