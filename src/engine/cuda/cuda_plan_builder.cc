// Options -> engine plan: every weight converted once into the plan's precision and format
// (native, FP8 / INT8 codes with per-channel scales and calibrated input scales, 4-bit blobs) and
// laid out as it will sit on the device; plan keys; precision names.
#include "engine/cuda/cuda_plan_format.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_encoder.h"
#include "engine/cuda/int4_linear_cuda.h"
#include "engine/cuda/row_epilogue.h"
#include "engine/engine_plan.h"
#include "quant/fp8_e4m3.h"
#include "quant/gptq.h"
#include "quant/int4_quant.h"
#include "quant/int8_quant.h"
#include "quant/static_scale_search.h"
#include "tensor/dtype.h"

namespace justnews {

namespace cuda_plan {

using cuda::LinearFormat;
using cuda::Precision;

Status check_config(const EncoderConfig& config, const CudaEncoderOptions& options) {
  const auto positive = [](int64_t value, const char* field) -> Status {
    if (value <= 0)
      return invalid_argument(std::string("cuda encoder: config ") + field +
                              " must be positive, got " + std::to_string(value));
    return ok_status();
  };
  JN_RETURN_IF_ERROR(positive(config.vocab_size, "vocab_size"));
  JN_RETURN_IF_ERROR(positive(config.hidden_size, "hidden_size"));
  JN_RETURN_IF_ERROR(positive(config.num_layers, "num_hidden_layers"));
  JN_RETURN_IF_ERROR(positive(config.num_heads, "num_attention_heads"));
  JN_RETURN_IF_ERROR(positive(config.intermediate_size, "intermediate_size"));
  JN_RETURN_IF_ERROR(
      positive(config.max_sequence_length(), "max_position_embeddings - position_offset"));
  if (config.hidden_size % config.num_heads != 0)
    return invalid_argument(
        "cuda encoder: config hidden_size " + std::to_string(config.hidden_size) +
        " is not a multiple of num_attention_heads " + std::to_string(config.num_heads));
  const int64_t head_dim = config.head_dim();
  if (head_dim != 8 && head_dim != 16 && head_dim != 32 && head_dim != 64 && head_dim != 128)
    return unsupported("cuda encoder: head_dim " + std::to_string(head_dim) +
                       " is not supported (8, 16, 32, 64, 128)");
  if (config.hidden_size % 8 != 0 || config.hidden_size > 1024)
    return unsupported("cuda encoder: hidden_size " + std::to_string(config.hidden_size) +
                       " is not supported (a multiple of 8, at most 1024)");
  if (config.intermediate_size % 8 != 0)
    return unsupported("cuda encoder: intermediate_size " +
                       std::to_string(config.intermediate_size) + " is not a multiple of 8");
  if (config.head != HeadKind::kNone && config.num_labels() <= 0)
    return invalid_argument("cuda encoder: config has a classification head but no labels");
  if (options.linear_format != LinearFormat::kNative) {
    // A plan's precision name is its format's ("int4"), which stands for fp16 activations
    // (apply_precision_name): W8A8 GEMMs write fp16, and the weight-only formats keep the same rule.
    if (options.precision != Precision::kFp16)
      return unsupported(std::string("cuda encoder: ") +
                         cuda::linear_format_name(options.linear_format) +
                         " linear layers run with fp16 activations, not " +
                         cuda::precision_name(options.precision));
    if (config.hidden_size % 16 != 0 || config.intermediate_size % 16 != 0)
      return unsupported(
          std::string("cuda encoder: ") + cuda::linear_format_name(options.linear_format) +
          " needs hidden_size and intermediate_size multiples of 16, got " +
          std::to_string(config.hidden_size) + " and " + std::to_string(config.intermediate_size));
    if (is_w8a8(options.linear_format) && config.intermediate_size > cuda::kMaxRowEpilogueColumns)
      return unsupported(
          "cuda encoder: intermediate_size " + std::to_string(config.intermediate_size) +
          " is above the quantised row epilogue's " + std::to_string(cuda::kMaxRowEpilogueColumns));
  }
  if (options.max_batch_tokens <= 0 || options.max_batch_tokens > (1ll << 26))
    return invalid_argument("cuda encoder: max_batch_tokens must be in [1, 2^26], got " +
                            std::to_string(options.max_batch_tokens));
  if (options.max_batch_sequences <= 0)
    return invalid_argument("cuda encoder: max_batch_sequences must be positive, got " +
                            std::to_string(options.max_batch_sequences));
  return ok_status();
}

std::string layer_tensor(size_t layer_idx, const char* role) {
  return "layer." + std::to_string(layer_idx) + "." + role;
}

// The four linear layers of a layer in plan tensor names, in LinearSite order.
constexpr const char* kSiteRoles[kNumLinearSites] = {"qkv", "attention_output", "ffn_in",
                                                     "ffn_out"};

std::string site_tensor(int64_t layer_idx, LinearSite site, const char* suffix) {
  return layer_tensor(static_cast<size_t>(layer_idx), kSiteRoles[static_cast<int>(site)]) + suffix;
}

}  // namespace cuda_plan

namespace {

using cuda::LinearFormat;
using cuda::Precision;
using cuda_plan::align_up;
using cuda_plan::is_int4;
using cuda_plan::is_w8a8;
using cuda_plan::model_allows_codes_path;
using cuda_plan::layer_tensor;
using cuda_plan::site_tensor;
using cuda_plan::uses_gptq;

// Host-side image of all weights in the target precision, laid out as it will be on the device:
// the weights section of an engine plan, each tensor named in the plan's table.
class WeightArena {
 public:
  explicit WeightArena(Precision precision)
      : precision_(precision), bytes_(std::make_shared<std::vector<uint8_t>>()) {}

