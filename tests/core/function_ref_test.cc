#include "core/function_ref.h"

#include <gtest/gtest.h>

#include <string>

namespace justnews {
namespace {

int apply_twice(FunctionRef<int(int)> step, int value) { return step(step(value)); }

TEST(FunctionRefTest, CallsTheReferencedLambdaWithItsCaptures) {
  int calls = 0;
  const int offset = 5;
  EXPECT_EQ(apply_twice(
                [&](int value) {
                  ++calls;
                  return value + offset;
                },
                1),
            11);
  EXPECT_EQ(calls, 2);
}

TEST(FunctionRefTest, SeesChangesToTheCallableItRefersTo) {
  std::string seen;
  auto append = [&seen](const std::string& part) { seen += part; };
  FunctionRef<void(const std::string&)> ref(append);
  ref("a");
  ref("b");
  EXPECT_EQ(seen, "ab");
}

TEST(FunctionRefTest, DefaultRefersToNothing) {
  FunctionRef<void()> empty;
  EXPECT_FALSE(empty);
  auto noop = [] {};
  EXPECT_TRUE(FunctionRef<void()>(noop));
}

}  // namespace
}  // namespace justnews
