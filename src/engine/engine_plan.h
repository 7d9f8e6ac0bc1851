// EnginePlan: a model compiled for one backend, device and precision — weights already converted
// and laid out as the backend uploads them (Q, K, V fused), the config, the tokenizer's hash and
// the key it was built for — and its file format, so a later run loads it (mmap + one copy to the
// device) instead of converting the checkpoint again.
//
// File layout (little-endian): "JNPLAN\0\0", u32 format version, u32 section count, then per
// section a 16-byte zero-padded name, u64 offset, u64 size, u64 xxhash64 of the bytes; then the
// xxhash64 of everything before it. Sections start on 4096-byte boundaries: "meta" (JSON: key,
// config, tensor table, limits) and "weights" (raw bytes). Any mismatch reads as kCorruptData.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/byte_buffer.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"

namespace justnews {

// Bumped whenever kernels or the weight layout change what a plan holds or how it is read.
inline constexpr const char* kEngineVersion = "justnews-engine 0.5 (weights v2: fp8 / int8 codes and scales, fp16 activations; attention v3; sm90 GEMMs)";
inline constexpr uint32_t kEnginePlanFormatVersion = 1;

// Everything a plan depends on. Two runs that agree on every field can share a plan.
struct PlanKey {
  std::string model_hash;          // weights, config and tokenizer contents (fingerprint_model)
  std::string device_name;         // "NVIDIA H200", or "cpu"
  std::string compute_capability;  // "9.0"; empty for the CPU
  std::string precision;           // fp16 | bf16 | fp32
  std::string engine_version = kEngineVersion;
  std::string build_options;       // plan options that change its contents or limits

  // Canonical text, one "field=value" per line; the cache compares it in full.
  std::string to_string() const;
  // xxhash64 of to_string(), 16 hex digits: the plan's file name in the cache.
  std::string hash() const;
};

// One named tensor inside the weights section.
struct PlanTensor {
  std::string name;
  uint64_t offset = 0;
  uint64_t size_bytes = 0;
};

struct EnginePlan {
  PlanKey key;
  EncoderConfig config;
  HeadActivation head_pre_activation = HeadActivation::kNone;  // sequence heads with a pre-projection
  std::string tokenizer_hash;
  std::string source;                 // what it was compiled from (a model directory)
  std::string notes;                  // how it was chosen (calibration, automatic precision evidence)
  int64_t max_batch_tokens = 0;       // the workspace is sized for this many tokens
  int64_t max_batch_sequences = 0;    // and this many sequences
  uint64_t gemm_workspace_bytes = 0;  // backend scratch (cuBLASLt)
  std::vector<PlanTensor> tensors;
  ByteBuffer weights;                 // owned bytes when built, a read-only mapping when read

  // Null when the plan has no tensor of that name.
  const PlanTensor* find(const std::string& name) const;
};

// Writes `plan` to `path` atomically (a temporary file in the same directory, then rename), so a
// reader never sees half a plan under the final name.
Status write_engine_plan(const EnginePlan& plan, const std::string& path);

// Maps `path` and verifies magic, version, section bounds and every checksum before returning.
// A missing file is kNotFound; a truncated or damaged one kCorruptData naming what failed.
Result<EnginePlan> read_engine_plan(const std::string& path);

}  // namespace justnews
