// CudaEncoder: the forward pass on one GPU. Per layer: fused QKV GEMM (+bias) -> fused attention ->
// output GEMM (+bias) -> residual + LayerNorm -> FFN-in GEMM (+bias, +activation) -> FFN-out GEMM
// (+bias) -> residual + LayerNorm. Heads, pooling and float conversion run on the GPU as well; only
// the requested float32 results cross PCIe.
#include "engine/cuda/cuda_encoder.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/logging.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_plan_format.h"
#include "engine/cuda/dependent_launch.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gemm_cublaslt.h"
#include "engine/cuda/int4_linear_cuda.h"
#include "engine/cuda/int8_weight_cuda.h"
#include "engine/cuda/row_epilogue.h"
#include "engine/cuda/sm90/gemm_sm90.h"
#include "engine/engine_plan.h"
#include "quant/int8_quant.h"
#include "tensor/dtype.h"

namespace justnews {

namespace {

using cuda::DeviceBuffer;
using cuda::GemmEpilogue;
using cuda::LinearFormat;
using cuda::PinnedBuffer;
using cuda::Precision;
using cuda_plan::align_up;
using cuda_plan::is_int4;
using cuda_plan::is_w8a8;
using cuda_plan::model_allows_codes_path;
using cuda_plan::is_weight_only;
using cuda_plan::layer_tensor;
using cuda_plan::site_tensor;

// Graph buckets round the longest sequence up to this, so batches that differ only a little in
// their longest sequence share a graph (blocks past a sequence's end exit at once).
constexpr int64_t kSequenceBucket = 64;

// The quantisation side of one linear layer on the device (kFp8 / kInt8): per-output-channel
// weight scales, and optionally a calibrated input scale and SmoothQuant input divisors.
// kInt8WeightOnly: the weight scales only.
struct DeviceQuant {
  const float* weight_scales = nullptr;  // [out_features]
  const float* input_scale = nullptr;    // one float, or null for per-token scales
  const float* input_divisor = nullptr;  // [in_features], or null
  // With input_scale, in the workspace's calibrated region: weight_scales times it, which the GEMM
  // takes instead of a scale per row; and the multipliers 1 / (input_scale x input_divisor[c])
  // with which a producer (attention, the FFN-in GEMM) writes this input's codes.
  const float* folded_scales = nullptr;     // [out_features]
  const float* code_multipliers = nullptr;  // [in_features]
  size_t folded_at = 0, code_multipliers_at = 0;  // offsets in floats within the region
  // kInt8, a calibrated input with a floor (the plan's `_input_floor`: the FFN-out input): its codes
  // are unsigned (quant/int8_quant.h), and the GEMM takes asymmetric_bias, the bias less the
  // offset's share (fp16 [out_features], in the workspace's asymmetric-bias region).
  bool asymmetric = false;
  const void* asymmetric_bias = nullptr;
  size_t asymmetric_bias_at = 0;  // offset in fp16 values within the region
};

struct DeviceLayer {
  DeviceQuant qkv_quant, attention_output_quant, ffn_in_quant, ffn_out_quant;
  // kInt4 / kNf4: the 4-bit weights (the *_weight pointers below are then null).
  cuda::DeviceInt4Weight qkv_int4, attention_output_int4, ffn_in_int4, ffn_out_int4;
  const void* qkv_weight;
  const void* qkv_bias;
  const void* attention_output_weight;
  const void* attention_output_bias;
  const void* attention_norm_gamma;
  const void* attention_norm_beta;
  const void* ffn_in_weight;
  const void* ffn_in_bias;
  const void* ffn_out_weight;
  const void* ffn_out_bias;
  const void* ffn_norm_gamma;
  const void* ffn_norm_beta;
};

struct DeviceHead {
  const void* pre_weight = nullptr;  // null when the head has no pre-projection
  const void* pre_bias = nullptr;
  HeadActivation pre_activation = HeadActivation::kNone;
  const void* out_weight = nullptr;
  const void* out_bias = nullptr;
};

// Byte offsets of the workspace regions (see workspace_layout()).
struct WorkspaceLayout {
  size_t inputs_at = 0, hidden_at = 0, wide_at = 0, narrow_at = 0;
  size_t codes_at = 0, code_scales_at = 0;  // kFp8 / kInt8 only
  size_t calibrated_at = 0;  // kFp8 / kInt8: DeviceQuant::folded_scales and code_multipliers
  size_t asymmetric_bias_at = 0;  // kInt8: DeviceQuant::asymmetric_bias
  size_t decoded_weight_at = 0;  // weight-only formats (kInt4 / kNf4 / kInt8WeightOnly) only
  size_t hidden_f32_at = 0, logits_f32_at = 0, cls_at = 0, pre_at = 0, pooled_f32_at = 0;
  size_t gemm_at = 0, total_bytes = 0;
};

WorkspaceLayout workspace_layout(const EncoderConfig& config, const CudaEncoderOptions& options);

class CudaEncoder final : public Encoder {
 public:
  CudaEncoder(const EncoderConfig& config, const CudaEncoderOptions& options)
      : config_(config), options_(options) {}
  ~CudaEncoder() override;

  Status initialize(const EnginePlan& plan);
  const EncoderConfig& config() const override { return config_; }
  std::string backend_name() const override { return "cuda-" + cuda_precision_name(options_); }
  Result<ForwardResult> forward(const PackedBatch& batch, const ForwardRequest& request) override;
  Result<double> device_time_ms(const PackedBatch& batch, int iterations);
  size_t device_bytes() const { return weights_.size_bytes() + workspace_.size_bytes(); }
  size_t pinned_bytes() const { return input_staging_.size_bytes() + output_staging_.size_bytes(); }

 private:
  using ShapeKey = std::tuple<int64_t, int64_t, int64_t>;  // tokens, sequences, length bucket

  Status upload_plan(const EnginePlan& plan);
  // For a linear whose input has a floor (asymmetric codes): its bias less the offset's share,
  // bias[n] - weight_scale[n] * sum_k offset[k] * code[n, k], from the host plan into
  // asymmetric_bias_host_; marks `quant` asymmetric.
  Status fold_asymmetric_bias(const EnginePlan& plan, int64_t layer_idx, LinearSite site,
                              int64_t out_features, int64_t in_features, DeviceQuant& quant);
  // The timing cache (options_.gemm_tuning_path): read after the GEMM runner exists, written at
  // destruction when this encoder tuned something the file did not have.
  void load_gemm_tuning();
  void save_gemm_tuning();
  // Copies the batch's ids, type ids, positions and offsets to the device (async); returns the
  // longest sequence rounded up to the graph bucket.
  Result<int64_t> stage_inputs(const PackedBatch& batch);
  Status allocate_workspace();
  // Embeddings and every layer, leaving the last hidden state in hidden_.
  Status run_layers(int64_t tokens, int64_t sequences, int64_t length_bucket);
  // One encoder-layer linear of the native path: `weight` in the activation precision; or (kInt4 /
  // kNf4, `int4` set) 4-bit codes decoded in registers for small batches, else into
  // decoded_weight_ and run through the same GEMM; or (kInt8WeightOnly) `weight`'s int8 codes with
  // `quant.weight_scales`, decoded into decoded_weight_.
  Status layer_linear(const void* input, int64_t rows, int64_t in_features, const void* weight,
                      const cuda::DeviceInt4Weight& int4, const DeviceQuant& quant,
                      const void* bias, int64_t out_features, GemmEpilogue epilogue, void* out);
  // run_layers for kFp8 / kInt8 linear layers.
  Status run_layers_w8a8(int64_t tokens, int64_t sequences, int64_t length_bucket);
  // out = (codes . weight^T) * row_scales[row] * weight_scales[col] + bias in fp16, scales and bias
  // fused into the GEMM (sm90/); codes default to codes_, row scales are code_scales_, or folded
  // into the weight scales when the input's scale is calibrated.
  // With gelu_codes_for (the static path's FFN-in GEMM, folded scales): writes the codes of
  // GELU(...) for the linear that gelu_codes_for describes instead of fp16.
  Status quantized_linear(const void* weight, const DeviceQuant& quant, const void* bias,
                          int64_t rows, int64_t in_features, int64_t out_features, void* out,
                          const void* codes = nullptr,
                          const DeviceQuant* gelu_codes_for = nullptr);
  Status run_layers_maybe_graph(int64_t tokens, int64_t sequences, int64_t length_bucket);
  void* at(size_t offset) const { return static_cast<uint8_t*>(workspace_.data()) + offset; }

