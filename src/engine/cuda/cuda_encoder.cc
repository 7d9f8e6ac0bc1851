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

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gemm_cublaslt.h"
#include "engine/engine_plan.h"
#include "tensor/dtype.h"

namespace justnews {

namespace {

using cuda::DeviceBuffer;
using cuda::GemmEpilogue;
using cuda::PinnedBuffer;
using cuda::Precision;

constexpr size_t kAlignBytes = 256;
// Graph buckets round the longest sequence up to this, so batches that differ only a little in
// their longest sequence share a graph (blocks past a sequence's end exit at once).
constexpr int64_t kSequenceBucket = 64;

size_t align_up(size_t value, size_t alignment = kAlignBytes) {
  return (value + alignment - 1) / alignment * alignment;
}

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

  // Checks `tensor` against `expected` and appends it.
  Status append_tensor(const Tensor& tensor, const Shape& expected, const std::string& name) {
    JN_ASSIGN_OR_RETURN(Tensor values, checked_f32(tensor, expected, name));
    append(name, values.data_as<float>(), values.numel());
    return ok_status();
  }

  // Q, K and V rows one after the other: the fused [3·hidden, hidden] weight (or [3·hidden] bias).
  Status append_fused(const Tensor& query, const Tensor& key, const Tensor& value,
                      const Shape& expected, const std::string& name) {
    JN_ASSIGN_OR_RETURN(Tensor q, checked_f32(query, expected, name + " query"));
    JN_ASSIGN_OR_RETURN(Tensor k, checked_f32(key, expected, name + " key"));
    JN_ASSIGN_OR_RETURN(Tensor v, checked_f32(value, expected, name + " value"));
    std::vector<float> fused;
    fused.reserve(q.numel() * 3);
    for (const Tensor* part : {&q, &k, &v})
      fused.insert(fused.end(), part->data_as<float>(), part->data_as<float>() + part->numel());
    append(name, fused.data(), static_cast<int64_t>(fused.size()));
    return ok_status();
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

struct DeviceLayer {
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

Status check_config(const EncoderConfig& config, const CudaEncoderOptions& options) {
  const auto positive = [](int64_t value, const char* field) -> Status {
    if (value <= 0)
      return invalid_argument(std::string("cuda encoder: config ") + field + " must be positive, got " +
                              std::to_string(value));
    return ok_status();
  };
  JN_RETURN_IF_ERROR(positive(config.vocab_size, "vocab_size"));
  JN_RETURN_IF_ERROR(positive(config.hidden_size, "hidden_size"));
  JN_RETURN_IF_ERROR(positive(config.num_layers, "num_hidden_layers"));
  JN_RETURN_IF_ERROR(positive(config.num_heads, "num_attention_heads"));
  JN_RETURN_IF_ERROR(positive(config.intermediate_size, "intermediate_size"));
  JN_RETURN_IF_ERROR(positive(config.max_sequence_length(), "max_position_embeddings - position_offset"));
  if (config.hidden_size % config.num_heads != 0)
    return invalid_argument("cuda encoder: config hidden_size " + std::to_string(config.hidden_size) +
                            " is not a multiple of num_attention_heads " +
                            std::to_string(config.num_heads));
  const int64_t head_dim = config.head_dim();
  if (head_dim != 8 && head_dim != 16 && head_dim != 32 && head_dim != 64 && head_dim != 128)
    return unsupported("cuda encoder: head_dim " + std::to_string(head_dim) +
                       " is not supported (8, 16, 32, 64, 128)");
  if (config.hidden_size % 8 != 0 || config.hidden_size > 1024)
    return unsupported("cuda encoder: hidden_size " + std::to_string(config.hidden_size) +
                       " is not supported (a multiple of 8, at most 1024)");
  if (config.intermediate_size % 8 != 0)
    return unsupported("cuda encoder: intermediate_size " + std::to_string(config.intermediate_size) +
                       " is not a multiple of 8");
  if (config.head != HeadKind::kNone && config.num_labels() <= 0)
    return invalid_argument("cuda encoder: config has a classification head but no labels");
  if (options.max_batch_tokens <= 0 || options.max_batch_tokens > (1ll << 26))
    return invalid_argument("cuda encoder: max_batch_tokens must be in [1, 2^26], got " +
                            std::to_string(options.max_batch_tokens));
  if (options.max_batch_sequences <= 0)
    return invalid_argument("cuda encoder: max_batch_sequences must be positive, got " +
                            std::to_string(options.max_batch_sequences));
  return ok_status();
}

// Per-layer tensor names in a plan: "layer.<idx>.<role>".
std::string layer_tensor(size_t layer_idx, const char* role) {
  return "layer." + std::to_string(layer_idx) + "." + role;
}

// Converts every weight into `arena` under its plan name, checking shapes on the way.
Status fill_arena(const EncoderConfig& config, const EncoderWeights& weights, WeightArena& arena) {
  const int64_t hidden = config.hidden_size;
  const int64_t intermediate = config.intermediate_size;
  if (static_cast<int64_t>(weights.layers.size()) != config.num_layers)
    return invalid_argument("cuda encoder: config has " + std::to_string(config.num_layers) +
                            " layers but the weights have " + std::to_string(weights.layers.size()));
  JN_RETURN_IF_ERROR(arena.append_tensor(weights.word_embeddings, {config.vocab_size, hidden},
                                         "word_embeddings"));
  JN_RETURN_IF_ERROR(arena.append_tensor(weights.position_embeddings,
                                         {config.max_position_embeddings, hidden},
                                         "position_embeddings"));
  if (config.type_vocab_size > 0) {
    JN_RETURN_IF_ERROR(arena.append_tensor(weights.token_type_embeddings,
                                           {config.type_vocab_size, hidden},
                                           "token_type_embeddings"));
  }
  JN_RETURN_IF_ERROR(arena.append_tensor(weights.embedding_norm_gamma, {hidden}, "embedding_norm_gamma"));
  JN_RETURN_IF_ERROR(arena.append_tensor(weights.embedding_norm_beta, {hidden}, "embedding_norm_beta"));
  for (size_t layer_idx = 0; layer_idx < weights.layers.size(); ++layer_idx) {
    const LayerWeights& layer = weights.layers[layer_idx];
    const auto name = [&](const char* role) { return layer_tensor(layer_idx, role); };
    JN_RETURN_IF_ERROR(arena.append_fused(layer.query_weight, layer.key_weight, layer.value_weight,
                                          {hidden, hidden}, name("qkv_weight")));
    JN_RETURN_IF_ERROR(arena.append_fused(layer.query_bias, layer.key_bias, layer.value_bias, {hidden},
                                          name("qkv_bias")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.attention_output_weight, {hidden, hidden},
                                           name("attention_output_weight")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.attention_output_bias, {hidden},
                                           name("attention_output_bias")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.attention_norm_gamma, {hidden},
                                           name("attention_norm_gamma")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.attention_norm_beta, {hidden},
                                           name("attention_norm_beta")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_in_weight, {intermediate, hidden},
                                           name("ffn_in_weight")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_in_bias, {intermediate}, name("ffn_in_bias")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_out_weight, {hidden, intermediate},
                                           name("ffn_out_weight")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_out_bias, {hidden}, name("ffn_out_bias")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_norm_gamma, {hidden}, name("ffn_norm_gamma")));
    JN_RETURN_IF_ERROR(arena.append_tensor(layer.ffn_norm_beta, {hidden}, name("ffn_norm_beta")));
  }
  if (config.head != HeadKind::kNone) {
    const int64_t labels = config.num_labels();
    if (config.head == HeadKind::kSequenceClassification && !weights.head.pre_weight.empty()) {
      JN_RETURN_IF_ERROR(arena.append_tensor(weights.head.pre_weight, {hidden, hidden}, "head.pre_weight"));
      JN_RETURN_IF_ERROR(arena.append_tensor(weights.head.pre_bias, {hidden}, "head.pre_bias"));
    }
    JN_RETURN_IF_ERROR(arena.append_tensor(weights.head.out_weight, {labels, hidden}, "head.out_weight"));
    JN_RETURN_IF_ERROR(arena.append_tensor(weights.head.out_bias, {labels}, "head.out_bias"));
  }
  return ok_status();
}

// Byte offsets of the workspace regions (see workspace_layout()).
struct WorkspaceLayout {
  size_t inputs_at = 0, hidden_at = 0, wide_at = 0, narrow_at = 0;
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
  std::string backend_name() const override {
    return std::string("cuda-") + cuda::precision_name(options_.precision);
  }
  Result<ForwardResult> forward(const PackedBatch& batch, const ForwardRequest& request) override;
  Result<double> device_time_ms(const PackedBatch& batch, int iterations);
  size_t device_bytes() const { return weights_.size_bytes() + workspace_.size_bytes(); }

 private:
  using ShapeKey = std::tuple<int64_t, int64_t, int64_t>;  // tokens, sequences, length bucket

  Status upload_plan(const EnginePlan& plan);
  // Copies the batch's ids, type ids, positions and offsets to the device (async); returns the
  // longest sequence rounded up to the graph bucket.
  Result<int64_t> stage_inputs(const PackedBatch& batch);
  Status allocate_workspace();
  // Embeddings and every layer, leaving the last hidden state in hidden_.
  Status run_layers(int64_t tokens, int64_t sequences, int64_t length_bucket);
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

  DeviceBuffer workspace_;
  PinnedBuffer input_staging_;    // int32 ids, type ids, positions, offsets
  PinnedBuffer output_staging_;   // float32 results
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
  void* gemm_workspace_ = nullptr;
  std::unique_ptr<cuda::GemmRunner> gemm_;

  std::set<ShapeKey> seen_shapes_;
  std::map<ShapeKey, cudaGraphExec_t> graphs_;
};

CudaEncoder::~CudaEncoder() {
  for (auto& [key, graph] : graphs_) cudaGraphExecDestroy(graph);
  gemm_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

Status CudaEncoder::initialize(const EnginePlan& plan) {
  JN_CUDA_CHECK(cudaSetDevice(options_.device));
  JN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  JN_RETURN_IF_ERROR(upload_plan(plan));
  JN_RETURN_IF_ERROR(allocate_workspace());
  JN_ASSIGN_OR_RETURN(gemm_, cuda::GemmRunner::create(options_.precision, gemm_workspace_,
                                                      options_.workspace_bytes));
  return ok_status();
}

Status CudaEncoder::upload_plan(const EnginePlan& plan) {
  // One copy of the whole weights section; tensors are then addressed by their plan offsets.
  JN_ASSIGN_OR_RETURN(weights_, DeviceBuffer::allocate(std::max<size_t>(plan.weights.size, 1),
                                                       "encoder weights"));
  JN_CUDA_CHECK(cudaMemcpy(weights_.data(), plan.weights.data, plan.weights.size,
                           cudaMemcpyHostToDevice));
  const size_t element_bytes = cuda::precision_size_bytes(options_.precision);
  const auto device = [&](const std::string& name, int64_t count) -> Result<const void*> {
    const PlanTensor* tensor = plan.find(name);
    if (!tensor)
      return invalid_argument("cuda encoder: plan has no tensor " + name);
    if (tensor->size_bytes != static_cast<uint64_t>(count) * element_bytes || tensor->offset % 16 != 0)
      return invalid_argument("cuda encoder: plan tensor " + name + " has " +
                              std::to_string(tensor->size_bytes) + " bytes at offset " +
                              std::to_string(tensor->offset) + ", expected " +
                              std::to_string(count * element_bytes) + " bytes, 16-byte aligned");
    return static_cast<const void*>(static_cast<const uint8_t*>(weights_.data()) + tensor->offset);
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
    JN_ASSIGN_OR_RETURN(layer.qkv_weight, device(name("qkv_weight"), 3 * hidden * hidden));
    JN_ASSIGN_OR_RETURN(layer.qkv_bias, device(name("qkv_bias"), 3 * hidden));
    JN_ASSIGN_OR_RETURN(layer.attention_output_weight, device(name("attention_output_weight"), hidden * hidden));
    JN_ASSIGN_OR_RETURN(layer.attention_output_bias, device(name("attention_output_bias"), hidden));
    JN_ASSIGN_OR_RETURN(layer.attention_norm_gamma, device(name("attention_norm_gamma"), hidden));
    JN_ASSIGN_OR_RETURN(layer.attention_norm_beta, device(name("attention_norm_beta"), hidden));
    JN_ASSIGN_OR_RETURN(layer.ffn_in_weight, device(name("ffn_in_weight"), intermediate * hidden));
    JN_ASSIGN_OR_RETURN(layer.ffn_in_bias, device(name("ffn_in_bias"), intermediate));
    JN_ASSIGN_OR_RETURN(layer.ffn_out_weight, device(name("ffn_out_weight"), hidden * intermediate));
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

WorkspaceLayout workspace_layout(const EncoderConfig& config, const CudaEncoderOptions& options) {
  const size_t tokens = static_cast<size_t>(options.max_batch_tokens);
  const size_t sequences = static_cast<size_t>(std::min(options.max_batch_sequences, options.max_batch_tokens));
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
  const size_t layers_end = offset;
  offset = scratch_start;
  region(layout.hidden_f32_at, tokens * hidden * sizeof(float));
  region(layout.logits_f32_at, tokens * labels * sizeof(float));
  region(layout.cls_at, sequences * hidden * element);
  region(layout.pre_at, sequences * hidden * element);
  region(layout.pooled_f32_at, sequences * hidden * sizeof(float));
  offset = std::max(offset, layers_end);
  region(layout.gemm_at, options.workspace_bytes);
  layout.total_bytes = offset;
  return layout;
}

Status CudaEncoder::allocate_workspace() {
  const WorkspaceLayout layout = workspace_layout(config_, options_);
  const size_t tokens = static_cast<size_t>(options_.max_batch_tokens);
  if (layout.total_bytes > options_.max_workspace_bytes)
    return resource_exhausted("cuda encoder: workspace for max_batch_tokens " + std::to_string(tokens) +
                              " needs " + std::to_string(layout.total_bytes >> 20) +
                              " MiB, more than max_workspace_bytes (" +
                              std::to_string(options_.max_workspace_bytes >> 20) +
                              " MiB): lower max_batch_tokens or raise the limit");
  JN_ASSIGN_OR_RETURN(workspace_, DeviceBuffer::allocate(layout.total_bytes,
                                                         "encoder workspace (max_batch_tokens " +
                                                             std::to_string(tokens) + ")"));
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

  const size_t sequences = static_cast<size_t>(std::min(options_.max_batch_sequences, options_.max_batch_tokens));
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
      position_embeddings_, token_type_embeddings_, embedding_norm_gamma_, embedding_norm_beta_, eps,
      hidden_, stream_));
  for (const DeviceLayer& layer : layers_) {
    JN_RETURN_IF_ERROR(gemm_->linear(hidden_, tokens, hidden, layer.qkv_weight, layer.qkv_bias,
                                     3 * hidden, GemmEpilogue::kBias, qkv_, stream_));
    JN_RETURN_IF_ERROR(cuda::launch_attention(precision, qkv_, seq_offsets, sequences, length_bucket,
                                              config_.num_heads, config_.head_dim(), context_,
                                              stream_, options_.attention_kernel));
    JN_RETURN_IF_ERROR(gemm_->linear(context_, tokens, hidden, layer.attention_output_weight,
                                     layer.attention_output_bias, hidden, GemmEpilogue::kBias,
                                     projected_, stream_));
    JN_RETURN_IF_ERROR(cuda::launch_add_layer_norm(precision, projected_, hidden_,
                                                   layer.attention_norm_gamma,
                                                   layer.attention_norm_beta, eps, tokens, hidden,
                                                   hidden_, stream_));
    Activation activation = config_.activation;
    if (activation == Activation::kGeluErf && options_.gelu_erf_as_tanh) activation = Activation::kGeluTanh;
    switch (activation) {
      case Activation::kGeluErf:
        // cuBLASLt only offers tanh-GELU; the exact erf form runs as its own fused bias kernel.
        JN_RETURN_IF_ERROR(gemm_->linear(hidden_, tokens, hidden, layer.ffn_in_weight, nullptr,
                                         intermediate, GemmEpilogue::kNone, ffn_, stream_));
        JN_RETURN_IF_ERROR(cuda::launch_bias_gelu_erf(precision, ffn_, layer.ffn_in_bias, tokens,
                                                      intermediate, stream_));
        break;
      case Activation::kGeluTanh:
        JN_RETURN_IF_ERROR(gemm_->linear(hidden_, tokens, hidden, layer.ffn_in_weight,
                                         layer.ffn_in_bias, intermediate,
                                         GemmEpilogue::kBiasGeluTanh, ffn_, stream_));
        break;
      case Activation::kRelu:
        JN_RETURN_IF_ERROR(gemm_->linear(hidden_, tokens, hidden, layer.ffn_in_weight,
                                         layer.ffn_in_bias, intermediate, GemmEpilogue::kBiasRelu,
                                         ffn_, stream_));
        break;
    }
    JN_RETURN_IF_ERROR(gemm_->linear(ffn_, tokens, intermediate, layer.ffn_out_weight,
                                     layer.ffn_out_bias, hidden, GemmEpilogue::kBias, ffn_out_,
                                     stream_));
    JN_RETURN_IF_ERROR(cuda::launch_add_layer_norm(precision, ffn_out_, hidden_,
                                                   layer.ffn_norm_gamma, layer.ffn_norm_beta, eps,
                                                   tokens, hidden, hidden_, stream_));
  }
  return ok_status();
}

Status CudaEncoder::run_layers_maybe_graph(int64_t tokens, int64_t sequences,
                                           int64_t length_bucket) {
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
  JN_CUDA_CHECK(cudaMemcpyAsync(device_inputs_, staging, input_bytes, cudaMemcpyHostToDevice, stream_));
  return (batch.max_sequence_length() + kSequenceBucket - 1) / kSequenceBucket * kSequenceBucket;
}

Result<double> CudaEncoder::device_time_ms(const PackedBatch& batch, int iterations) {
  JN_RETURN_IF_ERROR(batch.validate(config_.vocab_size, config_.type_vocab_size,
                                    config_.max_sequence_length()));
  const int64_t tokens = batch.total_tokens();
  const int64_t sequences = batch.num_sequences();
  if (tokens > options_.max_batch_tokens || sequences > options_.max_batch_sequences)
    return resource_exhausted("cuda encoder: batch of " + std::to_string(sequences) + " sequences, " +
                              std::to_string(tokens) + " tokens exceeds the encoder's limits");
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

Result<ForwardResult> CudaEncoder::forward(const PackedBatch& batch, const ForwardRequest& request) {
  JN_RETURN_IF_ERROR(batch.validate(config_.vocab_size, config_.type_vocab_size,
                                    config_.max_sequence_length()));
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
    JN_RETURN_IF_ERROR(cuda::launch_to_float(precision, hidden_, tokens * hidden, hidden_f32_, stream_));
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
    JN_RETURN_IF_ERROR(cuda::launch_pooling(precision, hidden_, seq_offsets, sequences, hidden, mode,
                                            normalize, pooled_f32_, stream_));
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

Result<Precision> precision_from_name(const std::string& name) {
  for (const Precision precision : {Precision::kFp16, Precision::kBf16, Precision::kFp32})
    if (name == cuda::precision_name(precision)) return precision;
  return invalid_argument("precision '" + name + "' is not one of fp16, bf16, fp32");
}

Result<CudaDeviceIdentity> cuda_device_identity(int device) {
  cudaDeviceProp properties{};
  JN_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
  return CudaDeviceIdentity{properties.name,
                            std::to_string(properties.major) + "." + std::to_string(properties.minor)};
}

PlanKey cuda_plan_key(const std::string& model_hash, const CudaDeviceIdentity& identity,
                      const CudaEncoderOptions& options) {
  PlanKey key;
  key.model_hash = model_hash;
  key.device_name = identity.name;
  key.compute_capability = identity.compute_capability;
  key.precision = cuda::precision_name(options.precision);
  key.build_options = "backend=cuda;max_batch_tokens=" + std::to_string(options.max_batch_tokens) +
                      ";max_batch_sequences=" + std::to_string(options.max_batch_sequences) +
                      ";gemm_workspace_bytes=" + std::to_string(options.workspace_bytes);
  return key;
}

Result<EnginePlan> build_cuda_plan(const EncoderConfig& config, const EncoderWeights& weights,
                                   const CudaEncoderOptions& options, const PlanKey& key) {
  JN_RETURN_IF_ERROR(check_config(config, options));
  const size_t workspace_bytes = workspace_layout(config, options).total_bytes;
  if (workspace_bytes > options.max_workspace_bytes)
    return resource_exhausted("cuda plan: workspace for max_batch_tokens " +
                              std::to_string(options.max_batch_tokens) + " needs " +
                              std::to_string(workspace_bytes >> 20) + " MiB, more than " +
                              std::to_string(options.max_workspace_bytes >> 20) +
                              " MiB (max_workspace_bytes)");
  const std::string precision = cuda::precision_name(options.precision);
  if (!key.precision.empty() && key.precision != precision)
    return invalid_argument("cuda plan: key precision " + key.precision + " differs from the options' " +
                            precision);
  WeightArena arena(options.precision);
  JN_RETURN_IF_ERROR(fill_arena(config, weights, arena));
  EnginePlan plan;
  plan.key = key;
  plan.key.precision = precision;  // an in-memory plan (empty key) still records its precision
  plan.config = config;
  plan.head_pre_activation = weights.head.pre_activation;
  plan.max_batch_tokens = options.max_batch_tokens;
  plan.max_batch_sequences = options.max_batch_sequences;
  plan.gemm_workspace_bytes = options.workspace_bytes;
  arena.move_into(plan);
  return plan;
}

Result<std::unique_ptr<Encoder>> make_cuda_encoder(const EnginePlan& plan,
                                                   const CudaEncoderOptions& options) {
  CudaEncoderOptions effective = options;
  JN_ASSIGN_OR_RETURN(effective.precision, precision_from_name(plan.key.precision));
  effective.max_batch_tokens = plan.max_batch_tokens;
  effective.max_batch_sequences = plan.max_batch_sequences;
  effective.workspace_bytes = plan.gemm_workspace_bytes;
  JN_RETURN_IF_ERROR(check_config(plan.config, effective));
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

Result<double> cuda_encoder_device_time_ms(Encoder& encoder, const PackedBatch& batch, int iterations) {
  auto* cuda_encoder = dynamic_cast<CudaEncoder*>(&encoder);
  if (!cuda_encoder) return invalid_argument("device timing needs a CUDA encoder, got " + encoder.backend_name());
  return cuda_encoder->device_time_ms(batch, std::max(1, iterations));
}

size_t cuda_encoder_device_bytes(const Encoder& encoder) {
  const auto* cuda_encoder = dynamic_cast<const CudaEncoder*>(&encoder);
  return cuda_encoder ? cuda_encoder->device_bytes() : 0;
}

}  // namespace justnews
