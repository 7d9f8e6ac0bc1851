// Store backend selection.
#include "store/store.h"

#include "store/sqlite/sqlite_store.h"

namespace justnews {

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config, const std::string& sqlite_path) {
  if (config.backend == "sqlite") {
    return open_sqlite_store(sqlite_path.empty() ? config.sqlite_path : sqlite_path);
  }
  return unsupported("store.backend '" + config.backend +
                     "' is not available in this build (supported: sqlite)");
}

}  // namespace justnews
