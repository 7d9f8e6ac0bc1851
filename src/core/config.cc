// Config parsing with yaml-cpp. A table of (path, field) bindings drives parse and dump so the two
// cannot drift apart.
#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <variant>
#include <vector>

namespace justnews {
namespace {

using FieldPtr = std::variant<int*, int64_t*, double*, std::string*, bool*>;

struct Binding {
  std::string section;
  std::string key;
  FieldPtr field;
};

std::vector<Binding> bindings(Config& c) {
  return {
      {"engine", "backend", &c.engine.backend},
      {"engine", "num_threads", &c.engine.num_threads},
      {"engine", "max_batch_items", &c.engine.max_batch_items},
      {"engine", "peak_batch_items", &c.engine.peak_batch_items},
      {"engine", "max_batch_tokens", &c.engine.max_batch_tokens},
      {"engine", "cuda_workspace_bytes", &c.engine.cuda_workspace_bytes},
      {"engine", "plan_cache", &c.engine.plan_cache},
      {"engine", "engine_cache_dir", &c.engine.engine_cache_dir},
      {"engine", "cuda_autotune_gemms", &c.engine.cuda_autotune_gemms},
      {"memory", "agent_budget_bytes", &c.memory.agent_budget_bytes},
      {"memory", "agent_pinned_budget_bytes", &c.memory.agent_pinned_budget_bytes},
      {"memory", "safety_margin", &c.memory.safety_margin},
      {"memory", "pool_bytes", &c.memory.pool_bytes},
      {"memory", "pool_block_bytes", &c.memory.pool_block_bytes},
      {"store", "backend", &c.store.backend},
      {"store", "sqlite_path", &c.store.sqlite_path},
      {"store.postgres", "dsn", &c.store.postgres.dsn},
      {"store.postgres", "pool_min", &c.store.postgres.pool_min},
      {"store.postgres", "pool_max", &c.store.postgres.pool_max},
      {"store.postgres", "connect_timeout_ms", &c.store.postgres.connect_timeout_ms},
      {"store.postgres", "statement_timeout_ms", &c.store.postgres.statement_timeout_ms},
      {"store.postgres", "query_cache_ttl_s", &c.store.postgres.query_cache_ttl_s},
      {"cache.l1", "max_items", &c.cache.l1.max_items},
      {"cache.l1", "ttl_s", &c.cache.l1.ttl_s},
      {"cache.l2", "max_items", &c.cache.l2.max_items},
      {"cache.l2", "ttl_s", &c.cache.l2.ttl_s},
      {"cache.l3", "max_items", &c.cache.l3.max_items},
      {"cache.l3", "ttl_s", &c.cache.l3.ttl_s},
      {"cache", "redis_url", &c.cache.redis_url},
      {"train", "ewc_lambda", &c.train.ewc_lambda},
      {"train", "learning_rate", &c.train.learning_rate},
      {"train", "batch_size", &c.train.batch_size},
      {"train", "epochs", &c.train.epochs},
      {"train", "warmup_steps", &c.train.warmup_steps},
      {"train", "rollback_accuracy_drop_points", &c.train.rollback_accuracy_drop_points},
      {"alerts", "cpu_fraction", &c.alerts.cpu_fraction},
      {"alerts", "memory_fraction", &c.alerts.memory_fraction},
      {"alerts", "gpu_memory_fraction", &c.alerts.gpu_memory_fraction},
      {"alerts", "disk_fraction", &c.alerts.disk_fraction},
      {"autoscale", "scale_up_utilization", &c.autoscale.scale_up_utilization},
      {"autoscale", "scale_up_queue_depth", &c.autoscale.scale_up_queue_depth},
      {"autoscale", "scale_down_utilization", &c.autoscale.scale_down_utilization},
      {"autoscale", "scale_down_queue_depth", &c.autoscale.scale_down_queue_depth},
      {"autoscale", "cooldown_s", &c.autoscale.cooldown_s},
      {"input", "id_field", &c.input.id_field},
      {"input", "title_field", &c.input.title_field},
      {"input", "body_field", &c.input.body_field},
      {"input", "url_field", &c.input.url_field},
      {"input", "published_field", &c.input.published_field},
  };
}

// The scalar fields of one `agents:` entry; `topics` (a mapping) is handled on its own.
std::vector<std::pair<std::string, FieldPtr>> agent_bindings(AgentConfig& a) {
  return {
      {"name", &a.name},
      {"model_dir", &a.model_dir},
      {"task", &a.task},
      {"precision", &a.precision},
      {"device", &a.device},
      {"memory_budget_bytes", &a.memory_budget_bytes},
      {"max_batch_items", &a.max_batch_items},
      {"max_batch_tokens", &a.max_batch_tokens},
      {"max_wait_ms", &a.max_wait_ms},
      {"truncation_length", &a.truncation_length},
      {"queue_capacity", &a.queue_capacity},
      {"near_duplicate_threshold", &a.near_duplicate_threshold},
      {"story_threshold", &a.story_threshold},
  };
}

// Walks `node` and collects every leaf path ("a.b.c") so unknown keys can be reported.
void collect_leaf_paths(const YAML::Node& node, const std::string& prefix,
                        std::vector<std::string>* paths) {
  if (!node.IsMap()) {
    paths->push_back(prefix);
    return;
  }
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    collect_leaf_paths(item.second, prefix.empty() ? key : prefix + "." + key, paths);
  }
}

YAML::Node find_path(const YAML::Node& root, const std::string& dotted) {
  YAML::Node node = YAML::Clone(root);
  std::stringstream parts(dotted);
  std::string part;
  while (std::getline(parts, part, '.')) {
    if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    node = node[part];
    if (!node.IsDefined()) return node;
  }
  return node;
}

Status assign(const YAML::Node& value, const FieldPtr& field, const std::string& where) {
  try {
    std::visit([&](auto* target) { *target = value.as<std::remove_pointer_t<decltype(target)>>(); },
               field);
  } catch (const YAML::Exception&) {
    const char* expected = std::visit(
        [](auto* target) -> const char* {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, std::string>) return "a string";
          else if constexpr (std::is_same_v<T, double>) return "a number";
          else if constexpr (std::is_same_v<T, bool>) return "true or false";
          else return "an integer";
        },
        field);
    return invalid_argument(where + ": expected " + expected);
  }
  return ok_status();
}

