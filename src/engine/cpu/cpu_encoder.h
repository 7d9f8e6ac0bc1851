// The CPU reference encoder: an FP32 forward pass over packed batches (no padding) for BERT,
// RoBERTa and DistilBERT (all post-LN), with classification heads and sentence pooling.
//
// Weights are converted to float32 once, at construction, and kept in PyTorch's [out, in] layout
// (sgemm reads them through its transpose flag); Q, K and V are fused into one [3·hidden, hidden]
// GEMM. Threads: every GEMM is split across `pool` by this engine and OpenBLAS is pinned to one
// thread per call (see blas_setup.h); attention and row-wise ops use the same pool. Scratch
// buffers grow to the largest batch seen and are reused by every layer and call.
// forward() calls are serialised by a mutex: use one encoder per engine thread for concurrency.
#pragma once

#include <memory>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/encoder.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"
#include "model/model_dir.h"
#include "quant/activation_stats.h"
#include "quant/precision.h"

namespace justnews {

// `pool` may be null (single-threaded); when given it must outlive the encoder. Errors name the
// weight or config field that does not fit.
Result<std::unique_ptr<Encoder>> make_cpu_encoder(const LoadedModel& model, ThreadPool* pool);
Result<std::unique_ptr<Encoder>> make_cpu_encoder(const EncoderConfig& config,
                                                  const EncoderWeights& weights, ThreadPool* pool);

// The precision of the encoder layers' linear weights (embeddings, LayerNorms, attention and the
// task head stay float32). Pointers are borrowed and must outlive the encoder.
struct CpuEncoderOptions {
  Precision precision = Precision::kFp32;
  int64_t group_size = 64;                             // int4 / nf4 group size (64 or 128)
  // int8: needed by the two options below; with Gram statistics (and `gptq`), the weights of every
  // code format (int8, int8-weight-only, fp8, int4, nf4) go through GPTQ.
  const ActivationCalibration* calibration = nullptr;
  bool gptq = true;
  float smoothquant_alpha = 0.0f;                      // int8: > 0 migrates outliers (SmoothQuant)
  bool static_activation_scales = false;               // int8: calibrated per-tensor scales
  // int8: run the FFN output projection in BF16 instead; its input (the GELU output) has the
  // heaviest tails, and on MiniLM it carries most of the W8A8 error.
  bool int8_ffn_out_bf16 = false;
  // int8: asymmetric codes for the FFN output projection's input (the activation's output, whose
  // floor is known: GELU -0.17, ReLU 0), twice the resolution of symmetric codes. (The CUDA
  // encoder has them on its calibrated codes path only: CudaEncoderOptions.)
  bool int8_asymmetric_ffn_codes = true;
  ActivationObserver* observer = nullptr;  // sees every linear layer's input
};

Result<std::unique_ptr<Encoder>> make_cpu_encoder(const EncoderConfig& config,
                                                  const EncoderWeights& weights, ThreadPool* pool,
                                                  const CpuEncoderOptions& options);
Result<std::unique_ptr<Encoder>> make_cpu_encoder(const LoadedModel& model, ThreadPool* pool,
                                                  const CpuEncoderOptions& options);

}  // namespace justnews
