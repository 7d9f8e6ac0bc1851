// Blocked dot products with one fixed per-pair summation order (see similarity_kernels.h).
#include "runtime/similarity_kernels.h"

#include <algorithm>
#include <cstring>

#include "runtime/cooperative_for.h"

namespace justnews {
namespace {

// Rows reused from L1 by every query block (16 rows of 384 floats = 24 KiB).
constexpr size_t kRowTile = 16;
// Rows per pool task; fixed (not per thread count) so the work split never changes a result.
constexpr size_t kRowsPerTask = 256;
// Queries whose similarities best_rows keeps at once per task (16 x 256 floats = 16 KiB).
constexpr size_t kBestQueryChunk = 16;

template <size_t kWidth>
struct LanesOf {
  typedef float Type __attribute__((vector_size(kWidth * sizeof(float))));
};

// Through a pointer, not a return value: a returned vector would change the baseline ABI.
template <typename Lanes>
__attribute__((always_inline)) inline void load_lanes(const float* values, Lanes* lanes) {
  std::memcpy(lanes, values, sizeof(*lanes));
}

// The halving reduction tree (lane i += lane i + width/2, down to one lane) as vector adds.
template <typename Lanes>
__attribute__((always_inline)) inline float reduce_lanes(const Lanes& lanes) {
  constexpr size_t kWidth = sizeof(Lanes) / sizeof(float);
  if constexpr (kWidth == 16) {
    typename LanesOf<8>::Type half =
        __builtin_shufflevector(lanes, lanes, 0, 1, 2, 3, 4, 5, 6, 7) +
        __builtin_shufflevector(lanes, lanes, 8, 9, 10, 11, 12, 13, 14, 15);
    return reduce_lanes(half);
  } else if constexpr (kWidth == 8) {
    typename LanesOf<4>::Type half = __builtin_shufflevector(lanes, lanes, 0, 1, 2, 3) +
                                     __builtin_shufflevector(lanes, lanes, 4, 5, 6, 7);
    return reduce_lanes(half);
  } else {
    static_assert(kWidth == 4, "lane widths are 16, 8 or 4");
    typename LanesOf<2>::Type half =
        __builtin_shufflevector(lanes, lanes, 0, 1) + __builtin_shufflevector(lanes, lanes, 2, 3);
    return half[0] + half[1];
  }
}

// Every similarity is made here: lane sums over full groups of kWidth columns, a fixed halving
// reduction tree, then the leftover columns. Blocks are padded by repeating pointers, never by
// another code path, so one CPU always computes a pair the same way.
template <size_t kWidth, size_t kQueryBlock, size_t kRowBlock>
__attribute__((always_inline)) inline void micro_kernel(const float* const* queries,
                                                        const float* const* rows, size_t dim,
                                                        float out[kQueryBlock][kRowBlock]) {
  using Lanes = typename LanesOf<kWidth>::Type;
  Lanes acc[kQueryBlock][kRowBlock] = {};
  const size_t full_dim = dim - dim % kWidth;
  for (size_t col = 0; col < full_dim; col += kWidth) {
    Lanes row_lanes[kRowBlock];
    for (size_t row = 0; row < kRowBlock; ++row) load_lanes(rows[row] + col, &row_lanes[row]);
    for (size_t query = 0; query < kQueryBlock; ++query) {
      Lanes values;
      load_lanes(queries[query] + col, &values);
      for (size_t row = 0; row < kRowBlock; ++row) acc[query][row] += values * row_lanes[row];
    }
  }
  for (size_t query = 0; query < kQueryBlock; ++query) {
    for (size_t row = 0; row < kRowBlock; ++row) {
      float tail = 0;
      for (size_t col = full_dim; col < dim; ++col) tail += queries[query][col] * rows[row][col];
      out[query][row] = reduce_lanes(acc[query][row]) + tail;
    }
  }
}

template <size_t kWidth, size_t kQueryBlock, size_t kRowBlock>
__attribute__((always_inline)) inline void row_dots_blocked(const float* queries,
                                                            size_t num_queries, const float* rows,
                                                            size_t num_rows, size_t dim, float* out,
                                                            size_t out_stride) {
  const float* query_ptrs[kQueryBlock];
  const float* row_ptrs[kRowBlock];
  float block[kQueryBlock][kRowBlock];
  for (size_t tile_begin = 0; tile_begin < num_rows; tile_begin += kRowTile) {
    const size_t tile_end = std::min(num_rows, tile_begin + kRowTile);
    for (size_t query_begin = 0; query_begin < num_queries; query_begin += kQueryBlock) {
      for (size_t query = 0; query < kQueryBlock; ++query) {
        query_ptrs[query] = queries + std::min(query_begin + query, num_queries - 1) * dim;
      }
      for (size_t row_begin = tile_begin; row_begin < tile_end; row_begin += kRowBlock) {
        for (size_t row = 0; row < kRowBlock; ++row) {
          row_ptrs[row] = rows + std::min(row_begin + row, tile_end - 1) * dim;
        }
        micro_kernel<kWidth, kQueryBlock, kRowBlock>(query_ptrs, row_ptrs, dim, block);
        for (size_t query = 0; query < kQueryBlock && query_begin + query < num_queries; ++query) {
          for (size_t row = 0; row < kRowBlock && row_begin + row < tile_end; ++row) {
            out[(query_begin + query) * out_stride + row_begin + row] = block[query][row];
          }
        }
      }
    }
  }
}

// One variant per instruction set; the process picks one at its first call and keeps it. Blocks
// fill the registers: 16 AVX-512 accumulators of 4x4, 8 AVX2 accumulators of 4x2.
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void row_dots_avx512(
    const float* queries, size_t num_queries, const float* rows, size_t num_rows, size_t dim,
    float* out, size_t out_stride) {
  row_dots_blocked<16, 4, 4>(queries, num_queries, rows, num_rows, dim, out, out_stride);
}

__attribute__((target("avx2,fma"))) void row_dots_avx2(const float* queries, size_t num_queries,
                                                       const float* rows, size_t num_rows,
                                                       size_t dim, float* out, size_t out_stride) {
  row_dots_blocked<8, 4, 2>(queries, num_queries, rows, num_rows, dim, out, out_stride);
}

void row_dots_baseline(const float* queries, size_t num_queries, const float* rows, size_t num_rows,
                       size_t dim, float* out, size_t out_stride) {
  row_dots_blocked<4, 2, 2>(queries, num_queries, rows, num_rows, dim, out, out_stride);
}

// One pair through the same micro-kernel arithmetic (a pair's value does not depend on the block
// size, only on the lane width), without computing a padded block.
__attribute__((target("avx512f,avx512vl,avx2,fma"))) float row_dot_avx512(const float* a,
                                                                          const float* b,
                                                                          size_t dim) {
  float out[1][1];
  micro_kernel<16, 1, 1>(&a, &b, dim, out);
  return out[0][0];
}

__attribute__((target("avx2,fma"))) float row_dot_avx2(const float* a, const float* b, size_t dim) {
  float out[1][1];
  micro_kernel<8, 1, 1>(&a, &b, dim, out);
  return out[0][0];
}

float row_dot_baseline(const float* a, const float* b, size_t dim) {
  float out[1][1];
  micro_kernel<4, 1, 1>(&a, &b, dim, out);
  return out[0][0];
}

using RowDotsFn = void (*)(const float*, size_t, const float*, size_t, size_t, float*, size_t);
using RowDotFn = float (*)(const float*, const float*, size_t);

struct Kernels {
  RowDotsFn row_dots;
  RowDotFn row_dot;
};

Kernels pick_kernels() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
    return {row_dots_avx512, row_dot_avx512};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {row_dots_avx2, row_dot_avx2};
  return {row_dots_baseline, row_dot_baseline};
}

const Kernels& kernels() {
  static const Kernels for_this_cpu = pick_kernels();
  return for_this_cpu;
}

// row_dots on one thread.
void row_dots_serial(const float* queries, size_t num_queries, const float* rows, size_t num_rows,
                     size_t dim, float* out, size_t out_stride) {
  if (num_queries == 0 || num_rows == 0) return;
  kernels().row_dots(queries, num_queries, rows, num_rows, dim, out, out_stride);
}

size_t num_row_tasks(size_t num_rows) { return (num_rows + kRowsPerTask - 1) / kRowsPerTask; }

// Runs task(task_idx, begin_row, end_row) for every kRowsPerTask block, helped by the pool.
template <typename Task>
void for_row_tasks(size_t num_rows, ThreadPool* pool, const Task& task) {
  cooperative_for(pool, num_row_tasks(num_rows), [&](size_t task_idx) {
    task(task_idx, task_idx * kRowsPerTask, std::min(num_rows, (task_idx + 1) * kRowsPerTask));
  });
}

}  // namespace

