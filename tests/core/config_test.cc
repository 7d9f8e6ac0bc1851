#include "core/config.h"

#include <gtest/gtest.h>

namespace justnews {
namespace {

TEST(Config, EmptyFileGivesDesignDefaults) {
  auto config = parse_config("", "empty.yaml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->engine.max_batch_items, 32);
  EXPECT_EQ(config->engine.cuda_workspace_bytes, 1LL << 30);
  EXPECT_EQ(config->memory.agent_budget_bytes, 6LL << 30);
  EXPECT_DOUBLE_EQ(config->memory.safety_margin, 0.15);
  EXPECT_EQ(config->memory.pool_block_bytes, 64LL << 20);
  EXPECT_EQ(config->store.postgres.pool_min, 2);
  EXPECT_EQ(config->store.postgres.pool_max, 10);
  EXPECT_EQ(config->store.postgres.connect_timeout_ms, 3000);
  EXPECT_EQ(config->store.postgres.statement_timeout_ms, 30000);
  EXPECT_EQ(config->cache.l1.max_items, 1000);
  EXPECT_EQ(config->cache.l1.ttl_s, 300);
  EXPECT_EQ(config->cache.l3.ttl_s, 86400);
  EXPECT_DOUBLE_EQ(config->train.ewc_lambda, 0.1);
  EXPECT_EQ(config->train.warmup_steps, 10);
  EXPECT_DOUBLE_EQ(config->alerts.memory_fraction, 0.85);
  EXPECT_EQ(config->autoscale.cooldown_s, 300);
}

TEST(Config, OverridesNestedKeys) {
  auto config = parse_config("engine:\n  max_batch_items: 16\nstore:\n  postgres:\n    pool_max: 4\n",
                             "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->engine.max_batch_items, 16);
  EXPECT_EQ(config->store.postgres.pool_max, 4);
}

TEST(Config, UnknownKeyIsNamed) {
  auto config = parse_config("engine:\n  max_batch_itemz: 16\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("engine.max_batch_itemz"), std::string::npos);
}

TEST(Config, WrongTypeIsNamed) {
  auto config = parse_config("memory:\n  safety_margin: lots\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("memory.safety_margin"), std::string::npos);
  EXPECT_NE(config.status().message().find("number"), std::string::npos);
}

TEST(Config, InvalidValueIsRefused) {
  auto config = parse_config("engine:\n  backend: tpu\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("tpu"), std::string::npos);
}

TEST(Config, DumpRoundTrips) {
  Config original;
  original.engine.max_batch_tokens = 777;
  auto reparsed = parse_config(config_to_yaml(original), "dump.yaml");
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().to_string();
  EXPECT_EQ(reparsed->engine.max_batch_tokens, 777);
}

}  // namespace
}  // namespace justnews
