// The `agents:` and `input:` sections of the config: defaults, every field, unknown keys and bad
// values refused with their path, and the YAML round trip.
#include <gtest/gtest.h>

#include "core/config.h"

namespace justnews {
namespace {

constexpr const char* kTwoAgents = R"yaml(
input:
  title_field: headline
agents:
  - name: embeddings
    model_dir: models/all-MiniLM-L6-v2
    task: embed
    topics:
      markets: stock markets and trading
      weather: storms, rain and floods
    story_threshold: 0.7
  - name: sentiment
    model_dir: /models/sentiment
    task: classify
    precision: fp16
    device: cuda
    memory_budget_bytes: 2147483648
    max_batch_items: 16
    max_batch_tokens: 4096
    max_wait_ms: 10
    truncation_length: 256
    queue_capacity: 64
)yaml";

TEST(AgentConfig, ParsesEveryField) {
  auto config = parse_config(kTwoAgents, "agents.yaml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->input.title_field, "headline");
  EXPECT_EQ(config->input.body_field, "body");
  ASSERT_EQ(config->agents.size(), 2u);
  const AgentConfig& embed = config->agents[0];
  EXPECT_EQ(embed.task, "embed");
  EXPECT_EQ(embed.topics.size(), 2u);
  EXPECT_EQ(embed.topics.at("weather"), "storms, rain and floods");
  EXPECT_DOUBLE_EQ(embed.story_threshold, 0.7);
  EXPECT_EQ(embed.max_batch_items, 32) << "the DESIGN default";
  EXPECT_EQ(embed.memory_budget_bytes, 0) << "0 = memory.agent_budget_bytes";
  const AgentConfig& sentiment = config->agents[1];
  EXPECT_EQ(sentiment.precision, "fp16");
  EXPECT_EQ(sentiment.device, "cuda");
  EXPECT_EQ(sentiment.memory_budget_bytes, int64_t{2} << 30);
  EXPECT_EQ(sentiment.max_batch_items, 16);
  EXPECT_EQ(sentiment.max_batch_tokens, 4096);
  EXPECT_EQ(sentiment.max_wait_ms, 10);
  EXPECT_EQ(sentiment.truncation_length, 256);
  EXPECT_EQ(sentiment.queue_capacity, 64);
}

TEST(AgentConfig, RoundTripsThroughYaml) {
  auto config = parse_config(kTwoAgents, "agents.yaml");
  ASSERT_TRUE(config.ok());
  auto again = parse_config(config_to_yaml(*config), "dumped.yaml");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  ASSERT_EQ(again->agents.size(), 2u);
  EXPECT_EQ(again->agents[0].topics, config->agents[0].topics);
  EXPECT_EQ(again->agents[1].memory_budget_bytes, config->agents[1].memory_budget_bytes);
  EXPECT_EQ(again->input.title_field, "headline");
}

void expect_refused(const std::string& yaml, const std::string& part) {
  auto config = parse_config(yaml, "bad.yaml");
  ASSERT_FALSE(config.ok()) << yaml;
  EXPECT_NE(config.status().message().find(part), std::string::npos) << config.status().message();
}

TEST(AgentConfig, RefusesUnknownKeysAndBadValuesWithTheirPath) {
  expect_refused("agents:\n  - name: a\n    model_dir: m\n  - name: b\n    model_dir: m\n    colour: red\n",
                 "agents[1]: unknown key 'colour'");
  expect_refused("agents:\n  - name: a\n    model_dir: m\n    task: summarise\n", "agents[0]: task must be");
  expect_refused("agents:\n  - model_dir: m\n", "agents[0]: name is required");
  expect_refused("agents:\n  - name: a\n", "agents[0]: model_dir is required");
  expect_refused("agents:\n  - name: a\n    model_dir: m\n    max_batch_items: lots\n",
                 "agents[0].max_batch_items: expected an integer");
  expect_refused("agents:\n  - name: a\n    model_dir: m\n    max_batch_items: 0\n", "max_batch_items must be positive");
  expect_refused("agents:\n  - name: a\n    model_dir: m\n  - name: a\n    model_dir: n\n", "used twice");
  expect_refused("agents:\n  - name: a\n    model_dir: m\n    task: classify\n    topics:\n      x: y\n",
                 "topics are only for task embed");
  expect_refused("agents:\n  - name: a\n    model_dir: m\n    story_threshold: 2\n", "story_threshold");
  expect_refused("agents: 3\n", "agents must be a list");
  expect_refused("input:\n  titel_field: x\n", "input.titel_field");
}

TEST(AgentConfig, NoAgentsMeansTheBuiltInOnes) {
  auto config = parse_config("engine:\n  backend: cpu\n", "c.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->agents.empty());
}

}  // namespace
}  // namespace justnews