  // Appends `values` converted to the arena's precision under `name`, 256-byte aligned.
  void append(const std::string& name, const float* values, int64_t count) {
    std::vector<uint8_t>& bytes = *bytes_;
    const size_t offset = bytes.size();
    const size_t element_bytes = cuda::precision_size_bytes(precision_);
    bytes.resize(align_up(offset + count * element_bytes));
    tensors_.push_back(PlanTensor{name, offset, count * element_bytes});
    uint8_t* out = bytes.data() + offset;
    for (int64_t idx = 0; idx < count; ++idx) {
      if (precision_ == Precision::kFp32) {
        std::memcpy(out + idx * 4, &values[idx], 4);
      } else {
        const uint16_t half_bits =
            precision_ == Precision::kFp16 ? f32_to_f16(values[idx]) : f32_to_bf16(values[idx]);
        std::memcpy(out + idx * 2, &half_bits, 2);
      }
    }
  }

  // Appends bytes as they are (quantised codes, float32 scales), 256-byte aligned.
  void append_raw(const std::string& name, const void* data, size_t size_bytes) {
    std::vector<uint8_t>& bytes = *bytes_;
    const size_t offset = bytes.size();
    bytes.resize(align_up(offset + size_bytes));
    std::memcpy(bytes.data() + offset, data, size_bytes);
    tensors_.push_back(PlanTensor{name, offset, size_bytes});
  }

  // Checks `tensor` against `expected` and appends it.
  Status append_tensor(const Tensor& tensor, const Shape& expected, const std::string& name) {
    JN_ASSIGN_OR_RETURN(Tensor values, checked_f32(tensor, expected, name));
    append(name, values.data_as<float>(), values.numel());
    return ok_status();
  }

  // Q, K and V rows one after the other: the fused [3·hidden, hidden] weight (or [3·hidden] bias).
  static Result<std::vector<float>> fused(const Tensor& query, const Tensor& key,
                                          const Tensor& value, const Shape& expected,
                                          const std::string& name) {
    JN_ASSIGN_OR_RETURN(Tensor q, checked_f32(query, expected, name + " query"));
    JN_ASSIGN_OR_RETURN(Tensor k, checked_f32(key, expected, name + " key"));
    JN_ASSIGN_OR_RETURN(Tensor v, checked_f32(value, expected, name + " value"));
    std::vector<float> rows;
    rows.reserve(q.numel() * 3);
    for (const Tensor* part : {&q, &k, &v})
      rows.insert(rows.end(), part->data_as<float>(), part->data_as<float>() + part->numel());
    return rows;
  }

  Status append_fused(const Tensor& query, const Tensor& key, const Tensor& value,
                      const Shape& expected, const std::string& name) {
    JN_ASSIGN_OR_RETURN(std::vector<float> rows, fused(query, key, value, expected, name));
    append(name, rows.data(), static_cast<int64_t>(rows.size()));
    return ok_status();
  }

  static Result<std::vector<float>> checked_values(const Tensor& tensor, const Shape& expected,
                                                   const std::string& name) {
    JN_ASSIGN_OR_RETURN(Tensor values, checked_f32(tensor, expected, name));
    return std::vector<float>(values.data_as<float>(), values.data_as<float>() + values.numel());
  }