  EncoderConfig config_;
  CudaEncoderOptions options_;
  std::mutex forward_mutex_;
  cudaStream_t stream_ = nullptr;

  DeviceBuffer weights_;
  const void* word_embeddings_ = nullptr;
  const void* position_embeddings_ = nullptr;
  const void* token_type_embeddings_ = nullptr;
  const void* embedding_norm_gamma_ = nullptr;
  const void* embedding_norm_beta_ = nullptr;
  std::vector<DeviceLayer> layers_;
  DeviceHead head_;
  // kFp8 / kInt8: the calibrated region (DeviceQuant::folded_at, code_multipliers_at), computed
  // on the host from the plan by upload_plan and copied once into the workspace.
  std::vector<float> calibrated_host_;
  std::vector<uint16_t> asymmetric_bias_host_;  // fp16 bits, DeviceQuant::asymmetric_bias_at

  DeviceBuffer workspace_;
  PinnedBuffer input_staging_;   // int32 ids, type ids, positions, offsets
  PinnedBuffer output_staging_;  // float32 results
  int32_t* device_inputs_ = nullptr;
  void* hidden_ = nullptr;        // [tokens, hidden]
  void* qkv_ = nullptr;           // [tokens, 3 hidden]
  void* context_ = nullptr;       // [tokens, hidden]
  void* projected_ = nullptr;     // [tokens, hidden], attention output projection
  void* ffn_ = nullptr;           // [tokens, intermediate]
  void* ffn_out_ = nullptr;       // [tokens, hidden]
  void* cls_ = nullptr;           // [sequences, hidden]
  void* pre_ = nullptr;           // [sequences, hidden]
  float* hidden_f32_ = nullptr;   // [tokens, hidden]
  float* logits_f32_ = nullptr;   // [tokens, labels]
  float* pooled_f32_ = nullptr;   // [sequences, hidden]
  void* codes_ = nullptr;         // kFp8 / kInt8: [tokens, max(hidden, intermediate)] codes
  float* code_scales_ = nullptr;  // [tokens]: the codes' per-row scales
  void* decoded_weight_ = nullptr;  // weight-only formats: one layer weight, activation precision
  void* gemm_workspace_ = nullptr;
  std::unique_ptr<cuda::GemmRunner> gemm_;

