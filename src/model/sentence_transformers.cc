// modules.json and Pooling config.json parsing.
#include "model/sentence_transformers.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "model/byte_buffer.h"

namespace justnews {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kPoolingType = "sentence_transformers.models.Pooling";
constexpr const char* kNormalizeType = "sentence_transformers.models.Normalize";

Result<Json> read_json(const std::string& path) {
  JN_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return invalid_argument(path + ": not valid JSON");
  return value;
}

bool flag(const Json& object, const char* key) {
  auto found = object.find(key);
  return found != object.end() && found->is_boolean() && found->get<bool>();
}

Result<PoolingMode> parse_pooling(const std::string& path) {
  JN_ASSIGN_OR_RETURN(Json config, read_json(path));
  if (!config.is_object()) return invalid_argument(path + ": expected a JSON object");
  for (const char* other : {"pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken",
                            "pooling_mode_mean_sqrt_len_tokens"}) {
    if (flag(config, other))
      return unsupported(path + ": '" + other + "' pooling is not supported; supported: cls, mean, max");
  }
  const bool cls = flag(config, "pooling_mode_cls_token");
  const bool mean = flag(config, "pooling_mode_mean_tokens");
  const bool max = flag(config, "pooling_mode_max_tokens");
  if (cls + mean + max != 1)
    return unsupported(path + ": exactly one of pooling_mode_cls_token, pooling_mode_mean_tokens, "
                              "pooling_mode_max_tokens must be true (concatenated poolings are not "
                              "supported)");
  if (cls) return PoolingMode::kCls;
  return mean ? PoolingMode::kMean : PoolingMode::kMax;
}

}  // namespace

Result<PoolingConfig> load_sentence_pooling(const std::string& directory) {
  PoolingConfig pooling;
  const std::string modules_path = (fs::path(directory) / "modules.json").string();
  std::error_code error;
  if (!fs::exists(modules_path, error)) return pooling;
  JN_ASSIGN_OR_RETURN(Json modules, read_json(modules_path));
  if (!modules.is_array()) return invalid_argument(modules_path + ": expected a JSON array of modules");
  for (const Json& module : modules) {
    if (!module.is_object()) return invalid_argument(modules_path + ": every module must be an object");
    auto type = module.find("type");
    if (type == module.end() || !type->is_string()) continue;
    if (*type == kNormalizeType) {
      pooling.normalize = true;
    } else if (*type == kPoolingType) {
      auto path = module.find("path");
      if (path == module.end() || !path->is_string())
        return invalid_argument(modules_path + ": the Pooling module has no 'path' string");
      const fs::path module_dir(path->get<std::string>());
      for (const auto& part : module_dir) {
        if (part == "..")
          return invalid_argument(modules_path + ": module path '" + module_dir.string() +
                                  "' leaves the model directory");
      }
      if (module_dir.is_absolute())
        return invalid_argument(modules_path + ": module path '" + module_dir.string() +
                                "' must be relative to the model directory");
      JN_ASSIGN_OR_RETURN(pooling.mode,
                          parse_pooling((fs::path(directory) / module_dir / "config.json").string()));
      pooling.present = true;
    }
  }
  return pooling;
}

Result<int64_t> load_sentence_max_length(const std::string& directory) {
  const std::string path = (fs::path(directory) / "sentence_bert_config.json").string();
  std::error_code error;
  if (!fs::exists(path, error)) return int64_t{0};
  JN_ASSIGN_OR_RETURN(Json config, read_json(path));
  auto found = config.find("max_seq_length");
  if (!config.is_object() || found == config.end()) return int64_t{0};
  if (!found->is_number_integer() || found->get<int64_t>() <= 0)
    return invalid_argument(path + ": max_seq_length must be a positive integer");
  return found->get<int64_t>();
}

}  // namespace justnews