  // Hands the bytes and the tensor table to `plan`; the arena is empty afterwards.
  void move_into(EnginePlan& plan) {
    plan.weights = ByteBuffer{bytes_->data(), bytes_->size(), bytes_};
    plan.tensors = std::move(tensors_);
    bytes_ = std::make_shared<std::vector<uint8_t>>();
  }

 private:
  static Result<Tensor> checked_f32(const Tensor& tensor, const Shape& expected,
                                    const std::string& name) {
    if (tensor.empty())
      return invalid_argument("cuda encoder: weight " + name + " is missing, expected shape " +
                              shape_to_string(expected));
    if (tensor.shape() != expected)
      return invalid_argument("cuda encoder: weight " + name + " has shape " +
                              shape_to_string(tensor.shape()) + ", expected " +
                              shape_to_string(expected));
    if (!dtype_is_float(tensor.dtype()))
      return unsupported("cuda encoder: weight " + name + " has dtype " +
                         std::string(dtype_name(tensor.dtype())) + ", expected a float type");
    return tensor.to_f32();
  }

  Precision precision_;
  std::shared_ptr<std::vector<uint8_t>> bytes_;
  std::vector<PlanTensor> tensors_;
};

// Appends one linear layer's [out, in] weight in the plan's format: as is (kNative), or as codes
// plus per-output-channel scales (kFp8 / kInt8), with the calibrated input scale and the
// SmoothQuant divisors when the options ask for them. input_floor (not NaN): the input's lowest
// value, recorded (`_input_floor`) for asymmetric codes with a calibrated scale.
Status append_linear(WeightArena& arena, std::vector<float> weight, int64_t out_features,
                     int64_t in_features, int64_t layer_idx, LinearSite site,
                     const CudaEncoderOptions& options,
                     float input_floor = std::numeric_limits<float>::quiet_NaN()) {
  const std::string weight_name = site_tensor(layer_idx, site, "_weight");
  if (options.linear_format == LinearFormat::kNative) {
    arena.append(weight_name, weight.data(), static_cast<int64_t>(weight.size()));
    return ok_status();
  }
  // With the layer input's Gram matrix from calibration, GPTQ; else round-to-nearest.
  const float* gram = nullptr;
  if (uses_gptq(options)) {
    const std::vector<float>& stats = options.calibration->site(layer_idx, site).gram;
    if (stats.size() != static_cast<size_t>(in_features * in_features))
      return invalid_argument("cuda plan: GPTQ statistics of " + weight_name + " have " +
                              std::to_string(stats.size()) + " entries, expected " +
                              std::to_string(in_features * in_features));
    gram = stats.data();
  }
  if (is_int4(options.linear_format)) {
    // The blob (codes, scale codes, block scales) plus its layout, which also carries the scales'
    // offset: everything make_device_int4_weight needs to address it on the device.
    const Int4Format format =
        options.linear_format == LinearFormat::kInt4 ? Int4Format::kInt4 : Int4Format::kNf4;
    JN_RETURN_IF_ERROR(check_group_size(options.int4_group_size, in_features, weight_name));
    JN_ASSIGN_OR_RETURN(
        Int4Matrix matrix,
        gram ? quantize_int4_gptq(weight.data(), out_features, in_features, options.int4_group_size,
                                  format, gram, kGptqDamping, weight_name)
             : quantize_int4(weight.data(), out_features, in_features, options.int4_group_size,
                             format, weight_name));
    std::vector<uint8_t> blob;
    JN_ASSIGN_OR_RETURN(const cuda::Int4BlobLayout layout,
                        cuda::append_int4_weight(matrix, weight_name, blob));
    arena.append_raw(weight_name, blob.data(), blob.size());
    arena.append_raw(site_tensor(layer_idx, site, "_weight_layout"), &layout, sizeof(layout));
    return ok_status();
  }
  // Per-channel codes and scales; the W8A8 formats may add SmoothQuant divisors and a calibrated
  // input scale (the weight-only format keeps fp16 inputs).
  const bool fp8 = options.linear_format == LinearFormat::kFp8;
  const bool asymmetric = !fp8 && !std::isnan(input_floor);
  std::vector<float> divisor, smoothed_gram, offsets;
  float static_absmax = 0.0f;
  if (options.calibration && is_w8a8(options.linear_format)) {
    const SiteCalibration& stats = options.calibration->site(layer_idx, site);
    if (!fp8 && options.smoothquant_alpha > 0.0f)
      divisor = smoothing_factors(stats.channel_absmax, weight.data(), out_features, in_features,
                                  options.smoothquant_alpha);
    if (asymmetric) offsets = asymmetric_input_offsets(input_floor, divisor, in_features);
    // FP8 keeps the percentile's clip: its codes are floating point, so the largest value costs
    // the small ones little resolution.
    if (options.static_activation_scales)
      static_absmax = fp8 ? static_activation_absmax(stats, divisor)
                          : searched_static_absmax(stats, divisor, offsets, weight.data(),
                                                   out_features, in_features);
    if (!divisor.empty()) {
      for (int64_t row = 0; row < out_features; ++row)
        for (int64_t col = 0; col < in_features; ++col)
          weight[row * in_features + col] *= divisor[col];
      if (gram) {  // the GEMM's input is x / divisor
        smoothed_gram = gram_after_smoothing(gram, divisor.data(), in_features);
        gram = smoothed_gram.data();
      }
    }
  }
  std::vector<float> scales;
  if (fp8) {
    JN_ASSIGN_OR_RETURN(Fp8Matrix matrix, quantize_fp8_per_row(weight.data(), out_features,
                                                               in_features, weight_name, gram));
    arena.append_raw(weight_name, matrix.codes.data(), matrix.codes.size());
    scales = std::move(matrix.scales);
  } else {
    JN_ASSIGN_OR_RETURN(Int8Matrix matrix, quantize_int8_per_row(weight.data(), out_features,
                                                                 in_features, weight_name, gram));
    arena.append_raw(weight_name, matrix.codes.data(), matrix.codes.size());
    scales = std::move(matrix.scales);
  }
  arena.append_raw(site_tensor(layer_idx, site, "_weight_scale"), scales.data(),
                   scales.size() * sizeof(float));
  if (!divisor.empty())
    arena.append_raw(site_tensor(layer_idx, site, "_input_divisor"), divisor.data(),
                     divisor.size() * sizeof(float));
  if (static_absmax > 0.0f) {
    const float scale = fp8          ? fp8_scale_for_absmax(static_absmax)
                        : asymmetric ? int8_asymmetric_scale(static_absmax, offsets)
                                     : int8_scale_for_absmax(static_absmax);
    arena.append_raw(site_tensor(layer_idx, site, "_input_scale"), &scale, sizeof(scale));
    if (asymmetric)
      arena.append_raw(site_tensor(layer_idx, site, "_input_floor"), &input_floor,
                       sizeof(input_floor));
  }
  return ok_status();
}

// Converts every weight into `arena` under its plan name, checking shapes on the way.
Status fill_arena(const EncoderConfig& config, const EncoderWeights& weights,
                  const CudaEncoderOptions& options, WeightArena& arena) {
  const int64_t hidden = config.hidden_size;
  const int64_t intermediate = config.intermediate_size;
  if (static_cast<int64_t>(weights.layers.size()) != config.num_layers)
    return invalid_argument("cuda encoder: config has " + std::to_string(config.num_layers) +
                            " layers but the weights have " +
                            std::to_string(weights.layers.size()));
  JN_RETURN_IF_ERROR(
      arena.append_tensor(weights.word_embeddings, {config.vocab_size, hidden}, "word_embeddings"));
  JN_RETURN_IF_ERROR(arena.append_tensor(weights.position_embeddings,
                                         {config.max_position_embeddings, hidden},
                                         "position_embeddings"));
  if (config.type_vocab_size > 0) {
    JN_RETURN_IF_ERROR(arena.append_tensor(
        weights.token_type_embeddings, {config.type_vocab_size, hidden}, "token_type_embeddings"));
  }
  JN_RETURN_IF_ERROR(
      arena.append_tensor(weights.embedding_norm_gamma, {hidden}, "embedding_norm_gamma"));
  JN_RETURN_IF_ERROR(
      arena.append_tensor(weights.embedding_norm_beta, {hidden}, "embedding_norm_beta"));
  for (size_t layer_idx = 0; layer_idx < weights.layers.size(); ++layer_idx) {
    const LayerWeights& layer = weights.layers[layer_idx];
    const auto name = [&](const char* role) { return layer_tensor(layer_idx, role); };
    const auto linear = [&](Result<std::vector<float>> values, int64_t out_features,
                            int64_t in_features, LinearSite site) -> Status {
      if (!values.ok()) return values.status();
      // Asymmetric FFN-out codes come from the FFN-in GEMM, which writes them only on the
      // encoder's calibrated codes path.
      const bool asymmetric = site == LinearSite::kFfnOut &&
                              options.linear_format == LinearFormat::kInt8 &&
                              options.static_activation_scales && options.int8_asymmetric_ffn_codes &&
                              model_allows_codes_path(config, options);
      return append_linear(arena, std::move(values).value(), out_features, in_features,
                           static_cast<int64_t>(layer_idx), site, options,
                           asymmetric ? kGeluFloor : std::numeric_limits<float>::quiet_NaN());
    };
    JN_RETURN_IF_ERROR(
        linear(WeightArena::fused(layer.query_weight, layer.key_weight, layer.value_weight,
                                  {hidden, hidden}, name("qkv_weight")),
               3 * hidden, hidden, LinearSite::kQkv));
    JN_RETURN_IF_ERROR(arena.append_fused(layer.query_bias, layer.key_bias, layer.value_bias,
                                          {hidden}, name("qkv_bias")));
    JN_RETURN_IF_ERROR(
        linear(WeightArena::checked_values(layer.attention_output_weight, {hidden, hidden},
                                           name("attention_output_weight")),
               hidden, hidden, LinearSite::kAttentionOutput));
    JN_RETURN_IF_ERROR(
        arena.append_tensor(layer.attention_output_bias, {hidden}, name("attention_output_bias")));
    JN_RETURN_IF_ERROR(
        arena.append_tensor(layer.attention_norm_gamma, {hidden}, name("attention_norm_gamma")));
    JN_RETURN_IF_ERROR(
        arena.append_tensor(layer.attention_norm_beta, {hidden}, name("attention_norm_beta")));
    JN_RETURN_IF_ERROR(
        linear(WeightArena::checked_values(layer.ffn_in_weight, {intermediate, hidden},
                                           name("ffn_in_weight")),
               intermediate, hidden, LinearSite::kFfnIn));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_in_bias, {intermediate}, name("ffn_in_bias")));
    JN_RETURN_IF_ERROR(
        linear(WeightArena::checked_values(layer.ffn_out_weight, {hidden, intermediate},
                                           name("ffn_out_weight")),
               hidden, intermediate, LinearSite::kFfnOut));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_out_bias, {hidden}, name("ffn_out_bias")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_norm_gamma, {hidden}, name("ffn_norm_gamma")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_norm_beta, {hidden}, name("ffn_norm_beta")));
  }
  if (config.head != HeadKind::kNone) {
    const int64_t labels = config.num_labels();
    if (config.head == HeadKind::kSequenceClassification && !weights.head.pre_weight.empty()) {
      JN_RETURN_IF_ERROR(
          arena.append_tensor(weights.head.pre_weight, {hidden, hidden}, "head.pre_weight"));
      JN_RETURN_IF_ERROR(arena.append_tensor(weights.head.pre_bias, {hidden}, "head.pre_bias"));
    }
    JN_RETURN_IF_ERROR(
        arena.append_tensor(weights.head.out_weight, {labels, hidden}, "head.out_weight"));
    JN_RETURN_IF_ERROR(arena.append_tensor(weights.head.out_bias, {labels}, "head.out_bias"));
  }
  return ok_status();
}

}  // namespace

