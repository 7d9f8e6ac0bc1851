// When the CLI may skip its OpenBLAS re-exec: only `analyze` runs whose agents are all on CUDA.
#include "../../apps/justnews/blas_environment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace justnews::cli {
namespace {

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& yaml) {
    path_ = (std::filesystem::temp_directory_path() / ("jn_blas_env_" + std::to_string(std::random_device{}()) + ".yaml"))
                .string();
    std::ofstream(path_) << yaml;
  }
  ~ConfigFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool only_cuda(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return analyze_runs_only_on_cuda(static_cast<int>(args.size()), argv.data());
}

constexpr const char* kTwoAgents =
    "agents:\n"
    "  - name: a\n    model_dir: m\n    task: embed\n    device: cuda\n"
    "  - name: b\n    model_dir: m\n    task: classify\n    device: %s\n";

std::string two_agents(const std::string& second_device) {
  std::string text = kTwoAgents;
  return text.replace(text.find("%s"), 2, second_device);
}

TEST(BlasEnvironment, SkipsTheReexecOnlyWhenEveryAgentIsOnCuda) {
  const ConfigFile all_cuda(two_agents("cuda"));
  EXPECT_TRUE(only_cuda({"justnews", "analyze", "--config", all_cuda.path(), "in.jsonl"}));
  EXPECT_FALSE(only_cuda({"justnews", "embed", "--config", all_cuda.path()}));

  const ConfigFile one_cpu(two_agents("cpu"));
  EXPECT_FALSE(only_cuda({"justnews", "analyze", "--config", one_cpu.path(), "in.jsonl"}));

  // device auto follows engine.backend, which --backend overrides.
  const ConfigFile one_auto(two_agents("auto"));
  EXPECT_FALSE(only_cuda({"justnews", "analyze", "--config", one_auto.path(), "in.jsonl"}));
  EXPECT_TRUE(only_cuda({"justnews", "analyze", "--config", one_auto.path(), "--backend", "cuda", "in.jsonl"}));
  const ConfigFile engine_cuda("engine:\n  backend: cuda\n" + two_agents("auto"));
  EXPECT_TRUE(only_cuda({"justnews", "analyze", "--config", engine_cuda.path(), "in.jsonl"}));
  EXPECT_FALSE(only_cuda({"justnews", "analyze", "--config", engine_cuda.path(), "--backend", "cpu", "in.jsonl"}));

  // Unclear: no config (default agents), or one that does not load.
  EXPECT_FALSE(only_cuda({"justnews", "analyze", "in.jsonl"}));
  EXPECT_FALSE(only_cuda({"justnews", "analyze", "--config", "/nonexistent.yaml", "in.jsonl"}));
}

}  // namespace
}  // namespace justnews::cli
