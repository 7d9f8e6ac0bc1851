// CliArgs: a small parser for "--name value", "--flag" and positional arguments, with errors that
// name the offending option.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews::cli {

class CliArgs {
 public:
  // `value_options` take a value ("--batch-size 32" or "--batch-size=32"); `flag_options` do not.
  static Result<CliArgs> parse(int argc, char** argv, const std::set<std::string>& value_options,
                               const std::set<std::string>& flag_options);

  bool has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  // Parses an integer option within [min_value, max_value].
  Result<int> get_int(const std::string& name, int fallback, int min_value, int max_value) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace justnews::cli