const char* cuda::linear_format_name(LinearFormat format) {
  switch (format) {
    case LinearFormat::kNative:
      return "native";
    case LinearFormat::kFp8:
      return "fp8";
    case LinearFormat::kInt8:
      return "int8";
    case LinearFormat::kInt4:
      return "int4";
    case LinearFormat::kNf4:
      return "nf4";
    case LinearFormat::kInt8WeightOnly:
      return "int8-weight-only";
  }
  return "?";
}

Status apply_precision_name(const std::string& name, CudaEncoderOptions& options) {
  for (const Precision precision : {Precision::kFp16, Precision::kBf16, Precision::kFp32}) {
    if (name == cuda::precision_name(precision)) {
      options.precision = precision;
      options.linear_format = LinearFormat::kNative;
      return ok_status();
    }
  }
  for (const LinearFormat format :
       {LinearFormat::kFp8, LinearFormat::kInt8, LinearFormat::kInt4, LinearFormat::kNf4,
        LinearFormat::kInt8WeightOnly}) {
    if (name == cuda::linear_format_name(format)) {
      // Every quantised format keeps fp16 activations (the sm90 GEMMs write scaled fp16).
      options.precision = Precision::kFp16;
      options.linear_format = format;
      return ok_status();
    }
  }
  return invalid_argument("precision '" + name +
                          "' is not one of fp16, bf16, fp32, fp8, int8, int8-weight-only, int4, nf4");
}

