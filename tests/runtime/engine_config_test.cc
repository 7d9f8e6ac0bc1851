// The engine keys that decide how agents load: engine.plan_cache, engine.engine_cache_dir (empty:
// the CLI's default directory) and engine.cuda_autotune_gemms; wrong types and unknown keys are
// refused with their path.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/config.h"
#include "engine/engine_cache.h"
#include "runtime/backend.h"

namespace justnews {
namespace {

TEST(EngineConfig, PlanCacheIsOnByDefaultInTheClisDirectory) {
  auto config = parse_config("", "empty.yaml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_TRUE(config->engine.plan_cache);
  EXPECT_TRUE(config->engine.cuda_autotune_gemms);
  EXPECT_EQ(config->engine.engine_cache_dir, "");
  EXPECT_EQ(engine_cache_dir(config->engine), default_engine_cache_dir());

  // The CLI's default follows $JUSTNEWS_ENGINE_CACHE; so does an agent's.
  const char* previous = std::getenv("JUSTNEWS_ENGINE_CACHE");
  const std::string saved = previous ? previous : "";
  ASSERT_EQ(setenv("JUSTNEWS_ENGINE_CACHE", "/tmp/justnews-engine-cache-test", 1), 0);
  EXPECT_EQ(engine_cache_dir(config->engine), "/tmp/justnews-engine-cache-test");
  if (previous) {
    setenv("JUSTNEWS_ENGINE_CACHE", saved.c_str(), 1);
  } else {
    unsetenv("JUSTNEWS_ENGINE_CACHE");
  }
}

TEST(EngineConfig, KeysAreParsed) {
  auto config = parse_config(
      "engine:\n  plan_cache: false\n  engine_cache_dir: /var/cache/justnews\n  "
      "cuda_autotune_gemms: no\n",
      "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_FALSE(config->engine.plan_cache);
  EXPECT_FALSE(config->engine.cuda_autotune_gemms);
  EXPECT_EQ(engine_cache_dir(config->engine), "/var/cache/justnews");

  config = parse_config("engine:\n  plan_cache: true\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_TRUE(config->engine.plan_cache);
}

TEST(EngineConfig, WrongTypeNamesTheKey) {
  for (const char* text : {"engine:\n  plan_cache: sometimes\n", "engine:\n  plan_cache: 2\n",
                           "engine:\n  cuda_autotune_gemms: [1]\n"}) {
    auto config = parse_config(text, "c.yaml");
    ASSERT_FALSE(config.ok()) << text;
    const std::string message = config.status().message();
    EXPECT_NE(message.find("c.yaml: engine."), std::string::npos) << message;
    EXPECT_NE(message.find("expected true or false"), std::string::npos) << message;
  }
}

TEST(EngineConfig, UnknownKeyIsRefused) {
  auto config = parse_config("engine:\n  plan_cahce: false\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("unknown key 'engine.plan_cahce'"), std::string::npos)
      << config.status().message();
}

TEST(EngineConfig, DumpRoundTrips) {
  Config original;
  original.engine.plan_cache = false;
  original.engine.cuda_autotune_gemms = false;
  const std::string yaml = config_to_yaml(original);
  EXPECT_NE(yaml.find("plan_cache: false"), std::string::npos) << yaml;
  auto reparsed = parse_config(yaml, "dump.yaml");
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().to_string();
  EXPECT_FALSE(reparsed->engine.plan_cache);
  EXPECT_FALSE(reparsed->engine.cuda_autotune_gemms);
  EXPECT_EQ(reparsed->engine.engine_cache_dir, "");

  original.engine.plan_cache = true;
  original.engine.engine_cache_dir = "/srv/engines";
  reparsed = parse_config(config_to_yaml(original), "dump.yaml");
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().to_string();
  EXPECT_TRUE(reparsed->engine.plan_cache);
  EXPECT_EQ(reparsed->engine.engine_cache_dir, "/srv/engines");
}

}  // namespace
}  // namespace justnews