Status validate(const Config& c, const std::string& source) {
  auto fail = [&](const std::string& what) { return invalid_argument(source + ": " + what); };
  if (c.engine.backend != "auto" && c.engine.backend != "cpu" && c.engine.backend != "cuda")
    return fail("engine.backend must be auto, cpu or cuda, got '" + c.engine.backend + "'");
  if (c.engine.max_batch_items <= 0) return fail("engine.max_batch_items must be positive");
  if (c.engine.max_batch_tokens <= 0) return fail("engine.max_batch_tokens must be positive");
  if (c.engine.num_threads < 0) return fail("engine.num_threads must be >= 0");
  if (c.memory.safety_margin < 0 || c.memory.safety_margin >= 1)
    return fail("memory.safety_margin must be in [0, 1)");
  if (c.memory.pool_block_bytes <= 0 || c.memory.pool_bytes < c.memory.pool_block_bytes)
    return fail("memory.pool_bytes must be at least one memory.pool_block_bytes block");
  if (c.store.backend != "sqlite" && c.store.backend != "postgres")
    return fail("store.backend must be sqlite or postgres, got '" + c.store.backend + "'");
  if (c.store.postgres.pool_min < 1 || c.store.postgres.pool_max < c.store.postgres.pool_min)
    return fail("store.postgres needs 1 <= pool_min <= pool_max");
  return ok_status();
}

Status validate_agent(const AgentConfig& a, const std::string& where) {
  auto fail = [&](const std::string& what) { return invalid_argument(where + ": " + what); };
  auto one_of = [](const std::string& value, std::initializer_list<const char*> allowed) {
    for (const char* option : allowed) {
      if (value == option) return true;
    }
    return false;
  };
  if (a.name.empty()) return fail("name is required");
  if (a.model_dir.empty()) return fail("model_dir is required");
  if (!one_of(a.task, {"classify", "multilabel", "embed", "token-classify"}))
    return fail("task must be classify, multilabel, embed or token-classify, got '" + a.task + "'");
  if (!one_of(a.precision, {"fp32", "fp16", "bf16", "fp8", "int8", "int8-weight-only", "int4", "nf4"}))
    return fail("precision must be fp32, fp16, bf16, fp8, int8, int8-weight-only, int4 or nf4, got '" +
                a.precision + "'");
  if (!one_of(a.device, {"auto", "cpu", "cuda"}))
    return fail("device must be auto, cpu or cuda, got '" + a.device + "'");
  if (a.memory_budget_bytes < 0) return fail("memory_budget_bytes must be >= 0");
  if (a.max_batch_items <= 0) return fail("max_batch_items must be positive");
  if (a.max_batch_tokens <= 0) return fail("max_batch_tokens must be positive");
  if (a.max_wait_ms < 0) return fail("max_wait_ms must be >= 0");
  if (a.truncation_length < 0) return fail("truncation_length must be >= 0");
  if (a.queue_capacity <= 0) return fail("queue_capacity must be positive");
  if (a.near_duplicate_threshold < -1 || a.near_duplicate_threshold > 1)
    return fail("near_duplicate_threshold must be a cosine similarity in [-1, 1]");
  if (a.story_threshold < -1 || a.story_threshold > 1)
    return fail("story_threshold must be a cosine similarity in [-1, 1]");
  if (!a.topics.empty() && a.task != "embed") return fail("topics are only for task embed");
  return ok_status();
}

