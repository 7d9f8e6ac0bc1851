// Dot products between unit-length embedding rows for near-duplicate search and story clustering.
// Every pair goes through one micro-kernel with one fixed summation order, so a similarity is the
// same float whether it is computed alone, inside a block of a batch, or on another pool thread:
// batched and parallel results equal adding articles one at a time, bit for bit. The kernel's lane
// width follows the CPU (AVX-512, AVX2+FMA or baseline), so two kinds of CPU may differ in the last
// bits, one process never does.
#pragma once

#include <cstddef>
#include <vector>

namespace justnews {

class ThreadPool;

// The dot product of two rows of `dim` floats (the same value the blocked kernels give for them).
float row_dot(const float* a, const float* b, size_t dim);

// out[query_idx * out_stride + row_idx] = row_dot(query query_idx, row row_idx) for every pair;
// queries and rows are row-major with `dim` columns. Blocks of rows run on `pool` when given.
void row_dots(const float* queries, size_t num_queries, const float* rows, size_t num_rows,
              size_t dim, float* out, size_t out_stride, ThreadPool* pool = nullptr);

struct BestRow {
  float similarity = -2;  // below every cosine: no row seen yet
  size_t row_idx = 0;
};

// For each query, the first row with the largest row_dot (the result of scanning rows in order and
// keeping a strictly larger value); queries with no rows keep BestRow{}.
std::vector<BestRow> best_rows(const float* queries, size_t num_queries, const float* rows,
                               size_t num_rows, size_t dim, ThreadPool* pool = nullptr);

}  // namespace justnews
