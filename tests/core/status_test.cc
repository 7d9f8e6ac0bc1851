#include "core/status.h"

#include <gtest/gtest.h>

namespace justnews {
namespace {

Result<int> parse_positive(int value) {
  if (value <= 0) return invalid_argument("value must be positive, got " + std::to_string(value));
  return value;
}

Result<int> doubled(int value) {
  JN_ASSIGN_OR_RETURN(int checked, parse_positive(value));
  return checked * 2;
}

TEST(Status, OkByDefault) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.to_string(), "ok");
}

TEST(Status, ContextPrefixesMessage) {
  Status status = not_found("tensor 'x'").with_context("model.safetensors");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "model.safetensors: tensor 'x'");
  EXPECT_EQ(status.to_string(), "not found: model.safetensors: tensor 'x'");
}

TEST(Result, PropagatesErrorsThroughMacros) {
  EXPECT_EQ(*doubled(4), 8);
  Result<int> failed = doubled(-1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(failed.status().message().find("-1"), std::string::npos);
}

TEST(Result, OkStatusWithoutValueIsAnInternalError) {
  Result<int> result{Status()};
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace justnews
