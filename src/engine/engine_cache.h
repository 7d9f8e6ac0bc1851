// EngineCache: a directory of engine plans keyed by PlanKey. load_or_build() returns the cached
// plan when one with the same key is there and intact; otherwise (missing, another key, truncated,
// checksum mismatch) it builds the plan, writes it atomically and says why it had to.
// Also the content fingerprints that go into keys: weights, config and tokenizer files.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "engine/engine_plan.h"

namespace justnews {

struct LoadedModel;

struct ModelFingerprint {
  std::string model_hash;      // weights file, config and tokenizer files together
  std::string tokenizer_hash;  // tokenizer files alone (empty set hashes too)
};

// Hashes (xxhash64) the weights file `model.weights_path` and the small files of the model
// directory that change what the model computes or how text is tokenised. With `memo_dir`, the
// weights' hash (the slow part: hundreds of MB) is remembered there against the file's identity
// and stat (device, inode, size, mtime, ctime) and reused while those stay the same; files changed
// less than two seconds before hashing are never remembered (timestamps can be that coarse).
Result<ModelFingerprint> fingerprint_model(const LoadedModel& model, const std::string& memo_dir = "");

enum class PlanOrigin {
  kLoaded,   // read from the cache
  kBuilt,    // none was cached
  kRebuilt,  // one was cached but unusable (damaged or built for another key)
};
const char* plan_origin_name(PlanOrigin origin);

struct CachedPlan {
  EnginePlan plan;
  PlanOrigin origin = PlanOrigin::kBuilt;
  std::string path;    // where the plan lives in the cache
  std::string reason;  // why a cached plan was not used (kRebuilt)
};

class EngineCache {
 public:
  explicit EngineCache(std::string directory) : directory_(std::move(directory)) {}

  const std::string& directory() const { return directory_; }
  // <directory>/<key hash>.jnplan
  std::string plan_path(const PlanKey& key) const;

  // Builds through `build` when needed; `build` must return a plan whose key equals `key`.
  Result<CachedPlan> load_or_build(const PlanKey& key,
                                   const std::function<Result<EnginePlan>()>& build) const;

 private:
  std::string directory_;
};

// The default cache directory: $JUSTNEWS_ENGINE_CACHE, else $XDG_CACHE_HOME/justnews/engines,
// else ~/.cache/justnews/engines.
std::string default_engine_cache_dir();

}  // namespace justnews