Status parse_agents(const YAML::Node& node, const std::string& source, std::vector<AgentConfig>* agents) {
  if (node.IsNull()) return ok_status();
  if (!node.IsSequence()) return invalid_argument(source + ": agents must be a list");
  for (size_t agent_idx = 0; agent_idx < node.size(); ++agent_idx) {
    const std::string where = source + ": agents[" + std::to_string(agent_idx) + "]";
    const YAML::Node item = node[agent_idx];
    if (!item.IsMap()) return invalid_argument(where + " must be a mapping");
    AgentConfig agent;
    auto table = agent_bindings(agent);
    for (const auto& entry : item) {
      const std::string key = entry.first.as<std::string>();
      if (key == "topics") {
        if (entry.second.IsNull()) continue;
        if (!entry.second.IsMap()) return invalid_argument(where + ".topics must map label to description");
        for (const auto& topic : entry.second) {
          if (!topic.second.IsScalar())
            return invalid_argument(where + ".topics." + topic.first.as<std::string>() + ": expected a string");
          agent.topics[topic.first.as<std::string>()] = topic.second.as<std::string>();
        }
        continue;
      }
      auto binding = std::find_if(table.begin(), table.end(), [&](const auto& b) { return b.first == key; });
      if (binding == table.end()) return invalid_argument(where + ": unknown key '" + key + "'");
      if (entry.second.IsNull()) continue;
      JN_RETURN_IF_ERROR(assign(entry.second, binding->second, where + "." + key));
    }
    JN_RETURN_IF_ERROR(validate_agent(agent, where));
    for (const auto& other : *agents) {
      if (other.name == agent.name) return invalid_argument(where + ": agent name '" + agent.name + "' is used twice");
    }
    agents->push_back(std::move(agent));
  }
  return ok_status();
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return invalid_argument(source_name + ": not valid YAML: " + e.what());
  }
  Config config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) return invalid_argument(source_name + ": the top level must be a mapping");
  if (const YAML::Node agents = static_cast<const YAML::Node&>(root)["agents"]) {
    JN_RETURN_IF_ERROR(parse_agents(agents, source_name, &config.agents));
    root = YAML::Clone(root);
    root.remove("agents");
  }

  auto table = bindings(config);
  std::set<std::string> known;
  for (const auto& b : table) known.insert(b.section + "." + b.key);
  std::vector<std::string> present;
  collect_leaf_paths(root, "", &present);
  for (const auto& path : present) {
    if (!known.count(path)) return invalid_argument(source_name + ": unknown key '" + path + "'");
  }
  for (const auto& b : table) {
    const std::string path = b.section + "." + b.key;
    YAML::Node value = find_path(root, path);
    if (!value.IsDefined() || value.IsNull()) continue;
    JN_RETURN_IF_ERROR(assign(value, b.field, source_name + ": " + path));
  }
  JN_RETURN_IF_ERROR(validate(config, source_name));
  return config;
}

Result<Config> load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found("config file '" + path + "' cannot be opened");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

std::string config_to_yaml(const Config& config) {
  Config copy = config;
  YAML::Node root;
  for (const auto& b : bindings(copy)) {
    YAML::Node section = root;
    std::stringstream parts(b.section);
    std::string part;
    std::vector<std::string> keys;
    while (std::getline(parts, part, '.')) keys.push_back(part);
    std::visit(
        [&](auto* target) {
          if (keys.size() == 1) root[keys[0]][b.key] = *target;
          else root[keys[0]][keys[1]][b.key] = *target;
        },
        b.field);
  }
  for (AgentConfig agent : config.agents) {
    YAML::Node item;
    for (const auto& [key, field] : agent_bindings(agent)) {
      std::visit([&item, &key = key](auto* target) { item[key] = *target; }, field);
    }
    for (const auto& [label, description] : agent.topics) item["topics"][label] = description;
    root["agents"].push_back(item);
  }
  YAML::Emitter out;
  out << root;
  return out.c_str();
}

}  // namespace justnews
