// Logging: a thin front over spdlog so that modules log through one configured logger (stderr).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace justnews {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Sets the process-wide level; parse_log_level accepts "trace".."off".
void set_log_level(LogLevel level);
bool parse_log_level(std::string_view name, LogLevel* level);

}  // namespace justnews

#define JN_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define JN_LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define JN_LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define JN_LOG_ERROR(...) spdlog::error(__VA_ARGS__)
