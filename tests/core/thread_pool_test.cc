#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <vector>

namespace justnews {
namespace {

TEST(ThreadPool, ParallelForVisitsEveryIndexOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> visits(10007);
  pool.parallel_for(visits.size(), 16, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) visits[i]++;
  });
  for (size_t i = 0; i < visits.size(); ++i) ASSERT_EQ(visits[i].load(), 1) << "index " << i;
}

TEST(ThreadPool, SubmitPropagatesExceptions) {
  ThreadPool pool(2);
  auto future = pool.submit([] { throw std::runtime_error("boom"); });
  EXPECT_THROW(future.get(), std::runtime_error);
}

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1u);
  long sum = 0;
  pool.parallel_for(100, 1, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) sum += static_cast<long>(i);
  });
  EXPECT_EQ(sum, 4950);
}

TEST(ThreadPool, EmptyRangeDoesNothing) {
  ThreadPool pool(3);
  bool called = false;
  pool.parallel_for(0, 1, [&](size_t, size_t) { called = true; });
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace justnews
