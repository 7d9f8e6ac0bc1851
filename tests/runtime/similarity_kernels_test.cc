// The blocked similarity kernels against double-precision dot products, and their promise that a
// pair's value never depends on the blocking, the batch it is in, or the pool.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "runtime/similarity_kernels.h"

namespace justnews {
namespace {

std::vector<float> random_rows(size_t rows, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> out(rows * dim);
  for (float& value : out) value = normal(rng);
  return out;
}

double reference_dot(const float* a, const float* b, size_t dim) {
  double sum = 0;
  for (size_t col = 0; col < dim; ++col) sum += double(a[col]) * b[col];
  return sum;
}

TEST(SimilarityKernels, RowDotsMatchDoublePrecisionForOddShapes) {
  for (size_t dim : {1u, 7u, 8u, 37u, 384u}) {
    const size_t num_queries = 7, num_rows = 531;  // neither a multiple of any block
    const auto queries = random_rows(num_queries, dim, 1);
    const auto rows = random_rows(num_rows, dim, 2);
    std::vector<float> out(num_queries * num_rows, -100.0f);
    row_dots(queries.data(), num_queries, rows.data(), num_rows, dim, out.data(), num_rows);
    for (size_t query = 0; query < num_queries; ++query) {
      for (size_t row = 0; row < num_rows; ++row) {
        const double expected = reference_dot(&queries[query * dim], &rows[row * dim], dim);
        EXPECT_NEAR(out[query * num_rows + row], expected, 1e-4 * (1 + std::abs(expected)))
            << "dim " << dim << " query " << query << " row " << row;
      }
    }
  }
}

TEST(SimilarityKernels, EveryPairIsBitIdenticalAloneInABlockAndOnThePool) {
  const size_t dim = 100, num_queries = 13, num_rows = 777;
  const auto queries = random_rows(num_queries, dim, 3);
  const auto rows = random_rows(num_rows, dim, 4);
  ThreadPool pool(4);
  std::vector<float> serial(num_queries * num_rows), pooled(num_queries * num_rows);
  row_dots(queries.data(), num_queries, rows.data(), num_rows, dim, serial.data(), num_rows);
  row_dots(queries.data(), num_queries, rows.data(), num_rows, dim, pooled.data(), num_rows, &pool);
  for (size_t query = 0; query < num_queries; ++query) {
    for (size_t row = 0; row < num_rows; ++row) {
      const float alone = row_dot(&queries[query * dim], &rows[row * dim], dim);
      ASSERT_EQ(serial[query * num_rows + row], alone) << query << " " << row;
      ASSERT_EQ(pooled[query * num_rows + row], alone) << query << " " << row;
    }
  }
}

TEST(SimilarityKernels, BestRowsKeepsTheFirstOfEqualRowsAcrossTasks) {
  const size_t dim = 24, num_rows = 1200;
  auto rows = random_rows(num_rows, dim, 5);
  // Row 1100 repeats row 300 (another pool task): the query equal to them must find row 300.
  std::copy(rows.begin() + 300 * dim, rows.begin() + 301 * dim, rows.begin() + 1100 * dim);
  std::vector<float> queries(rows.begin() + 300 * dim, rows.begin() + 301 * dim);
  const auto others = random_rows(5, dim, 6);
  queries.insert(queries.end(), others.begin(), others.end());
  ThreadPool pool(3);
  for (ThreadPool* use_pool : {static_cast<ThreadPool*>(nullptr), &pool}) {
    const std::vector<BestRow> best =
        best_rows(queries.data(), 6, rows.data(), num_rows, dim, use_pool);
    ASSERT_EQ(best.size(), 6u);
    EXPECT_EQ(best[0].row_idx, 300u);
    for (size_t query = 0; query < 6; ++query) {
      // The simple scan: every row in order, strictly larger wins.
      BestRow expected;
      for (size_t row = 0; row < num_rows; ++row) {
        const float similarity = row_dot(&queries[query * dim], &rows[row * dim], dim);
        if (similarity > expected.similarity) expected = {similarity, row};
      }
      EXPECT_EQ(best[query].row_idx, expected.row_idx) << query;
      EXPECT_EQ(best[query].similarity, expected.similarity) << query;
    }
  }
  EXPECT_TRUE(best_rows(queries.data(), 0, rows.data(), num_rows, dim).empty());
  const std::vector<BestRow> none = best_rows(queries.data(), 2, rows.data(), 0, dim);
  ASSERT_EQ(none.size(), 2u);
  EXPECT_EQ(none[0].similarity, BestRow{}.similarity);
}

}  // namespace
}  // namespace justnews