  // The FFN-in layer may run as the sm90 bias + erf-GELU GEMM: fp16 / bf16 weights on Hopper.
  bool fused_gelu_gemm_ = false;
  // The bias GEMMs may run as sm90 GEMMs (CudaEncoderOptions::sm90_bias_gemm).
  bool sm90_bias_gemm_ = false;
  // kFp8 / kInt8 with calibrated scales (INT8 with or without SmoothQuant divisors; erf-GELU
  // models, tensor-core head dims): the attention kernel writes the output projection's codes into
  // codes_, the FFN-in GEMM the FFN-out GEMM's codes (with GELU) into ffn_.
  bool static_codes_ = false;
  size_t reused_gemm_choices_ = 0;  // entries taken from the timing cache
  std::set<ShapeKey> seen_shapes_;
  std::map<ShapeKey, cudaGraphExec_t> graphs_;
};

CudaEncoder::~CudaEncoder() {
  save_gemm_tuning();
  for (auto& [key, graph] : graphs_) cudaGraphExecDestroy(graph);
  gemm_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

Status CudaEncoder::initialize(const EnginePlan& plan) {
  JN_CUDA_CHECK(cudaSetDevice(options_.device));
  if (is_w8a8(options_.linear_format) && !cuda::sm90_gemm_device_supported()) {
    cudaDeviceProp properties{};
    JN_CUDA_CHECK(cudaGetDeviceProperties(&properties, options_.device));
    return unsupported(std::string("cuda encoder: ") + cuda::linear_format_name(options_.linear_format) +
                       " runs on Hopper GEMMs (compute capability 9.0); " + properties.name + " has " +
                       std::to_string(properties.major) + "." + std::to_string(properties.minor));
  }
  JN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  JN_RETURN_IF_ERROR(upload_plan(plan));
  // The producers write INT8 codes with SmoothQuant divisors too (code_multipliers); the E4M3
  // GELU codes take one scale (FP8 plans have no divisors).
  const auto static_input = [&](const DeviceQuant& quant) {
    return quant.input_scale &&
           (options_.linear_format == LinearFormat::kInt8 || !quant.input_divisor);
  };
  static_codes_ =
      model_allows_codes_path(config_, options_) &&
      cuda::attention_kernel_writes_codes(options_.attention_kernel) &&
      std::all_of(layers_.begin(), layers_.end(), [&](const DeviceLayer& layer) {
        return static_input(layer.attention_output_quant) && static_input(layer.ffn_out_quant) &&
               layer.ffn_in_quant.input_scale;
      });
  // Only the FFN-in GEMM of the calibrated codes path writes unsigned codes.
  const bool asymmetric = std::any_of(layers_.begin(), layers_.end(), [](const DeviceLayer& layer) {
    return layer.ffn_out_quant.asymmetric;
  });
  if (asymmetric && !static_codes_)
    return unsupported(
        "cuda encoder: the plan has asymmetric FFN codes, which only the calibrated codes path "
        "writes (erf-GELU, head_dim 32 / 64 / 128, an mma.sync attention kernel, calibrated "
        "scales at every layer); rebuild the plan with int8_asymmetric_ffn_codes off");
  JN_RETURN_IF_ERROR(allocate_workspace());
  JN_ASSIGN_OR_RETURN(
      gemm_, cuda::GemmRunner::create(options_.precision, gemm_workspace_, options_.workspace_bytes,
                                      options_.autotune_gemms));
  fused_gelu_gemm_ = options_.fused_gelu_gemm && options_.linear_format == cuda::LinearFormat::kNative &&
                     options_.precision != Precision::kFp32 &&
                     config_.activation == Activation::kGeluErf && !options_.gelu_erf_as_tanh &&
                     cuda::sm90_gemm_device_supported() &&
                     cuda::sm90_gemm_shape_supported(config_.intermediate_size, config_.hidden_size);
  sm90_bias_gemm_ = options_.sm90_bias_gemm &&
                    (options_.linear_format == cuda::LinearFormat::kNative ||
                     options_.linear_format == cuda::LinearFormat::kInt8WeightOnly) &&
                    options_.precision != Precision::kFp32 && cuda::sm90_gemm_device_supported();
  load_gemm_tuning();
  return ok_status();
}

void CudaEncoder::load_gemm_tuning() {
  if (options_.gemm_tuning_path.empty()) return;
  auto tuning = cuda::read_gemm_tuning(options_.gemm_tuning_path, cuda::GemmRunner::library_version());
  if (!tuning.ok()) {
    // Absent on a first run; unreadable or from another cuBLASLt: tuned afresh and rewritten.
    if (tuning.status().code() != StatusCode::kNotFound)
      JN_LOG_WARN("cuda encoder: GEMM timing cache not used: {}", tuning.status().message());
    return;
  }
  gemm_->reuse_tuned_algorithms(tuning->cublaslt);
  cuda::sm90_reuse_tuned_schedules(tuning->sm90, options_.device);
  reused_gemm_choices_ = tuning->size();
}

void CudaEncoder::save_gemm_tuning() {
  if (options_.gemm_tuning_path.empty() || !gemm_) return;
  cuda::GemmTuning tuning;
  tuning.cublaslt = gemm_->tuned_algorithms();
  if (is_w8a8(options_.linear_format) || fused_gelu_gemm_ || sm90_bias_gemm_)
    tuning.sm90 = cuda::sm90_tuned_schedules(options_.device);
  if (tuning.size() <= reused_gemm_choices_) return;  // nothing new
  const Status written =
      cuda::write_gemm_tuning(options_.gemm_tuning_path, tuning, cuda::GemmRunner::library_version());
  if (!written.ok()) JN_LOG_WARN("cuda encoder: GEMM timing cache not saved: {}", written.message());
}

Status CudaEncoder::upload_plan(const EnginePlan& plan) {
  // One copy of the whole weights section; tensors are then addressed by their plan offsets.
  JN_ASSIGN_OR_RETURN(weights_, DeviceBuffer::allocate(std::max<size_t>(plan.weights.size, 1),
                                                       "encoder weights", options_.device_memory));
  JN_CUDA_CHECK(
      cudaMemcpy(weights_.data(), plan.weights.data, plan.weights.size, cudaMemcpyHostToDevice));
  const size_t element_bytes = cuda::precision_size_bytes(options_.precision);
  const auto device = [&](const std::string& name, int64_t count) -> Result<const void*> {
    const PlanTensor* tensor = plan.find(name);
    if (!tensor) return invalid_argument("cuda encoder: plan has no tensor " + name);
    if (tensor->size_bytes != static_cast<uint64_t>(count) * element_bytes ||
        tensor->offset % 16 != 0)
      return invalid_argument("cuda encoder: plan tensor " + name + " has " +
                              std::to_string(tensor->size_bytes) + " bytes at offset " +
                              std::to_string(tensor->offset) + ", expected " +
                              std::to_string(count * element_bytes) + " bytes, 16-byte aligned");
    return static_cast<const void*>(static_cast<const uint8_t*>(weights_.data()) + tensor->offset);
  };
  // Quantised codes and float32 scales: sized in bytes, whatever the activation precision.
  const auto device_raw = [&](const std::string& name, uint64_t size_bytes,
                              bool optional) -> Result<const void*> {
    const PlanTensor* tensor = plan.find(name);
    if (!tensor) {
      if (optional) return static_cast<const void*>(nullptr);
      return invalid_argument("cuda encoder: plan has no tensor " + name);
    }
    if (tensor->size_bytes != size_bytes || tensor->offset % 16 != 0)
      return invalid_argument("cuda encoder: plan tensor " + name + " has " +
                              std::to_string(tensor->size_bytes) + " bytes at offset " +
                              std::to_string(tensor->offset) + ", expected " +
                              std::to_string(size_bytes) + " bytes, 16-byte aligned");
    return static_cast<const void*>(static_cast<const uint8_t*>(weights_.data()) + tensor->offset);
  };
  const bool w8a8 = is_w8a8(options_.linear_format);
  const bool int8_weight_only = options_.linear_format == LinearFormat::kInt8WeightOnly;
  // kInt4 / kNf4: the blob and its layout, checked against the layer's shape before use.
  const auto int4_weight = [&](int64_t layer_idx, LinearSite site, int64_t out_features,
                               int64_t in_features) -> Result<cuda::DeviceInt4Weight> {
    const std::string weight_name = site_tensor(layer_idx, site, "_weight");
    const PlanTensor* layout_tensor = plan.find(site_tensor(layer_idx, site, "_weight_layout"));
    const PlanTensor* blob = plan.find(weight_name);
    if (!layout_tensor || !blob || layout_tensor->size_bytes != sizeof(cuda::Int4BlobLayout))
      return invalid_argument("cuda encoder: plan has no 4-bit weight " + weight_name +
                              " with its layout");
    cuda::Int4BlobLayout layout;
    std::memcpy(&layout, plan.weights.data + layout_tensor->offset, sizeof(layout));
    if (layout.rows != out_features || layout.columns != in_features ||
        layout.end_offset_bytes > blob->size_bytes ||
        blob->offset % cuda::kInt4BlobAlignmentBytes != 0)
      return invalid_argument("cuda encoder: plan tensor " + weight_name + " has a layout for [" +
                              std::to_string(layout.rows) + ", " + std::to_string(layout.columns) +
                              "] in " + std::to_string(blob->size_bytes) + " bytes, expected [" +
                              std::to_string(out_features) + ", " + std::to_string(in_features) +
                              "]");
    return cuda::make_device_int4_weight(
        static_cast<const uint8_t*>(weights_.data()) + blob->offset, layout);
  };
  const bool four_bit = is_int4(options_.linear_format);
  // A linear layer's weight: in the activation precision, or codes with their quantisation side.
  const auto linear_weight = [&](int64_t layer_idx, LinearSite site, int64_t out_features,
                                 int64_t in_features, DeviceQuant& quant) -> Result<const void*> {
    const std::string weight_name = site_tensor(layer_idx, site, "_weight");
    if (!w8a8 && !int8_weight_only) return device(weight_name, out_features * in_features);
    JN_ASSIGN_OR_RETURN(const void* scales,
                        device_raw(site_tensor(layer_idx, site, "_weight_scale"),
                                   out_features * sizeof(float), false));
    quant.weight_scales = static_cast<const float*>(scales);
    if (int8_weight_only)
      return device_raw(weight_name, static_cast<uint64_t>(out_features * in_features), false);
    JN_ASSIGN_OR_RETURN(
        const void* input_scale,
        device_raw(site_tensor(layer_idx, site, "_input_scale"), sizeof(float), true));
    JN_ASSIGN_OR_RETURN(const void* divisor,
                        device_raw(site_tensor(layer_idx, site, "_input_divisor"),
                                   in_features * sizeof(float), true));
    quant.weight_scales = static_cast<const float*>(scales);
    quant.input_scale = static_cast<const float*>(input_scale);
    quant.input_divisor = static_cast<const float*>(divisor);
    if (input_scale) {
      // The same tensors, read from the host copy of the plan.
      const auto host_bytes = [&](const char* suffix) {
        return plan.weights.data + plan.find(site_tensor(layer_idx, site, suffix))->offset;
      };
      float calibrated_scale;
      std::memcpy(&calibrated_scale, host_bytes("_input_scale"), sizeof(float));
      quant.folded_at = calibrated_host_.size();
      quant.code_multipliers_at = quant.folded_at + static_cast<size_t>(out_features);
      calibrated_host_.resize(quant.code_multipliers_at + static_cast<size_t>(in_features));
      float* folded = calibrated_host_.data() + quant.folded_at;
      std::memcpy(folded, host_bytes("_weight_scale"), out_features * sizeof(float));
      for (int64_t col = 0; col < out_features; ++col) folded[col] *= calibrated_scale;
      float* multipliers = calibrated_host_.data() + quant.code_multipliers_at;
      std::fill(multipliers, multipliers + in_features, 1.f);
      if (divisor) std::memcpy(multipliers, host_bytes("_input_divisor"), in_features * sizeof(float));
      for (int64_t col = 0; col < in_features; ++col)
        multipliers[col] = 1.f / (calibrated_scale * multipliers[col]);
      if (plan.find(site_tensor(layer_idx, site, "_input_floor")))
        JN_RETURN_IF_ERROR(fold_asymmetric_bias(plan, layer_idx, site, out_features, in_features,
                                                quant));
    }
    return device_raw(weight_name, static_cast<uint64_t>(out_features * in_features), false);
  };
  const int64_t hidden = config_.hidden_size;
  const int64_t intermediate = config_.intermediate_size;
  JN_ASSIGN_OR_RETURN(word_embeddings_, device("word_embeddings", config_.vocab_size * hidden));
  JN_ASSIGN_OR_RETURN(position_embeddings_,
                      device("position_embeddings", config_.max_position_embeddings * hidden));
  if (config_.type_vocab_size > 0) {
    JN_ASSIGN_OR_RETURN(token_type_embeddings_,
                        device("token_type_embeddings", config_.type_vocab_size * hidden));
  }
  JN_ASSIGN_OR_RETURN(embedding_norm_gamma_, device("embedding_norm_gamma", hidden));
  JN_ASSIGN_OR_RETURN(embedding_norm_beta_, device("embedding_norm_beta", hidden));
  for (int64_t layer_idx = 0; layer_idx < config_.num_layers; ++layer_idx) {
    const auto name = [&](const char* role) { return layer_tensor(layer_idx, role); };
    DeviceLayer layer{};
    if (four_bit) {
      JN_ASSIGN_OR_RETURN(layer.qkv_int4,
                          int4_weight(layer_idx, LinearSite::kQkv, 3 * hidden, hidden));
      JN_ASSIGN_OR_RETURN(layer.attention_output_int4,
                          int4_weight(layer_idx, LinearSite::kAttentionOutput, hidden, hidden));
      JN_ASSIGN_OR_RETURN(layer.ffn_in_int4,
                          int4_weight(layer_idx, LinearSite::kFfnIn, intermediate, hidden));
      JN_ASSIGN_OR_RETURN(layer.ffn_out_int4,
                          int4_weight(layer_idx, LinearSite::kFfnOut, hidden, intermediate));
    } else {
      JN_ASSIGN_OR_RETURN(layer.qkv_weight, linear_weight(layer_idx, LinearSite::kQkv, 3 * hidden,
                                                          hidden, layer.qkv_quant));
      JN_ASSIGN_OR_RETURN(layer.attention_output_weight,
                          linear_weight(layer_idx, LinearSite::kAttentionOutput, hidden, hidden,
                                        layer.attention_output_quant));
      JN_ASSIGN_OR_RETURN(
          layer.ffn_in_weight,
          linear_weight(layer_idx, LinearSite::kFfnIn, intermediate, hidden, layer.ffn_in_quant));
      JN_ASSIGN_OR_RETURN(
          layer.ffn_out_weight,
          linear_weight(layer_idx, LinearSite::kFfnOut, hidden, intermediate, layer.ffn_out_quant));
    }
    JN_ASSIGN_OR_RETURN(layer.qkv_bias, device(name("qkv_bias"), 3 * hidden));
    JN_ASSIGN_OR_RETURN(layer.attention_output_bias, device(name("attention_output_bias"), hidden));
    JN_ASSIGN_OR_RETURN(layer.attention_norm_gamma, device(name("attention_norm_gamma"), hidden));
    JN_ASSIGN_OR_RETURN(layer.attention_norm_beta, device(name("attention_norm_beta"), hidden));
    JN_ASSIGN_OR_RETURN(layer.ffn_in_bias, device(name("ffn_in_bias"), intermediate));
    JN_ASSIGN_OR_RETURN(layer.ffn_out_bias, device(name("ffn_out_bias"), hidden));
    JN_ASSIGN_OR_RETURN(layer.ffn_norm_gamma, device(name("ffn_norm_gamma"), hidden));
    JN_ASSIGN_OR_RETURN(layer.ffn_norm_beta, device(name("ffn_norm_beta"), hidden));
    layers_.push_back(layer);
  }
  if (config_.head != HeadKind::kNone) {
    const int64_t labels = config_.num_labels();
    if (config_.head == HeadKind::kSequenceClassification && plan.find("head.pre_weight")) {
      JN_ASSIGN_OR_RETURN(head_.pre_weight, device("head.pre_weight", hidden * hidden));
      JN_ASSIGN_OR_RETURN(head_.pre_bias, device("head.pre_bias", hidden));
      head_.pre_activation = plan.head_pre_activation;
    }
    JN_ASSIGN_OR_RETURN(head_.out_weight, device("head.out_weight", labels * hidden));
    JN_ASSIGN_OR_RETURN(head_.out_bias, device("head.out_bias", labels));
  }
  return ok_status();
}

Status CudaEncoder::fold_asymmetric_bias(const EnginePlan& plan, int64_t layer_idx, LinearSite site,
                                         int64_t out_features, int64_t in_features,
                                         DeviceQuant& quant) {
  const std::string name = site_tensor(layer_idx, site, "_input_floor");
  if (options_.linear_format != LinearFormat::kInt8 || site != LinearSite::kFfnOut)
    return invalid_argument("cuda encoder: plan tensor " + name +
                            ": only the INT8 FFN output projection's input has asymmetric codes");
  if (plan.find(name)->size_bytes != sizeof(float))
    return invalid_argument("cuda encoder: plan tensor " + name + " has " +
                            std::to_string(plan.find(name)->size_bytes) + " bytes, expected 4");
  const auto host = [&](const char* suffix) {
    return plan.weights.data + plan.find(site_tensor(layer_idx, site, suffix))->offset;
  };
  float floor = 0.f;
  std::memcpy(&floor, host("_input_floor"), sizeof(float));
  std::vector<float> divisor;
  if (plan.find(site_tensor(layer_idx, site, "_input_divisor"))) {
    divisor.resize(static_cast<size_t>(in_features));
    std::memcpy(divisor.data(), host("_input_divisor"), divisor.size() * sizeof(float));
  }
  const std::vector<float> offsets = asymmetric_input_offsets(floor, divisor, in_features);
  std::vector<float> weight_scales(static_cast<size_t>(out_features));
  std::memcpy(weight_scales.data(), host("_weight_scale"), weight_scales.size() * sizeof(float));
  const PlanTensor* bias = plan.find(layer_tensor(layer_idx, "ffn_out_bias"));
  if (!bias || bias->size_bytes != static_cast<uint64_t>(out_features) * sizeof(uint16_t))
    return invalid_argument("cuda encoder: plan has no fp16 FFN output bias for layer " +
                            std::to_string(layer_idx));
  const std::vector<float> offset_bias =
      asymmetric_offset_bias(reinterpret_cast<const int8_t*>(host("_weight")), weight_scales.data(),
                             out_features, in_features, offsets);
  quant.asymmetric = true;
  quant.asymmetric_bias_at = asymmetric_bias_host_.size();
  for (int64_t col = 0; col < out_features; ++col) {
    uint16_t bias_bits;
    std::memcpy(&bias_bits, plan.weights.data + bias->offset + col * sizeof(uint16_t),
                sizeof(bias_bits));
    asymmetric_bias_host_.push_back(
        f32_to_f16(f16_to_f32(bias_bits) + offset_bias[static_cast<size_t>(col)]));
  }
  return ok_status();
}

WorkspaceLayout workspace_layout(const EncoderConfig& config, const CudaEncoderOptions& options) {
  const size_t tokens = static_cast<size_t>(options.max_batch_tokens);
  const size_t sequences =
      static_cast<size_t>(std::min(options.max_batch_sequences, options.max_batch_tokens));
  const size_t hidden = static_cast<size_t>(config.hidden_size);
  const size_t intermediate = static_cast<size_t>(config.intermediate_size);
  const size_t labels = static_cast<size_t>(std::max<int64_t>(config.num_labels(), 1));
  const size_t element = cuda::precision_size_bytes(options.precision);
  WorkspaceLayout layout;
  // Every region starts on a 256-byte boundary: cuBLASLt and the 16-byte packed loads rely on it.
  size_t offset = 0;
  const auto region = [&](size_t& at, size_t bytes) {
    at = offset;
    offset = align_up(offset + bytes);
  };
  region(layout.inputs_at, (4 * tokens + 1) * sizeof(int32_t));  // ids, types, positions, offsets
  region(layout.hidden_at, tokens * hidden * element);
  // One scratch area, reused by stages whose buffers are never live together:
  //   layers:  [wide: qkv (3h) | ffn (i) | attention projection (h)] [narrow: context | ffn output]
  //   outputs: hidden_f32 | logits | cls | pre | pooled
  const size_t scratch_start = offset;
  region(layout.wide_at, tokens * std::max(3 * hidden, intermediate) * element);
  region(layout.narrow_at, tokens * hidden * element);
  if (is_w8a8(options.linear_format)) {
    // Codes of the next GEMM's input (one stage at a time) and their per-row scales; the GEMMs
    // write scaled fp16 into the same wide / narrow buffers as the native path.
    region(layout.codes_at, tokens * std::max(hidden, intermediate));
    region(layout.code_scales_at, tokens * sizeof(float));
  }
  const size_t layers_end = offset;
  offset = scratch_start;
  region(layout.hidden_f32_at, tokens * hidden * sizeof(float));
  region(layout.logits_f32_at, tokens * labels * sizeof(float));
  region(layout.cls_at, sequences * hidden * element);
  region(layout.pre_at, sequences * hidden * element);
  region(layout.pooled_f32_at, sequences * hidden * sizeof(float));
  offset = std::max(offset, layers_end);
  if (is_weight_only(options.linear_format))  // the largest layer weight, decoded
    region(layout.decoded_weight_at, std::max(3 * hidden, intermediate) * hidden * element);
  if (options.linear_format == LinearFormat::kInt8)  // fp16: the FFN-out GEMMs' (asymmetric)
    region(layout.asymmetric_bias_at, static_cast<size_t>(config.num_layers) * hidden * 2);
  if (is_w8a8(options.linear_format))  // written once at load, outside the reused scratch
    region(layout.calibrated_at, static_cast<size_t>(config.num_layers) *
                                     ((5 * hidden + intermediate) + (3 * hidden + intermediate)) *
                                     sizeof(float));  // out features + in features of each linear
  region(layout.gemm_at, options.workspace_bytes);
  layout.total_bytes = offset;
  return layout;
}

Status CudaEncoder::allocate_workspace() {
  const WorkspaceLayout layout = workspace_layout(config_, options_);
  const size_t tokens = static_cast<size_t>(options_.max_batch_tokens);
  if (layout.total_bytes > options_.max_workspace_bytes)
    return resource_exhausted(
        "cuda encoder: workspace for max_batch_tokens " + std::to_string(tokens) + " needs " +
        std::to_string(layout.total_bytes >> 20) + " MiB, more than max_workspace_bytes (" +
        std::to_string(options_.max_workspace_bytes >> 20) +
        " MiB): lower max_batch_tokens or raise the limit");
  JN_ASSIGN_OR_RETURN(workspace_, DeviceBuffer::allocate(layout.total_bytes,
                                                         "encoder workspace (max_batch_tokens " +
                                                             std::to_string(tokens) + ")",
                                                         options_.device_memory));
  device_inputs_ = static_cast<int32_t*>(at(layout.inputs_at));
  hidden_ = at(layout.hidden_at);
  qkv_ = at(layout.wide_at);
  ffn_ = at(layout.wide_at);
  projected_ = at(layout.wide_at);
  context_ = at(layout.narrow_at);
  ffn_out_ = at(layout.narrow_at);
  cls_ = at(layout.cls_at);
  pre_ = at(layout.pre_at);
  hidden_f32_ = static_cast<float*>(at(layout.hidden_f32_at));
  logits_f32_ = static_cast<float*>(at(layout.logits_f32_at));
  pooled_f32_ = static_cast<float*>(at(layout.pooled_f32_at));
  gemm_workspace_ = options_.workspace_bytes ? at(layout.gemm_at) : nullptr;
  if (is_weight_only(options_.linear_format)) decoded_weight_ = at(layout.decoded_weight_at);
  if (is_w8a8(options_.linear_format)) {
    codes_ = at(layout.codes_at);
    code_scales_ = static_cast<float*>(at(layout.code_scales_at));
  }
  if (!calibrated_host_.empty()) {
    float* calibrated = static_cast<float*>(at(layout.calibrated_at));
    JN_CUDA_CHECK(cudaMemcpy(calibrated, calibrated_host_.data(),
                             calibrated_host_.size() * sizeof(float), cudaMemcpyHostToDevice));
    for (DeviceLayer& layer : layers_)
      for (DeviceQuant* quant : {&layer.qkv_quant, &layer.attention_output_quant,
                                 &layer.ffn_in_quant, &layer.ffn_out_quant}) {
        if (!quant->input_scale) continue;
        quant->folded_scales = calibrated + quant->folded_at;
        quant->code_multipliers = calibrated + quant->code_multipliers_at;
      }
    calibrated_host_ = {};
  }
  if (!asymmetric_bias_host_.empty()) {
    uint16_t* biases = static_cast<uint16_t*>(at(layout.asymmetric_bias_at));
    JN_CUDA_CHECK(cudaMemcpy(biases, asymmetric_bias_host_.data(),
                             asymmetric_bias_host_.size() * sizeof(uint16_t),
                             cudaMemcpyHostToDevice));
    for (DeviceLayer& layer : layers_)
      if (layer.ffn_out_quant.asymmetric)
        layer.ffn_out_quant.asymmetric_bias = biases + layer.ffn_out_quant.asymmetric_bias_at;
    asymmetric_bias_host_ = {};
  }

  const size_t sequences =
      static_cast<size_t>(std::min(options_.max_batch_sequences, options_.max_batch_tokens));
  const size_t hidden = static_cast<size_t>(config_.hidden_size);
  const size_t labels = static_cast<size_t>(std::max<int64_t>(config_.num_labels(), 1));
  JN_ASSIGN_OR_RETURN(input_staging_, PinnedBuffer::allocate((4 * tokens + 1) * sizeof(int32_t),
                                                             "encoder input staging"));
  const size_t output_floats = tokens * hidden + tokens * labels + sequences * hidden;
  JN_ASSIGN_OR_RETURN(output_staging_, PinnedBuffer::allocate(output_floats * sizeof(float),
                                                              "encoder output staging"));
  return ok_status();
}

Status CudaEncoder::run_layers(int64_t tokens, int64_t sequences, int64_t length_bucket) {
  if (is_w8a8(options_.linear_format)) return run_layers_w8a8(tokens, sequences, length_bucket);
  const Precision precision = options_.precision;
  const int64_t hidden = config_.hidden_size;
  const int64_t intermediate = config_.intermediate_size;
  const float eps = config_.layer_norm_eps;
  const int32_t* token_ids = device_inputs_;
  const int32_t* type_ids = device_inputs_ + tokens;
  const int32_t* position_ids = device_inputs_ + 2 * tokens;
  const int32_t* seq_offsets = device_inputs_ + 3 * tokens;
  JN_RETURN_IF_ERROR(cuda::launch_embeddings_layer_norm(
      precision, token_ids, type_ids, position_ids, tokens, hidden, word_embeddings_,
      position_embeddings_, token_type_embeddings_, embedding_norm_gamma_, embedding_norm_beta_,
      eps, hidden_, stream_));
  for (const DeviceLayer& layer : layers_) {
    JN_RETURN_IF_ERROR(layer_linear(hidden_, tokens, hidden, layer.qkv_weight, layer.qkv_int4,
                                    layer.qkv_quant, layer.qkv_bias, 3 * hidden,
                                    GemmEpilogue::kBias, qkv_));
    JN_RETURN_IF_ERROR(cuda::launch_attention(precision, qkv_, seq_offsets, sequences,
                                              length_bucket, config_.num_heads, config_.head_dim(),
                                              context_, stream_, options_.attention_kernel));
    JN_RETURN_IF_ERROR(layer_linear(context_, tokens, hidden, layer.attention_output_weight,
                                    layer.attention_output_int4, layer.attention_output_quant,
                                    layer.attention_output_bias, hidden, GemmEpilogue::kBias,
                                    projected_));
    JN_RETURN_IF_ERROR(cuda::launch_add_layer_norm(
        precision, projected_, hidden_, layer.attention_norm_gamma, layer.attention_norm_beta, eps,
        tokens, hidden, hidden_, stream_));
    Activation activation = config_.activation;
    if (activation == Activation::kGeluErf && options_.gelu_erf_as_tanh)
      activation = Activation::kGeluTanh;
    switch (activation) {
      case Activation::kGeluErf: {
        // cuBLASLt only offers tanh-GELU: the erf form is either our Hopper GEMM with bias + GELU in
        // its epilogue or cuBLASLt's GEMM and a bias + GELU pass, whichever was faster for the shape.
        const auto unfused = [&]() -> Status {
          JN_RETURN_IF_ERROR(layer_linear(hidden_, tokens, hidden, layer.ffn_in_weight,
                                          layer.ffn_in_int4, layer.ffn_in_quant, nullptr,
                                          intermediate, GemmEpilogue::kNone, ffn_));
          return cuda::launch_bias_gelu_erf(precision, ffn_, layer.ffn_in_bias, tokens,
                                            intermediate, stream_);
        };
        if (!fused_gelu_gemm_) {
          JN_RETURN_IF_ERROR(unfused());
          break;
        }
        cuda::Sm90BiasGemmArgs gemm;
        gemm.element = precision == Precision::kFp16 ? cuda::Sm90Element::kFp16
                                                     : cuda::Sm90Element::kBf16;
        gemm.gelu_erf = true;
        gemm.rows = tokens, gemm.cols = intermediate, gemm.depth = hidden;
        gemm.input = hidden_, gemm.weight = layer.ffn_in_weight, gemm.bias = layer.ffn_in_bias;
        gemm.out = ffn_;
        JN_RETURN_IF_ERROR(cuda::launch_sm90_bias_gemm(gemm, unfused, gemm_workspace_,
                                                       options_.workspace_bytes, stream_,
                                                       options_.autotune_gemms));
        break;
      }
      case Activation::kGeluTanh:
        JN_RETURN_IF_ERROR(layer_linear(hidden_, tokens, hidden, layer.ffn_in_weight,
                                        layer.ffn_in_int4, layer.ffn_in_quant, layer.ffn_in_bias,
                                        intermediate, GemmEpilogue::kBiasGeluTanh, ffn_));
        break;
      case Activation::kRelu:
        JN_RETURN_IF_ERROR(layer_linear(hidden_, tokens, hidden, layer.ffn_in_weight,
                                        layer.ffn_in_int4, layer.ffn_in_quant, layer.ffn_in_bias,
                                        intermediate, GemmEpilogue::kBiasRelu, ffn_));
        break;
    }
    JN_RETURN_IF_ERROR(layer_linear(ffn_, tokens, intermediate, layer.ffn_out_weight,
                                    layer.ffn_out_int4, layer.ffn_out_quant, layer.ffn_out_bias,
                                    hidden, GemmEpilogue::kBias, ffn_out_));
    JN_RETURN_IF_ERROR(cuda::launch_add_layer_norm(precision, ffn_out_, hidden_,
                                                   layer.ffn_norm_gamma, layer.ffn_norm_beta, eps,
                                                   tokens, hidden, hidden_, stream_));
  }
  return ok_status();
}

Status CudaEncoder::layer_linear(const void* input, int64_t rows, int64_t in_features,
                                 const void* weight, const cuda::DeviceInt4Weight& int4,
                                 const DeviceQuant& quant, const void* bias, int64_t out_features,
                                 GemmEpilogue epilogue, void* out) {
  if (options_.linear_format == LinearFormat::kInt8WeightOnly) {
    // Decoded, the weight is an ordinary one: the native path's GEMM choice runs on it.
    JN_RETURN_IF_ERROR(cuda::launch_int8_dequantize(options_.precision,
                                                    static_cast<const int8_t*>(weight),
                                                    quant.weight_scales, out_features, in_features,
                                                    decoded_weight_, stream_));
    weight = decoded_weight_;
  }
  if (!is_int4(options_.linear_format)) {
    const auto cublaslt = [&]() -> Status {
      return gemm_->linear(input, rows, in_features, weight, bias, out_features, epilogue, out,
                           stream_);
    };
    if (!sm90_bias_gemm_ || epilogue != GemmEpilogue::kBias || !bias ||
        !cuda::sm90_gemm_shape_supported(out_features, in_features))
      return cublaslt();
    cuda::Sm90BiasGemmArgs gemm;
    gemm.element = options_.precision == Precision::kFp16 ? cuda::Sm90Element::kFp16
                                                          : cuda::Sm90Element::kBf16;
    gemm.rows = rows, gemm.cols = out_features, gemm.depth = in_features;
    gemm.input = input, gemm.weight = weight, gemm.bias = bias, gemm.out = out;
    return cuda::launch_sm90_bias_gemm(gemm, cublaslt, gemm_workspace_, options_.workspace_bytes,
                                       stream_, options_.autotune_gemms);
  }
  if (rows <= cuda::int4_small_batch_limit()) {
    cuda::Int4Epilogue fused = cuda::Int4Epilogue::kNone;
    switch (epilogue) {
      case GemmEpilogue::kNone:
        fused = cuda::Int4Epilogue::kNone;
        break;
      case GemmEpilogue::kBias:
        fused = cuda::Int4Epilogue::kBias;
        break;
      case GemmEpilogue::kBiasGeluTanh:
        fused = cuda::Int4Epilogue::kBiasGeluTanh;
        break;
      case GemmEpilogue::kBiasRelu:
        fused = cuda::Int4Epilogue::kBiasRelu;
        break;
    }
    return cuda::launch_int4_linear(options_.precision, input, rows, int4,
                                    epilogue == GemmEpilogue::kNone ? nullptr : bias, fused, out,
                                    stream_);
  }
  JN_RETURN_IF_ERROR(
      cuda::launch_int4_dequantize(options_.precision, int4, decoded_weight_, stream_));
  return gemm_->linear(input, rows, in_features, decoded_weight_, bias, out_features, epilogue, out,
                       stream_);
}

Status CudaEncoder::quantized_linear(const void* weight, const DeviceQuant& quant, const void* bias,
                                     int64_t rows, int64_t in_features, int64_t out_features,
                                     void* out, const void* codes,
                                     const DeviceQuant* gelu_codes_for) {
  cuda::Sm90ScaledGemmArgs gemm;
  gemm.codes = options_.linear_format == LinearFormat::kFp8 ? cuda::Sm90Codes::kFp8E4M3
               : quant.asymmetric                            ? cuda::Sm90Codes::kUint8
                                                             : cuda::Sm90Codes::kInt8;
  gemm.rows = rows, gemm.cols = out_features, gemm.depth = in_features;
  gemm.input_codes = codes ? codes : codes_, gemm.weight_codes = weight;
  gemm.row_scales = quant.folded_scales ? nullptr : code_scales_;
  gemm.col_scales = quant.folded_scales ? quant.folded_scales : quant.weight_scales;
  gemm.bias = quant.asymmetric ? quant.asymmetric_bias : bias, gemm.out = out;
  if (gelu_codes_for && gemm.codes == cuda::Sm90Codes::kFp8E4M3) {
    gemm.gelu_codes_scale = gelu_codes_for->input_scale;  // E4M3 inputs have no divisors
  } else if (gelu_codes_for) {
    gemm.gelu_code_multipliers = gelu_codes_for->code_multipliers;
    gemm.gelu_codes_unsigned = gelu_codes_for->asymmetric;
  }
  return cuda::launch_sm90_scaled_gemm(gemm, gemm_workspace_, options_.workspace_bytes, stream_,
                                       options_.autotune_gemms);
}

// Per layer: QKV GEMM (scales + bias fused) -> attention -> context quantised -> output GEMM ->
// add + LayerNorm + codes -> FFN-in GEMM -> activation + codes -> FFN-out GEMM -> add + LayerNorm +
// the next layer's codes. Every GEMM writes fp16 once; the row epilogue passes exist because the
// per-token codes need each row's absmax, which no GEMM tile sees whole.
Status CudaEncoder::run_layers_w8a8(int64_t tokens, int64_t sequences, int64_t length_bucket) {
  using cuda::RowEpilogueArgs;
  const Precision precision = options_.precision;
  const int64_t hidden = config_.hidden_size;
  const int64_t intermediate = config_.intermediate_size;
  const float eps = config_.layer_norm_eps;
  const int32_t* token_ids = device_inputs_;
  const int32_t* seq_offsets = device_inputs_ + 3 * tokens;
  JN_RETURN_IF_ERROR(cuda::launch_embeddings_layer_norm(
      precision, token_ids, device_inputs_ + tokens, device_inputs_ + 2 * tokens, tokens, hidden,
      word_embeddings_, position_embeddings_, token_type_embeddings_, embedding_norm_gamma_,
      embedding_norm_beta_, eps, hidden_, stream_));
  const cuda::RowCodes codes_format = options_.linear_format == LinearFormat::kFp8
                                          ? cuda::RowCodes::kFp8E4M3
                                          : cuda::RowCodes::kInt8;
  // A row epilogue over `input` [tokens, cols] whose codes feed the GEMM that `next` describes.
  const auto codes_for = [&](const DeviceQuant* next, const void* input, int64_t cols) {
    RowEpilogueArgs row;
    row.rows = tokens;
    row.cols = cols;
    row.input = input;
    if (next) {
      row.codes_format = codes_format;
      row.codes = codes_;
      row.code_scales = code_scales_;
      row.static_scale = next->input_scale;
      row.channel_divisor = next->input_divisor;
    }
    return row;
  };
  const auto add_layer_norm = [&](RowEpilogueArgs& row, const void* gamma, const void* beta) {
    row.residual = hidden_;
    row.gamma = gamma;
    row.beta = beta;
    row.eps = eps;
    row.out = hidden_;
  };
  cuda::RowActivation row_activation = cuda::RowActivation::kGeluErf;
  if (config_.activation == Activation::kRelu) row_activation = cuda::RowActivation::kRelu;
  if (config_.activation == Activation::kGeluTanh ||
      (config_.activation == Activation::kGeluErf && options_.gelu_erf_as_tanh))
    row_activation = cuda::RowActivation::kGeluTanh;

  JN_RETURN_IF_ERROR(cuda::launch_row_epilogue(
      precision, codes_for(&layers_.front().qkv_quant, hidden_, hidden), stream_));
  for (size_t layer_idx = 0; layer_idx < layers_.size(); ++layer_idx) {
    const DeviceLayer& layer = layers_[layer_idx];
    const DeviceQuant* next_qkv =
        layer_idx + 1 < layers_.size() ? &layers_[layer_idx + 1].qkv_quant : nullptr;
    JN_RETURN_IF_ERROR(quantized_linear(layer.qkv_weight, layer.qkv_quant, layer.qkv_bias, tokens,
                                        hidden, 3 * hidden, qkv_));
    if (static_codes_) {
      // The context goes straight to codes (calibrated scale): no fp16 context, no row pass.
      JN_RETURN_IF_ERROR(cuda::launch_attention_codes(
          qkv_, seq_offsets, sequences, length_bucket, config_.num_heads, config_.head_dim(),
          options_.linear_format == LinearFormat::kFp8 ? cuda::CodeFormat::kFp8E4M3
                                                       : cuda::CodeFormat::kInt8,
          static_cast<uint8_t*>(codes_), layer.attention_output_quant.code_multipliers, stream_,
          options_.attention_kernel));
      JN_RETURN_IF_ERROR(quantized_linear(layer.attention_output_weight, layer.attention_output_quant,
                                          layer.attention_output_bias, tokens, hidden, hidden,
                                          projected_, codes_));
    } else {
      JN_RETURN_IF_ERROR(cuda::launch_attention(precision, qkv_, seq_offsets, sequences,
                                                length_bucket, config_.num_heads, config_.head_dim(),
                                                context_, stream_, options_.attention_kernel));
      JN_RETURN_IF_ERROR(cuda::launch_row_epilogue(
          precision, codes_for(&layer.attention_output_quant, context_, hidden), stream_));
      JN_RETURN_IF_ERROR(quantized_linear(layer.attention_output_weight, layer.attention_output_quant,
                                          layer.attention_output_bias, tokens, hidden, hidden,
                                          projected_));
    }
    RowEpilogueArgs attention_norm = codes_for(&layer.ffn_in_quant, projected_, hidden);
    add_layer_norm(attention_norm, layer.attention_norm_gamma, layer.attention_norm_beta);
    JN_RETURN_IF_ERROR(cuda::launch_row_epilogue(precision, attention_norm, stream_));

    if (static_codes_) {
      // The FFN-out input has a calibrated scale: the FFN-in GEMM writes its codes (GELU applied)
      // into ffn_, so no row pass reads the 4x-wide activations again.
      JN_RETURN_IF_ERROR(quantized_linear(layer.ffn_in_weight, layer.ffn_in_quant,
                                          layer.ffn_in_bias, tokens, hidden, intermediate, ffn_,
                                          nullptr, &layer.ffn_out_quant));
      JN_RETURN_IF_ERROR(quantized_linear(layer.ffn_out_weight, layer.ffn_out_quant,
                                          layer.ffn_out_bias, tokens, intermediate, hidden,
                                          ffn_out_, ffn_));
    } else {
      JN_RETURN_IF_ERROR(quantized_linear(layer.ffn_in_weight, layer.ffn_in_quant,
                                          layer.ffn_in_bias, tokens, hidden, intermediate, ffn_));
      RowEpilogueArgs ffn_codes = codes_for(&layer.ffn_out_quant, ffn_, intermediate);
      ffn_codes.activation = row_activation;
      JN_RETURN_IF_ERROR(cuda::launch_row_epilogue(precision, ffn_codes, stream_));
      JN_RETURN_IF_ERROR(quantized_linear(layer.ffn_out_weight, layer.ffn_out_quant,
                                          layer.ffn_out_bias, tokens, intermediate, hidden,
                                          ffn_out_));
    }
    RowEpilogueArgs ffn_norm = codes_for(next_qkv, ffn_out_, hidden);
    add_layer_norm(ffn_norm, layer.ffn_norm_gamma, layer.ffn_norm_beta);
    JN_RETURN_IF_ERROR(cuda::launch_row_epilogue(precision, ffn_norm, stream_));
  }
  return ok_status();
}

Status CudaEncoder::run_layers_maybe_graph(int64_t tokens, int64_t sequences,
                                           int64_t length_bucket) {
  // Eager launches and graph captures alike: a captured graph keeps the launches' dependencies.
  const cuda::DependentLaunchOff plain_order(tokens * config_.hidden_size >
                                             options_.dependent_launch_max_values);
  if (!options_.use_cuda_graphs) return run_layers(tokens, sequences, length_bucket);
  const ShapeKey key{tokens, sequences, length_bucket};
  if (auto found = graphs_.find(key); found != graphs_.end()) {
    JN_CUDA_CHECK(cudaGraphLaunch(found->second, stream_));
    return ok_status();
  }
  // A shape seen once runs eagerly (that also loads kernels and picks GEMM algorithms outside any
  // capture); the second time it is captured, and replayed from then on.
  const bool capture = seen_shapes_.count(key) > 0 &&
                       static_cast<int64_t>(graphs_.size()) < options_.max_cached_graphs;
  if (!capture) {
    seen_shapes_.insert(key);
    return run_layers(tokens, sequences, length_bucket);
  }
  JN_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  const Status captured = run_layers(tokens, sequences, length_bucket);
  cudaGraph_t graph = nullptr;
  const cudaError_t end_error = cudaStreamEndCapture(stream_, &graph);
  if (!captured.ok()) {
    if (graph) cudaGraphDestroy(graph);
    return captured;
  }
  JN_CUDA_CHECK(end_error);
  cudaGraphExec_t executable = nullptr;
  const cudaError_t instantiate_error = cudaGraphInstantiate(&executable, graph, 0);
  cudaGraphDestroy(graph);
  JN_CUDA_CHECK(instantiate_error);
  graphs_[key] = executable;
  JN_CUDA_CHECK(cudaGraphLaunch(executable, stream_));
  return ok_status();
}

Result<int64_t> CudaEncoder::stage_inputs(const PackedBatch& batch) {
  const int64_t tokens = batch.total_tokens();
  const int64_t sequences = batch.num_sequences();
  int32_t* staging = input_staging_.data_as<int32_t>();
  std::copy(batch.token_ids.begin(), batch.token_ids.end(), staging);
  std::copy(batch.type_ids.begin(), batch.type_ids.end(), staging + tokens);
  int32_t* positions = staging + 2 * tokens;
  const bool roberta = config_.architecture == Architecture::kRoberta;
  for (int64_t seq = 0; seq < sequences; ++seq) {
    // RoBERTa numbers only non-pad tokens, from pad_token_id + 1; pads sit at pad_token_id.
    int64_t next_position = config_.position_offset;
    for (int32_t token = batch.seq_offsets[seq]; token < batch.seq_offsets[seq + 1]; ++token) {
      if (roberta && batch.token_ids[token] == config_.pad_token_id) {
        positions[token] = static_cast<int32_t>(config_.pad_token_id);
      } else {
        positions[token] = static_cast<int32_t>(next_position++);
      }
    }
  }
  std::copy(batch.seq_offsets.begin(), batch.seq_offsets.end(), staging + 3 * tokens);
  const size_t input_bytes = (3 * tokens + sequences + 1) * sizeof(int32_t);
  JN_CUDA_CHECK(
      cudaMemcpyAsync(device_inputs_, staging, input_bytes, cudaMemcpyHostToDevice, stream_));
  return (batch.max_sequence_length() + kSequenceBucket - 1) / kSequenceBucket * kSequenceBucket;
}

Result<double> CudaEncoder::device_time_ms(const PackedBatch& batch, int iterations) {
  JN_RETURN_IF_ERROR(
      batch.validate(config_.vocab_size, config_.type_vocab_size, config_.max_sequence_length()));
  const int64_t tokens = batch.total_tokens();
  const int64_t sequences = batch.num_sequences();
  if (tokens > options_.max_batch_tokens || sequences > options_.max_batch_sequences)
    return resource_exhausted("cuda encoder: batch of " + std::to_string(sequences) +
                              " sequences, " + std::to_string(tokens) +
                              " tokens exceeds the encoder's limits");
  std::lock_guard<std::mutex> lock(forward_mutex_);
  JN_CUDA_CHECK(cudaSetDevice(options_.device));
  JN_ASSIGN_OR_RETURN(const int64_t length_bucket, stage_inputs(batch));
  const PoolingMode mode = config_.pooling.present ? config_.pooling.mode : PoolingMode::kMean;
  const int32_t* seq_offsets = device_inputs_ + 3 * tokens;
  const auto step = [&]() -> Status {
    JN_RETURN_IF_ERROR(run_layers_maybe_graph(tokens, sequences, length_bucket));
    return cuda::launch_pooling(options_.precision, hidden_, seq_offsets, sequences,
                                config_.hidden_size, mode, config_.pooling.normalize, pooled_f32_,
                                stream_);
  };
  for (int warmup = 0; warmup < 3; ++warmup) JN_RETURN_IF_ERROR(step());
  cudaEvent_t start = nullptr, stop = nullptr;
  JN_CUDA_CHECK(cudaEventCreate(&start));
  JN_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> times_ms;
  Status status = ok_status();
  for (int iteration = 0; iteration < iterations && status.ok(); ++iteration) {
    cudaEventRecord(start, stream_);
    status = step();
    cudaEventRecord(stop, stream_);
    float elapsed_ms = 0.f;
    if (status.ok() && cudaEventSynchronize(stop) == cudaSuccess &&
        cudaEventElapsedTime(&elapsed_ms, start, stop) == cudaSuccess)
      times_ms.push_back(elapsed_ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  JN_RETURN_IF_ERROR(status);
  if (times_ms.empty()) return internal_error("cuda encoder: no timed iteration completed");
  std::sort(times_ms.begin(), times_ms.end());
  return times_ms[times_ms.size() / 2];
}

Result<ForwardResult> CudaEncoder::forward(const PackedBatch& batch,
                                           const ForwardRequest& request) {
  JN_RETURN_IF_ERROR(
      batch.validate(config_.vocab_size, config_.type_vocab_size, config_.max_sequence_length()));
  if (request.logits && config_.head == HeadKind::kNone)
    return invalid_argument(
        "cuda encoder: logits requested but the model has no classification head (its config "
        "names no *ForSequenceClassification / *ForTokenClassification architecture)");
  const int64_t tokens = batch.total_tokens();
  const int64_t sequences = batch.num_sequences();
  if (tokens > options_.max_batch_tokens)
    return resource_exhausted("cuda encoder: batch has " + std::to_string(tokens) +
                              " tokens, more than max_batch_tokens " +
                              std::to_string(options_.max_batch_tokens));
  if (sequences > options_.max_batch_sequences)
    return resource_exhausted("cuda encoder: batch has " + std::to_string(sequences) +
                              " sequences, more than max_batch_sequences " +
                              std::to_string(options_.max_batch_sequences));
  std::lock_guard<std::mutex> lock(forward_mutex_);
  JN_CUDA_CHECK(cudaSetDevice(options_.device));
  const int64_t hidden = config_.hidden_size;
  const Precision precision = options_.precision;
  JN_ASSIGN_OR_RETURN(const int64_t length_bucket, stage_inputs(batch));
  JN_RETURN_IF_ERROR(run_layers_maybe_graph(tokens, sequences, length_bucket));
  const int32_t* seq_offsets = device_inputs_ + 3 * tokens;
  float* host_out = output_staging_.data_as<float>();
  float* host_hidden = host_out;
  float* host_logits = host_hidden + tokens * hidden;
  const int64_t labels = config_.num_labels();
  int64_t logit_rows = 0;
  if (request.hidden_states) {
    JN_RETURN_IF_ERROR(
        cuda::launch_to_float(precision, hidden_, tokens * hidden, hidden_f32_, stream_));
    JN_CUDA_CHECK(cudaMemcpyAsync(host_hidden, hidden_f32_, tokens * hidden * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream_));
  }
  if (request.logits) {
    if (config_.head == HeadKind::kTokenClassification) {
      logit_rows = tokens;
      JN_RETURN_IF_ERROR(cuda::launch_small_linear(precision, hidden_, tokens, hidden,
                                                   HeadActivation::kNone, head_.out_weight,
                                                   head_.out_bias, labels, logits_f32_, stream_));
    } else {
      logit_rows = sequences;
      JN_RETURN_IF_ERROR(cuda::launch_gather_first_rows(precision, hidden_, seq_offsets, sequences,
                                                        hidden, cls_, stream_));
      const void* head_input = cls_;
      HeadActivation activation = HeadActivation::kNone;
      if (head_.pre_weight) {
        JN_RETURN_IF_ERROR(gemm_->linear(cls_, sequences, hidden, head_.pre_weight, head_.pre_bias,
                                         hidden, GemmEpilogue::kBias, pre_, stream_));
        head_input = pre_;
        activation = head_.pre_activation;
      }
      JN_RETURN_IF_ERROR(cuda::launch_small_linear(precision, head_input, sequences, hidden,
                                                   activation, head_.out_weight, head_.out_bias,
                                                   labels, logits_f32_, stream_));
    }
    JN_CUDA_CHECK(cudaMemcpyAsync(host_logits, logits_f32_, logit_rows * labels * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream_));
  }
  float* host_pooled = host_logits + logit_rows * labels;
  if (request.embeddings) {
    // Without a sentence-transformers pooling module, mean pooling (not normalised), as on the CPU.
    const PoolingMode mode = config_.pooling.present ? config_.pooling.mode : PoolingMode::kMean;
    const bool normalize = config_.pooling.present && config_.pooling.normalize;
    JN_RETURN_IF_ERROR(cuda::launch_pooling(precision, hidden_, seq_offsets, sequences, hidden,
                                            mode, normalize, pooled_f32_, stream_));
    JN_CUDA_CHECK(cudaMemcpyAsync(host_pooled, pooled_f32_, sequences * hidden * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream_));
  }
  JN_CUDA_CHECK(cudaStreamSynchronize(stream_));

  ForwardResult result;
  if (request.hidden_states) {
    result.hidden_states = Tensor::zeros(DType::kF32, {tokens, hidden});
    std::memcpy(result.hidden_states.mutable_data(), host_hidden, tokens * hidden * sizeof(float));
  }
  if (request.logits) {
    result.logits = Tensor::zeros(DType::kF32, {logit_rows, labels});
    std::memcpy(result.logits.mutable_data(), host_logits, logit_rows * labels * sizeof(float));
  }
  if (request.embeddings) {
    result.embeddings = Tensor::zeros(DType::kF32, {sequences, hidden});
    std::memcpy(result.embeddings.mutable_data(), host_pooled, sequences * hidden * sizeof(float));
  }
  return result;
}

}  // namespace

size_t cuda_plan::workspace_bytes(const EncoderConfig& config, const CudaEncoderOptions& options) {
  return workspace_layout(config, options).total_bytes;
}

Result<std::unique_ptr<Encoder>> make_cuda_encoder(const EnginePlan& plan,
                                                   const CudaEncoderOptions& options) {
  CudaEncoderOptions effective = options;
  JN_RETURN_IF_ERROR(apply_precision_name(plan.key.precision, effective));
  effective.max_batch_tokens = plan.max_batch_tokens;
  effective.max_batch_sequences = plan.max_batch_sequences;
  effective.workspace_bytes = plan.gemm_workspace_bytes;
  JN_RETURN_IF_ERROR(cuda_plan::check_config(plan.config, effective));
  auto encoder = std::make_unique<CudaEncoder>(plan.config, effective);
  JN_RETURN_IF_ERROR(encoder->initialize(plan));
  return std::unique_ptr<Encoder>(std::move(encoder));
}

Result<std::unique_ptr<Encoder>> make_cuda_encoder(const EncoderConfig& config,
                                                   const EncoderWeights& weights,
                                                   const CudaEncoderOptions& options) {
  JN_ASSIGN_OR_RETURN(const EnginePlan plan, build_cuda_plan(config, weights, options, PlanKey{}));
  return make_cuda_encoder(plan, options);
}

Result<std::unique_ptr<Encoder>> make_cuda_encoder(const LoadedModel& model,
                                                   const CudaEncoderOptions& options) {
  auto encoder = make_cuda_encoder(model.config, model.weights, options);
  if (!encoder.ok()) return encoder.status().with_context(model.directory);
  return encoder;
}

Result<double> cuda_encoder_device_time_ms(Encoder& encoder, const PackedBatch& batch,
                                           int iterations) {
  auto* cuda_encoder = dynamic_cast<CudaEncoder*>(&encoder);
  if (!cuda_encoder)
    return invalid_argument("device timing needs a CUDA encoder, got " + encoder.backend_name());
  return cuda_encoder->device_time_ms(batch, std::max(1, iterations));
}

size_t cuda_encoder_device_bytes(const Encoder& encoder) {
  const auto* cuda_encoder = dynamic_cast<const CudaEncoder*>(&encoder);
  return cuda_encoder ? cuda_encoder->device_bytes() : 0;
}

size_t cuda_encoder_pinned_bytes(const Encoder& encoder) {
  const auto* cuda_encoder = dynamic_cast<const CudaEncoder*>(&encoder);
  return cuda_encoder ? cuda_encoder->pinned_bytes() : 0;
}

}  // namespace justnews
