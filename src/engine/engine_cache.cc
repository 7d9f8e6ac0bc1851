// Engine cache: plan lookup by key, rebuild on any unusable plan, model fingerprints.
#include "engine/engine_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

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

// One version of a file, told without reading it: device, inode, size, mtime and ctime (ctime
// cannot be set by users, so a rewrite that restores mtime still shows), and when it last changed.
struct FileVersion {
  std::string identity;
  double changed_s = 0;  // seconds since the epoch, the later of mtime and ctime
};

std::optional<FileVersion> file_version(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  std::ostringstream out;
  out << info.st_dev << ' ' << info.st_ino << ' ' << info.st_size << ' ' << info.st_mtim.tv_sec << '.'
      << info.st_mtim.tv_nsec << ' ' << info.st_ctim.tv_sec << '.' << info.st_ctim.tv_nsec;
  return FileVersion{out.str(), std::max(info.st_mtim.tv_sec + info.st_mtim.tv_nsec * 1e-9,
                                         info.st_ctim.tv_sec + info.st_ctim.tv_nsec * 1e-9)};
}

// The weights file's hash, from `memo_dir` when a memo of this very file version is there. A memo
// holds three lines: the canonical path, the file's identity and stat, the hash.
Result<std::string> weights_hash(const std::string& weights_path, const std::string& memo_dir) {
  std::error_code error;
  std::string canonical = fs::weakly_canonical(weights_path, error).string();
  if (error) canonical = weights_path;
  const std::optional<FileVersion> before = file_version(weights_path);
  const std::string memo_path =
      memo_dir.empty() ? "" : (fs::path(memo_dir) / (hash_to_hex(xxhash64(canonical)) + ".weights-hash")).string();
  if (!memo_path.empty()) {
    std::ifstream memo(memo_path);
    std::string memo_path_line, memo_stat_line, memo_hash;
    if (std::getline(memo, memo_path_line) && std::getline(memo, memo_stat_line) && std::getline(memo, memo_hash) &&
        memo_path_line == canonical && before && memo_stat_line == before->identity &&
        memo_hash.size() == 16)
      return memo_hash;
  }
  JN_ASSIGN_OR_RETURN(ByteBuffer weights, map_file(weights_path));
  const std::string hash = hash_to_hex(xxhash64(weights.data, weights.size));
  // Remembered only for a file that stood still while it was hashed and for a while before.
  const std::optional<FileVersion> after = file_version(weights_path);
  const double now_s =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (!memo_path.empty() && before && after && after->identity == before->identity &&
      now_s - before->changed_s >= 2.0) {
    // Written under a unique name, then renamed: readers see the old memo or the whole new one.
    static std::atomic<uint64_t> counter{0};
    fs::create_directories(memo_dir, error);
    const std::string temp = memo_path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    {
      std::ofstream out(temp, std::ios::trunc);
      out << canonical << '\n' << before->identity << '\n' << hash << '\n';
    }
    fs::rename(temp, memo_path, error);
    if (error) fs::remove(temp, error);  // a memo only saves time: failing to write one is fine
  }
  return hash;
}

}  // namespace

Result<ModelFingerprint> fingerprint_model(const LoadedModel& model, const std::string& memo_dir) {
  const fs::path directory(model.directory);
  std::string tokenizer_text;
  JN_RETURN_IF_ERROR(hash_files(directory, kTokenizerFiles, std::size(kTokenizerFiles), tokenizer_text));
  std::string model_text;
  JN_RETURN_IF_ERROR(hash_files(directory, kConfigFiles, std::size(kConfigFiles), model_text));
  JN_ASSIGN_OR_RETURN(const std::string weights, weights_hash(model.weights_path, memo_dir));
  model_text += "weights:" + fs::path(model.weights_path).filename().string() + "=" + weights + "\n";
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
