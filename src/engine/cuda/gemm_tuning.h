// The GEMM choices that autotuning timed (cuBLASLt algorithms and sm90 schedules, per power-of-two
// row class), kept in a small text file beside an engine plan so that a restart reuses them instead
// of timing again: TensorRT's timing cache. The plan's key already pins the GPU and the engine
// version; the file also records the cuBLASLt version and is ignored when that differs. A stale
// or foreign entry costs nothing worse than a fresh tuning: cuBLASLt algorithms are checked
// against each shape before use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace justnews::cuda {

struct TunedCublasLt {
  int64_t row_class = 0, in_features = 0, out_features = 0;
  int epilogue = 0;
  uint64_t algo[8] = {};  // cublasLtMatmulAlgo_t's opaque words
};

// The sm90 GEMM kinds (sm90/gemm_sm90.cc) and how many candidates autotuning chooses among (the
// lists are in gemm_sm90.h; new candidates are appended, so a cached index keeps its meaning); 0 for
// an unknown kind.
enum Sm90Kind : int {
  kSm90Fp8Scaled = 0,
  kSm90Int8Scaled = 1,
  kSm90Fp16BiasGelu = 2,
  kSm90Bf16BiasGelu = 3,
  kSm90Fp8GeluCodes = 4,
  kSm90Int8GeluCodes = 5,
  kSm90Fp16Bias = 6,
  kSm90Bf16Bias = 7,
  kSm90Uint8Scaled = 8,
  kSm90Int8GeluUnsignedCodes = 9,
};
inline int sm90_candidate_count(int kind) {
  switch (kind) {
    case kSm90Fp8Scaled:
    case kSm90Int8Scaled:
    case kSm90Fp8GeluCodes:
    case kSm90Int8GeluCodes:
    case kSm90Uint8Scaled:
    case kSm90Int8GeluUnsignedCodes:
      return 3;
    case kSm90Fp16BiasGelu:
    case kSm90Bf16BiasGelu:
      return 4;
    case kSm90Fp16Bias:
    case kSm90Bf16Bias:
      return 3;
    default:
      return 0;
  }
}

struct TunedSm90 {
  int64_t row_class = 0, cols = 0, depth = 0;
  int kind = 0;
  int schedule = 0;
};

struct GemmTuning {
  std::vector<TunedCublasLt> cublaslt;
  std::vector<TunedSm90> sm90;
  size_t size() const { return cublaslt.size() + sm90.size(); }
};

// The text form: a header naming the format and `library_version`, then one line per entry.
std::string format_gemm_tuning(const GemmTuning& tuning, const std::string& library_version);
// Parses that text; a header for another format or library version, or any malformed line, makes
// the whole file unusable (kInvalidArgument naming the line): it is then simply not used.
Result<GemmTuning> parse_gemm_tuning(const std::string& text, const std::string& library_version);

// Reads `path` (kNotFound when absent) / writes it atomically (a unique temporary, then rename).
Result<GemmTuning> read_gemm_tuning(const std::string& path, const std::string& library_version);
Status write_gemm_tuning(const std::string& path, const GemmTuning& tuning, const std::string& library_version);

}  // namespace justnews::cuda
