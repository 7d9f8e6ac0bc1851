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
#include "engine/cuda/device_buffer.h"
#include "engine/encoder.h"
#include "engine/engine_plan.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"
#include "model/model_dir.h"
#include "quant/activation_stats.h"

namespace justnews {

namespace cuda {
// How the encoder layers' four linear layers run. kNative: in the activation precision. The others
// keep fp16 activations everywhere else: kFp8 / kInt8 quantise weights per output channel and
// activations per token (or with calibrated per-tensor scales) and run our Hopper FP8 / INT8 GEMMs
// with the scales, bias and GELU fused (sm90/; compute capability 9.0 only); kInt4 / kNf4 are
// weight-only (group-wise 4-bit codes, double-quantised scales), as is kInt8WeightOnly (per-channel
// int8 codes decoded before an ordinary GEMM: half of fp16's weight memory, fp16's accuracy).
enum class LinearFormat { kNative, kFp8, kInt8, kInt4, kNf4, kInt8WeightOnly };
const char* linear_format_name(LinearFormat format);
}  // namespace cuda

struct CudaEncoderOptions {
  // Plan options (part of the plan and its cache key):
  cuda::Precision precision = cuda::Precision::kFp16;  // activations (and weights when kNative)
  cuda::LinearFormat linear_format = cuda::LinearFormat::kNative;
  int64_t int4_group_size = 64;             // kInt4 / kNf4: 64 or 128
  // Calibration (build_cuda_plan only; borrowed): with it, kFp8 / kInt8 can use calibrated
  // per-tensor activation scales and kInt8 SmoothQuant; both are recorded in the plan. When it
  // holds the layer inputs' Gram matrices and `gptq` is on, every code format's weights go
  // through GPTQ (quant/gptq.h).
  const ActivationCalibration* calibration = nullptr;
  bool gptq = true;
  bool static_activation_scales = false;    // needs calibration
  float smoothquant_alpha = 0.0f;           // kInt8, > 0 needs calibration
  // kInt8 with static scales, erf-GELU models whose head dims the attention codes path takes
  // (32 / 64 / 128): the FFN-out input (the GELU output) gets asymmetric codes (0..255 above its
  // floor, quant/int8_quant.h), halving that input's step.
  bool int8_asymmetric_ffn_codes = true;
  std::string calibration_id;               // fingerprint of the calibration data, part of the key
  std::string plan_notes;                   // recorded in the plan (EnginePlan::notes)
  int64_t max_batch_tokens = 16384;         // largest total_tokens one forward() accepts
  int64_t max_batch_sequences = 1024;       // largest num_sequences one forward() accepts
  size_t workspace_bytes = 32ull << 20;     // cuBLASLt scratch
  // Checked when a plan is built: the activation workspace sized for max_batch_tokens (+ cuBLASLt
  // scratch) must fit (the original system's 1 GB CUDA workspace).
  size_t max_workspace_bytes = 1ull << 30;
  // Run-time options:
  int device = 0;
  // Where the weights and the workspace come from (e.g. leases from the agent's memory manager,
  // so that a load over budget is refused before any cudaMalloc); unset: the encoder cudaMallocs
  // them itself. Pinned host staging is always the encoder's own.
  cuda::DeviceMemorySource device_memory;
  bool use_cuda_graphs = true;              // capture a shape the second time it is seen
  bool autotune_gemms = true;               // time cuBLASLt's candidates per shape, keep the fastest
  // A timing cache (gemm_tuning.h): the GEMM choices found there are reused, and the file is
  // rewritten when the encoder is destroyed if it tuned anything new. Empty: none. The engine cache
  // keeps one beside each plan.
  std::string gemm_tuning_path;
  int64_t max_cached_graphs = 64;           // beyond this, new shapes run without a graph
  cuda::AttentionKernel attention_kernel = cuda::AttentionKernel::kAuto;
  // Runs erf-GELU models with cuBLASLt's fused GELU_BIAS epilogue (the tanh approximation) instead
  // of a separate bias + erf-GELU pass. Off by default: an accuracy trade, measured in
  // docs/cuda_notes.md.
  bool gelu_erf_as_tanh = false;
  // Lets erf-GELU models (fp16 / bf16, on Hopper) run their FFN-in layer as our sm90 GEMM with bias
  // + erf-GELU in the epilogue, where autotuning finds it faster than cuBLASLt plus a separate pass.
  bool fused_gelu_gemm = true;
  // Lets fp16 / bf16 encoders on Hopper run their bias GEMMs (QKV, attention output, FFN-out) as our
  // sm90 GEMMs, where autotuning finds one faster than cuBLASLt's for the shape: unlike cuBLASLt's
  // kernels they are dependent launches (PDL), and their 64 x 64 tiles spread small batches wider.
  bool sm90_bias_gemm = true;
  // Forward passes of up to this many activation values (tokens x hidden size) launch their kernels
  // as dependent launches (PDL, dependent_launch.h): the overlap pays while kernels are short. On the
  // H200 it took 4-9% off BERT-base 1x128, up to 4.5% off 32x128 and 0.4-4% off the news mix, but
  // cost 0.4-1.6% at 16,384 tokens (session 6); MiniLM (hidden 384) still gains 1-4% at 16,384
  // tokens, where BERT-base fp8 loses 1.4% (session 8, docs/benchmarks.md). Default: 8,192 BERT-base
  // tokens; 0: never.
  int64_t dependent_launch_max_values = 8192 * 768;
};

struct CudaDeviceIdentity {
  std::string name;                // cudaDeviceProp::name, e.g. "NVIDIA H200"
  std::string compute_capability;  // "9.0"
};

Result<CudaDeviceIdentity> cuda_device_identity(int device);
// Sets precision and linear_format from a precision name: fp32, fp16, bf16 (native) or fp8, int8,
// int4, nf4 (quantised linears; fp16 activations, bf16 for fp8). Anything else is kInvalidArgument.
Status apply_precision_name(const std::string& name, CudaEncoderOptions& options);
// The inverse: the name a plan key records ("fp16", "fp8", ...).
std::string cuda_precision_name(const CudaEncoderOptions& options);

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

// Device memory the encoder holds (weights + workspace, as handed out by options.device_memory
// when set), for budgets and benchmarks.
// Returns 0 for encoders of other backends.
size_t cuda_encoder_device_bytes(const Encoder& encoder);
// Pinned host memory the encoder holds (its input and output staging, sized for its largest
// batch), for the pinned-memory budgets; 0 for encoders of other backends.
size_t cuda_encoder_pinned_bytes(const Encoder& encoder);

}  // namespace justnews
