// BlockPool on the real host allocator: placement, alignment, coalescing, growth beyond a block,
// the retain limit, trim, and a full device.
#include "memory/block_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace justnews {
namespace {

constexpr int64_t kBlockBytes = 1 << 20;

TEST(BlockPool, SmallRangesShareOneBlockAlignedAndDisjoint) {
  auto allocator = make_host_allocator(64 * kBlockBytes);
  BlockPool pool(allocator.get(), kBlockBytes, 4 * kBlockBytes);
  std::vector<char*> ranges;
  for (int range_idx = 0; range_idx < 100; ++range_idx) {
    auto ptr = pool.allocate(1000);
    ASSERT_TRUE(ptr.ok()) << ptr.status().to_string();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(*ptr) % BlockPool::kAlignmentBytes, 0u);
    std::memset(*ptr, range_idx, 1000);
    ranges.push_back(static_cast<char*>(*ptr));
  }
  EXPECT_EQ(pool.num_chunks(), 1u);
  EXPECT_EQ(pool.in_use_bytes(), 100 * 1024);
  for (int range_idx = 0; range_idx < 100; ++range_idx) {
    for (int byte_idx = 0; byte_idx < 1000; ++byte_idx) {
      ASSERT_EQ(ranges[range_idx][byte_idx], static_cast<char>(range_idx)) << "ranges overlap";
    }
  }
}

TEST(BlockPool, FreedRangesCoalesceIntoAWholeBlock) {
  auto allocator = make_host_allocator(64 * kBlockBytes);
  BlockPool pool(allocator.get(), kBlockBytes, 4 * kBlockBytes);
  std::vector<void*> quarters;
  for (int quarter = 0; quarter < 4; ++quarter) quarters.push_back(*pool.allocate(kBlockBytes / 4));
  EXPECT_EQ(pool.num_chunks(), 1u);
  // Free in an order that needs merging on both sides.
  for (int quarter : {1, 3, 0, 2}) pool.release(quarters[quarter]);
  EXPECT_EQ(pool.in_use_bytes(), 0);
  auto whole = pool.allocate(kBlockBytes);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(pool.num_chunks(), 1u) << "a whole block fits again only if the quarters coalesced";
}

TEST(BlockPool, LargeRequestsGetWholeBlocksAndRetainLimitTrims) {
  auto allocator = make_host_allocator(64 * kBlockBytes);
  BlockPool pool(allocator.get(), kBlockBytes, 2 * kBlockBytes);
  auto large = pool.allocate(3 * kBlockBytes + 1);
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(pool.reserved_bytes(), 4 * kBlockBytes);
  pool.release(*large);
  EXPECT_EQ(pool.reserved_bytes(), 0) << "above the retain limit an idle chunk goes back";

  auto a = pool.allocate(kBlockBytes);
  auto b = pool.allocate(kBlockBytes);
  ASSERT_TRUE(a.ok() && b.ok());
  pool.release(*a);
  pool.release(*b);
  EXPECT_EQ(pool.reserved_bytes(), 2 * kBlockBytes) << "within the retain limit blocks stay cached";
  pool.trim();
  EXPECT_EQ(pool.reserved_bytes(), 0);
}

TEST(BlockPool, FullDeviceIsAnErrorNotACrash) {
  auto allocator = make_host_allocator(4 * kBlockBytes, "tiny-device");
  BlockPool pool(allocator.get(), kBlockBytes, 4 * kBlockBytes);
  auto first = pool.allocate(3 * kBlockBytes);
  ASSERT_TRUE(first.ok());
  auto second = pool.allocate(2 * kBlockBytes);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(second.status().message().find("tiny-device"), std::string::npos);
  EXPECT_FALSE(pool.allocate(0).ok());
  pool.release(*first);
  EXPECT_TRUE(pool.allocate(4 * kBlockBytes).ok()) << "idle chunks are trimmed to make room";
}

}  // namespace
}  // namespace justnews