float row_dot(const float* a, const float* b, size_t dim) { return kernels().row_dot(a, b, dim); }

void row_dots(const float* queries, size_t num_queries, const float* rows, size_t num_rows,
              size_t dim, float* out, size_t out_stride, ThreadPool* pool) {
  if (num_queries == 0) return;
  for_row_tasks(num_rows, pool, [&](size_t, size_t row_begin, size_t row_end) {
    row_dots_serial(queries, num_queries, rows + row_begin * dim, row_end - row_begin, dim,
                    out + row_begin, out_stride);
  });
}

std::vector<BestRow> best_rows(const float* queries, size_t num_queries, const float* rows,
                               size_t num_rows, size_t dim, ThreadPool* pool) {
  std::vector<BestRow> best(num_queries);
  if (num_queries == 0 || num_rows == 0) return best;
  // Each task's best per query, merged below in row order so ties keep the first row.
  std::vector<BestRow> task_best(num_row_tasks(num_rows) * num_queries);
  for_row_tasks(num_rows, pool, [&](size_t task_idx, size_t row_begin, size_t row_end) {
    const size_t task_rows = row_end - row_begin;
    std::vector<float> similarities(kBestQueryChunk * task_rows);
    for (size_t query_begin = 0; query_begin < num_queries; query_begin += kBestQueryChunk) {
      const size_t chunk_queries = std::min(kBestQueryChunk, num_queries - query_begin);
      row_dots_serial(queries + query_begin * dim, chunk_queries, rows + row_begin * dim, task_rows,
                      dim, similarities.data(), task_rows);
      for (size_t query = 0; query < chunk_queries; ++query) {
        BestRow& found = task_best[task_idx * num_queries + query_begin + query];
        const float* row_similarities = similarities.data() + query * task_rows;
        for (size_t row = 0; row < task_rows; ++row) {
          if (row_similarities[row] > found.similarity)
            found = {row_similarities[row], row_begin + row};
        }
      }
    }
  });
  for (size_t task_idx = 0; task_idx < num_row_tasks(num_rows); ++task_idx) {
    for (size_t query = 0; query < num_queries; ++query) {
      const BestRow& candidate = task_best[task_idx * num_queries + query];
      if (candidate.similarity > best[query].similarity) best[query] = candidate;
    }
  }
  return best;
}

}  // namespace justnews