std::string cuda_precision_name(const CudaEncoderOptions& options) {
  if (options.linear_format == LinearFormat::kNative)
    return cuda::precision_name(options.precision);
  return cuda::linear_format_name(options.linear_format);
}

Result<CudaDeviceIdentity> cuda_device_identity(int device) {
  cudaDeviceProp properties{};
  JN_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
  return CudaDeviceIdentity{
      properties.name, std::to_string(properties.major) + "." + std::to_string(properties.minor)};
}

PlanKey cuda_plan_key(const std::string& model_hash, const CudaDeviceIdentity& identity,
                      const CudaEncoderOptions& options) {
  PlanKey key;
  key.model_hash = model_hash;
  key.device_name = identity.name;
  key.compute_capability = identity.compute_capability;
  key.precision = cuda_precision_name(options);
  key.build_options = "backend=cuda;max_batch_tokens=" + std::to_string(options.max_batch_tokens) +
                      ";max_batch_sequences=" + std::to_string(options.max_batch_sequences) +
                      ";gemm_workspace_bytes=" + std::to_string(options.workspace_bytes);
  if (options.linear_format == LinearFormat::kInt4 || options.linear_format == LinearFormat::kNf4)
    key.build_options += ";group_size=" + std::to_string(options.int4_group_size);
  if (options.static_activation_scales) key.build_options += ";static_activation_scales=1";
  if (options.calibration) key.build_options += ";calibration=" + options.calibration_id;
  if (uses_gptq(options)) key.build_options += ";gptq=1";
  if (options.smoothquant_alpha > 0.0f)
    key.build_options += ";smoothquant_alpha=" + std::to_string(options.smoothquant_alpha);
  if (options.linear_format == LinearFormat::kInt8 && options.static_activation_scales &&
      options.int8_asymmetric_ffn_codes)
    key.build_options += ";asymmetric_ffn_codes=1";
  if (options.linear_format == LinearFormat::kInt8 && options.static_activation_scales)
    key.build_options += ";static_clip=searched";  // static_scale_search.h (session 13)
  return key;
}

