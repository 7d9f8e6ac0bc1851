// Logging setup: everything goes to stderr so that stdout stays clean for JSONL output.
#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace justnews {
namespace {

void ensure_stderr_logger() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("justnews");
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
    spdlog::set_default_logger(logger);
  });
}

}  // namespace

void set_log_level(LogLevel level) {
  ensure_stderr_logger();
  static constexpr spdlog::level::level_enum kLevels[] = {
      spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
      spdlog::level::warn,  spdlog::level::err,   spdlog::level::off};
  spdlog::set_level(kLevels[static_cast<int>(level)]);
}

bool parse_log_level(std::string_view name, LogLevel* level) {
  static constexpr std::pair<std::string_view, LogLevel> kNames[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"off", LogLevel::kOff}};
  for (const auto& [text, value] : kNames) {
    if (text == name) {
      *level = value;
      return true;
    }
  }
  return false;
}

}  // namespace justnews
