// Text form of the GEMM timing cache: one entry per line, fields separated by spaces.
#include "engine/cuda/gemm_tuning.h"

#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace justnews::cuda {

namespace {

// Version 2: the kinds gained a candidate (small) and kinds 6-7 exist; a version-1 file chose among
// fewer, so it is retuned rather than reused.
constexpr const char* kHeader = "justnews-gemm-tuning 2";

std::string header_line(const std::string& library_version) {
  return std::string(kHeader) + " cublasLt " + library_version;
}

}  // namespace

std::string format_gemm_tuning(const GemmTuning& tuning, const std::string& library_version) {
  std::string text = header_line(library_version) + "\n";
  char word[24];
  for (const TunedCublasLt& entry : tuning.cublaslt) {
    text += "cublaslt " + std::to_string(entry.row_class) + " " + std::to_string(entry.in_features) + " " +
            std::to_string(entry.out_features) + " " + std::to_string(entry.epilogue);
    for (uint64_t value : entry.algo) {
      std::snprintf(word, sizeof(word), " %016" PRIx64, value);
      text += word;
    }
    text += "\n";
  }
  for (const TunedSm90& entry : tuning.sm90) {
    text += "sm90 " + std::to_string(entry.row_class) + " " + std::to_string(entry.cols) + " " +
            std::to_string(entry.depth) + " " + std::to_string(entry.kind) + " " + std::to_string(entry.schedule) +
            "\n";
  }
  return text;
}

Result<GemmTuning> parse_gemm_tuning(const std::string& text, const std::string& library_version) {
  std::istringstream lines(text);
  std::string line;
  if (!std::getline(lines, line) || line != header_line(library_version))
    return invalid_argument("GEMM tuning: header '" + line + "' is not '" + header_line(library_version) + "'");
  GemmTuning tuning;
  int line_number = 1;
  while (std::getline(lines, line)) {
    ++line_number;
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string kind;
    fields >> kind;
    bool good = false;
    if (kind == "cublaslt") {
      TunedCublasLt entry;
      fields >> entry.row_class >> entry.in_features >> entry.out_features >> entry.epilogue;
      for (uint64_t& value : entry.algo) fields >> std::hex >> value;
      good = !fields.fail() && entry.row_class > 0 && entry.in_features > 0 && entry.out_features > 0;
      if (good) tuning.cublaslt.push_back(entry);
    } else if (kind == "sm90") {
      TunedSm90 entry;
      fields >> entry.row_class >> entry.cols >> entry.depth >> entry.kind >> entry.schedule;
      good = !fields.fail() && entry.row_class > 0 && entry.cols > 0 && entry.depth > 0 &&
             entry.schedule >= 0 && entry.schedule < sm90_candidate_count(entry.kind);
      if (good) tuning.sm90.push_back(entry);
    }
    std::string rest;
    if (!good || (fields >> rest))
      return invalid_argument("GEMM tuning: line " + std::to_string(line_number) + " is malformed: '" + line + "'");
  }
  return tuning;
}

Result<GemmTuning> read_gemm_tuning(const std::string& path, const std::string& library_version) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("GEMM tuning: no file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = parse_gemm_tuning(text.str(), library_version);
  if (!parsed.ok()) return parsed.status().with_context(path);
  return parsed;
}

Status write_gemm_tuning(const std::string& path, const GemmTuning& tuning, const std::string& library_version) {
  static std::atomic<uint64_t> counter{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << format_gemm_tuning(tuning, library_version);
    if (!out.flush()) return io_error("GEMM tuning: cannot write " + temp);
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) {
    std::filesystem::remove(temp, error);
    return io_error("GEMM tuning: cannot rename " + temp + " to " + path);
  }
  return ok_status();
}

}  // namespace justnews::cuda
