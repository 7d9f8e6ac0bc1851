// The SQLite Store: one embedded database file (WAL journal, so a killed process loses at most the
// transaction in flight). Tables: articles (unique content hash, URL index) and results (one row
// per article and agent, with an optional float32 vector blob).
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "store/store.h"

namespace justnews {

// Creates the file and schema when absent. ":memory:" gives a private in-memory database.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace justnews