Result<EnginePlan> build_cuda_plan(const EncoderConfig& config, const EncoderWeights& weights,
                                   const CudaEncoderOptions& options, const PlanKey& key) {
  JN_RETURN_IF_ERROR(cuda_plan::check_config(config, options));
  // Counted here too, so that a plan that builds does not fail to load.
  const size_t workspace_bytes = cuda_plan::workspace_bytes(config, options);
  if (workspace_bytes > options.max_workspace_bytes)
    return resource_exhausted(
        "cuda plan: workspace for max_batch_tokens " + std::to_string(options.max_batch_tokens) +
        " needs " + std::to_string(workspace_bytes >> 20) + " MiB, more than " +
        std::to_string(options.max_workspace_bytes >> 20) + " MiB (max_workspace_bytes)");
  const std::string precision = cuda_precision_name(options);
  if (!key.precision.empty() && key.precision != precision)
    return invalid_argument("cuda plan: key precision " + key.precision +
                            " differs from the options' " + precision);
  if ((options.static_activation_scales || options.smoothquant_alpha > 0.0f) &&
      !options.calibration)
    return invalid_argument(
        "cuda plan: calibrated activation scales and SmoothQuant need a calibration "
        "(--calibrate FILE.jsonl)");
  if (options.calibration)
    JN_RETURN_IF_ERROR(options.calibration->check_shape(config.num_layers, config.hidden_size,
                                                        config.intermediate_size));
  WeightArena arena(options.precision);
  JN_RETURN_IF_ERROR(fill_arena(config, weights, options, arena));
  EnginePlan plan;
  plan.key = key;
  plan.key.precision = precision;  // an in-memory plan (empty key) still records its precision
  plan.config = config;
  plan.head_pre_activation = weights.head.pre_activation;
  plan.max_batch_tokens = options.max_batch_tokens;
  plan.max_batch_sequences = options.max_batch_sequences;
  plan.gemm_workspace_bytes = options.workspace_bytes;
  plan.notes = options.plan_notes;
  arena.move_into(plan);
  return plan;
}

}  // namespace justnews
