// Engine cache: plan lookup by key, rebuild on any unusable plan, model fingerprints.
#include "engine/engine_cache.h"

#include <cstdlib>
#include <filesystem>

#include "core/logging.h"
#include "engine/plan_checksum.h"
#include "model/byte_buffer.h"
#include "model/model_dir.h"

namespace justnews {

namespace {

namespace fs = std::filesystem;

// Files besides the weights that change the model's outputs (config, sentence-transformers
// modules) or its token ids (tokenizer files), relative to the model directory.
constexpr const char* kConfigFiles[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "1_Pooling/config.json"};
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "vocab.txt", "vocab.json",
                                           "merges.txt"};

// Appends "name=<hash>\n" for every file of `names` that exists under `directory`.
Status hash_files(const fs::path& directory, const char* const* names, size_t count, std::string& out) {
  for (size_t idx = 0; idx < count; ++idx) {
    const fs::path path = directory / names[idx];
    std::error_code error;
    if (!fs::is_regular_file(path, error)) continue;
    JN_ASSIGN_OR_RETURN(ByteBuffer bytes, map_file(path.string()));
    out += std::string(names[idx]) + "=" + hash_to_hex(xxhash64(bytes.data, bytes.size)) + "\n";
  }
  return ok_status();
}

}  // namespace

Result<ModelFingerprint> fingerprint_model(const LoadedModel& model) {
  const fs::path directory(model.directory);
  std::string tokenizer_text;
  JN_RETURN_IF_ERROR(hash_files(directory, kTokenizerFiles, std::size(kTokenizerFiles), tokenizer_text));
  std::string model_text;
  JN_RETURN_IF_ERROR(hash_files(directory, kConfigFiles, std::size(kConfigFiles), model_text));
  JN_ASSIGN_OR_RETURN(ByteBuffer weights, map_file(model.weights_path));
  model_text += "weights:" + fs::path(model.weights_path).filename().string() + "=" +
                hash_to_hex(xxhash64(weights.data, weights.size)) + "\n";
  ModelFingerprint fingerprint;
  fingerprint.tokenizer_hash = hash_to_hex(xxhash64(tokenizer_text));
  fingerprint.model_hash = hash_to_hex(xxhash64(model_text + "tokenizer=" + fingerprint.tokenizer_hash));
  return fingerprint;
}

const char* plan_origin_name(PlanOrigin origin) {
  switch (origin) {
    case PlanOrigin::kLoaded: return "loaded";
    case PlanOrigin::kBuilt: return "built";
    case PlanOrigin::kRebuilt: return "rebuilt";
  }
  return "unknown";
}

std::string EngineCache::plan_path(const PlanKey& key) const {
  return (fs::path(directory_) / (key.hash() + ".jnplan")).string();
}

Result<CachedPlan> EngineCache::load_or_build(const PlanKey& key,
                                              const std::function<Result<EnginePlan>()>& build) const {
  CachedPlan cached;
  cached.path = plan_path(key);
  auto existing = read_engine_plan(cached.path);
  if (existing.ok() && existing->key.to_string() == key.to_string()) {
    cached.plan = std::move(existing).value();
    cached.origin = PlanOrigin::kLoaded;
    return cached;
  }
  if (existing.ok()) {
    // Same file name, other key: a hash collision or a renamed file. Never trust it.
    cached.origin = PlanOrigin::kRebuilt;
    cached.reason = cached.path + " was built for another key";
  } else if (existing.status().code() != StatusCode::kNotFound) {
    cached.origin = PlanOrigin::kRebuilt;
    cached.reason = existing.status().message();
  }
  if (cached.origin == PlanOrigin::kRebuilt)
    JN_LOG_WARN("engine cache: rebuilding plan: {}", cached.reason);

  JN_ASSIGN_OR_RETURN(cached.plan, build());
  if (cached.plan.key.to_string() != key.to_string())
    return internal_error("engine cache: the plan builder returned a plan for another key");
  std::error_code error;
  fs::create_directories(directory_, error);
  if (error)
    return io_error("engine cache: cannot create directory " + directory_ + ": " + error.message());
  JN_RETURN_IF_ERROR(write_engine_plan(cached.plan, cached.path));
  return cached;
}

std::string default_engine_cache_dir() {
  if (const char* explicit_dir = std::getenv("JUSTNEWS_ENGINE_CACHE"); explicit_dir && *explicit_dir)
    return explicit_dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return (fs::path(xdg) / "justnews" / "engines").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : "/tmp") / ".cache" / "justnews" / "engines").string();
}

}  // namespace justnews
