// CliArgs implementation.
#include "cli_args.h"

#include <charconv>

namespace justnews::cli {

Result<CliArgs> CliArgs::parse(int argc, char** argv, const std::set<std::string>& value_options,
                               const std::set<std::string>& flag_options) {
  CliArgs args;
  for (int arg_idx = 0; arg_idx < argc; ++arg_idx) {
    std::string arg = argv[arg_idx];
    if (arg.size() < 3 || arg.rfind("--", 0) != 0) {
      args.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_value = true;
    }
    if (flag_options.count(name)) {
      if (has_inline_value) return invalid_argument("option --" + name + " takes no value");
      args.flags_.insert(name);
    } else if (value_options.count(name)) {
      if (!has_inline_value) {
        if (arg_idx + 1 >= argc) return invalid_argument("option --" + name + " needs a value");
        value = argv[++arg_idx];
      }
      args.values_[name] = value;
    } else {
      return invalid_argument("unknown option --" + name);
    }
  }
  return args;
}

std::string CliArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Result<int> CliArgs::get_int(const std::string& name, int fallback, int min_value,
                             int max_value) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int value = 0;
  const std::string& text = it->second;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    return invalid_argument("option --" + name + " expects an integer, got '" + text + "'");
  if (value < min_value || value > max_value)
    return out_of_range("option --" + name + " must be in [" + std::to_string(min_value) + ", " +
                        std::to_string(max_value) + "], got " + text);
  return value;
}

}  // namespace justnews::cli
