// The CUDA encoder: the Encoder interface on one GPU. Weights are converted to the chosen precision
// and uploaded once (Q, K, V fused into one [3·hidden, hidden] matrix); a workspace sized for
// max_batch_tokens is allocated once, so forward() allocates no device memory. One stream, pinned
// staging buffers for inputs and outputs, async copies, and (optionally) one CUDA graph per batch
// shape, replayed when the same shape comes back.
// forward() calls are serialised by a mutex: use one encoder per engine thread for concurrency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/encoder.h"
#include "engine/engine_plan.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"
#include "model/model_dir.h"

namespace justnews {

struct CudaEncoderOptions {
  // Plan options (part of the plan and its cache key):
  cuda::Precision precision = cuda::Precision::kFp16;
  int64_t max_batch_tokens = 16384;         // largest total_tokens one forward() accepts
  int64_t max_batch_sequences = 1024;       // largest num_sequences one forward() accepts
  size_t workspace_bytes = 32ull << 20;     // cuBLASLt scratch
  // Checked when a plan is built: the activation workspace sized for max_batch_tokens (+ cuBLASLt
  // scratch) must fit (the original system's 1 GB CUDA workspace).
  size_t max_workspace_bytes = 1ull << 30;
  // Run-time options:
  int device = 0;
  bool use_cuda_graphs = true;              // capture a shape the second time it is seen
  int64_t max_cached_graphs = 64;           // beyond this, new shapes run without a graph
  cuda::AttentionKernel attention_kernel = cuda::AttentionKernel::kAuto;
  // Runs erf-GELU models with cuBLASLt's fused GELU_BIAS epilogue (the tanh approximation) instead
  // of a separate bias + erf-GELU pass. Off by default: an accuracy trade, measured in
  // docs/cuda_notes.md.
  bool gelu_erf_as_tanh = false;
};

struct CudaDeviceIdentity {
  std::string name;                // cudaDeviceProp::name, e.g. "NVIDIA H200"
  std::string compute_capability;  // "9.0"
};

Result<CudaDeviceIdentity> cuda_device_identity(int device);
Result<cuda::Precision> precision_from_name(const std::string& name);

// The cache key of a CUDA plan for the model with content hash `model_hash` on `identity`.
PlanKey cuda_plan_key(const std::string& model_hash, const CudaDeviceIdentity& identity,
                      const CudaEncoderOptions& options);

// Converts the weights into the backend's layout and precision (Q, K, V fused): what
// `justnews compile` writes. Refuses configs the backend cannot run and workspaces over the limit.
Result<EnginePlan> build_cuda_plan(const EncoderConfig& config, const EncoderWeights& weights,
                                   const CudaEncoderOptions& options, const PlanKey& key);

// From a plan: one copy of its weights section to the device. Precision and batch limits come from
// the plan; device, graphs, attention kernel and GELU choice from `options`.
Result<std::unique_ptr<Encoder>> make_cuda_encoder(const EnginePlan& plan,
                                                   const CudaEncoderOptions& options);
// Errors name the weight or config field that does not fit, or the device call that failed.
Result<std::unique_ptr<Encoder>> make_cuda_encoder(const LoadedModel& model,
                                                   const CudaEncoderOptions& options);
Result<std::unique_ptr<Encoder>> make_cuda_encoder(const EncoderConfig& config,
                                                   const EncoderWeights& weights,
                                                   const CudaEncoderOptions& options);

// Median device time (CUDA events) of the forward pass on `batch` with inputs already on the
// device and outputs left there (layers + pooling): the figure comparable to peers timed on
// device-resident tensors. forward() adds the host copies on top.
Result<double> cuda_encoder_device_time_ms(Encoder& encoder, const PackedBatch& batch, int iterations);

// Device memory the encoder holds (weights + workspace + staging), for budgets and benchmarks.
// Returns 0 for encoders of other backends.
size_t cuda_encoder_device_bytes(const Encoder& encoder);

}  // namespace justnews
