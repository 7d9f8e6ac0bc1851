// The GEMM timing cache's text form (no GPU needed): round trip, and files that must not be used.
#include "engine/cuda/gemm_tuning.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <utility>
#include <vector>

namespace justnews::cuda {
namespace {

GemmTuning sample() {
  GemmTuning tuning;
  TunedCublasLt algo;
  algo.row_class = 4096, algo.in_features = 768, algo.out_features = 2304, algo.epilogue = 1;
  for (int idx = 0; idx < 8; ++idx) algo.algo[idx] = 0x0123456789abcdefull * (idx + 1);
  tuning.cublaslt.push_back(algo);
  tuning.sm90.push_back({16384, 3072, 768, 0, 1});
  return tuning;
}

TEST(GemmTuningText, RoundTripsEveryField) {
  const GemmTuning tuning = sample();
  auto parsed = parse_gemm_tuning(format_gemm_tuning(tuning, "130100"), "130100");
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->cublaslt.size(), 1u);
  ASSERT_EQ(parsed->sm90.size(), 1u);
  const TunedCublasLt& algo = parsed->cublaslt[0];
  EXPECT_EQ(algo.row_class, 4096);
  EXPECT_EQ(algo.in_features, 768);
  EXPECT_EQ(algo.out_features, 2304);
  EXPECT_EQ(algo.epilogue, 1);
  for (int idx = 0; idx < 8; ++idx) EXPECT_EQ(algo.algo[idx], tuning.cublaslt[0].algo[idx]) << idx;
  EXPECT_EQ(parsed->sm90[0].row_class, 16384);
  EXPECT_EQ(parsed->sm90[0].cols, 3072);
  EXPECT_EQ(parsed->sm90[0].depth, 768);
  EXPECT_EQ(parsed->sm90[0].kind, 0);
  EXPECT_EQ(parsed->sm90[0].schedule, 1);
}

TEST(GemmTuningText, AnotherLibraryVersionOrAMalformedLineIsRefusedWhole) {
  const std::string text = format_gemm_tuning(sample(), "130100");
  EXPECT_EQ(parse_gemm_tuning(text, "130200").status().code(), StatusCode::kInvalidArgument);
  const auto truncated = parse_gemm_tuning(text.substr(0, text.size() - 20), "130100");
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidArgument);
  const auto bad_schedule = parse_gemm_tuning("justnews-gemm-tuning 2 cublasLt 7\nsm90 1 16 16 0 3\n", "7");
  ASSERT_FALSE(bad_schedule.ok());
  EXPECT_NE(bad_schedule.status().message().find("line 2"), std::string::npos) << bad_schedule.status().message();
  EXPECT_EQ(parse_gemm_tuning("justnews-gemm-tuning 2 cublasLt 7\nsm90 1 16 16 0 1 extra\n", "7").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(parse_gemm_tuning("justnews-gemm-tuning 2 cublasLt 7\n", "7").ok());  // empty is fine
  // Candidates: the code GEMMs (kinds 0, 1, 4, 5, and the unsigned-codes ones 8, 9) three
  // schedules; the bias + GELU GEMMs (2, 3) three schedules and the unfused path; the bias GEMMs
  // (6, 7) cuBLASLt and two schedules; kind 10 is unknown.
  const auto parses = [](int kind, int schedule) {
    return parse_gemm_tuning("justnews-gemm-tuning 2 cublasLt 7\nsm90 1 16 16 " + std::to_string(kind) +
                                 " " + std::to_string(schedule) + "\n",
                             "7")
        .ok();
  };
  for (const auto& [kind, count] : std::vector<std::pair<int, int>>{
           {0, 3}, {1, 3}, {4, 3}, {5, 3}, {2, 4}, {3, 4}, {6, 3}, {7, 3}, {8, 3}, {9, 3}}) {
    EXPECT_TRUE(parses(kind, count - 1)) << kind;
    EXPECT_FALSE(parses(kind, count)) << kind;
  }
  EXPECT_FALSE(parses(10, 0));
  // A version-1 file chose among fewer candidates: not reused.
  EXPECT_FALSE(parse_gemm_tuning("justnews-gemm-tuning 1 cublasLt 7\n", "7").ok());
}

TEST(GemmTuningFile, WritesAtomicallyAndReportsAMissingFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("jn_tuning_" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "plan.tuning").string();
  EXPECT_EQ(read_gemm_tuning(path, "1").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(write_gemm_tuning(path, sample(), "1").ok());
  auto read = read_gemm_tuning(path, "1");
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->size(), 2u);
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);  // no temporary left behind
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace justnews::cuda
