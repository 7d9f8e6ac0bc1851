// CUDA engine plans on the GPU: an encoder loaded from a cached plan gives bit-identical outputs
// to one built from the checkpoint; plans that do not fit the model are refused naming the tensor;
// the key follows the real device; a BERT-base plan loads within the 0.5 s goal and its encoder
// stays within the 0.45 GB budget at 32 x 512. Also the evaluation of cuBLASLt's tanh GELU_BIAS
// epilogue for erf-GELU models against the FP32 CPU encoder.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "cuda_test_util.h"
#include "engine/cpu/cpu_encoder.h"
#include "engine/cuda/cuda_encoder.h"
#include "engine/cuda/gemm_cublaslt.h"
#include "engine/cuda/gemm_tuning.h"
#include "engine/engine_cache.h"
#include "random_model.h"

namespace justnews::testing {
namespace {

namespace fs = std::filesystem;
using cuda::Precision;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("jn_cuda_plan_test_" + std::to_string(std::random_device{}()));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string string() const { return path_.string(); }

 private:
  fs::path path_;
};

RandomModelShape classifier_shape() {
  RandomModelShape shape;  // head_dim 64 (tensor-core attention), sequence head with pre-projection
  shape.hidden_size = 128;
  shape.num_heads = 2;
  shape.intermediate_size = 512;
  shape.head = HeadKind::kSequenceClassification;
  shape.num_labels = 4;
  shape.pooling = {true, PoolingMode::kMean, true};
  return shape;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.numel() > 0 &&
         std::memcmp(a.data_as<float>(), b.data_as<float>(), a.numel() * sizeof(float)) == 0;
}

TEST(CudaPlanTest, CachedPlanReloadGivesBitIdenticalOutputs) {
  JN_SKIP_WITHOUT_GPU();
  const RandomModel model = make_random_model(classifier_shape(), 21);
  const PackedBatch batch = make_random_batch(model.config, {3, 77, 128, 64}, 22);
  const ForwardRequest request{true, true, true};
  TempDir dir;
  const EngineCache cache(dir.string());
  for (const Precision precision : {Precision::kFp16, Precision::kBf16, Precision::kFp32}) {
    CudaEncoderOptions options;
    options.precision = precision;
    options.max_batch_tokens = 512;
    options.use_cuda_graphs = false;
    // Bit-identical outputs need the same GEMM algorithms: autotuning picks by timing, and two
    // cuBLASLt algorithms may round fp32 sums differently (seen on the H200, session 3).
    options.autotune_gemms = false;
    auto identity = cuda_device_identity(0);
    ASSERT_TRUE(identity.ok()) << identity.status().to_string();
    const PlanKey key = cuda_plan_key("random-model-21", *identity, options);
    const auto build = [&]() { return build_cuda_plan(model.config, model.weights, options, key); };
    auto built = cache.load_or_build(key, build);
    ASSERT_TRUE(built.ok()) << built.status().to_string();
    EXPECT_EQ(built->origin, PlanOrigin::kBuilt);
    auto loaded = cache.load_or_build(key, build);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    ASSERT_EQ(loaded->origin, PlanOrigin::kLoaded);

    auto direct = make_cuda_encoder(model.config, model.weights, options);
    CudaEncoderOptions run_options;  // run-time options only: the plan brings the rest
    run_options.autotune_gemms = false;
    auto from_plan = make_cuda_encoder(loaded->plan, run_options);
    ASSERT_TRUE(direct.ok()) << direct.status().to_string();
    ASSERT_TRUE(from_plan.ok()) << from_plan.status().to_string();
    EXPECT_EQ((*from_plan)->backend_name(), (*direct)->backend_name());
    auto expected = (*direct)->forward(batch, request);
    auto actual = (*from_plan)->forward(batch, request);
    ASSERT_TRUE(expected.ok() && actual.ok());
    const std::string what = cuda::precision_name(precision);
    EXPECT_TRUE(same_bits(actual->hidden_states, expected->hidden_states)) << what;
    EXPECT_TRUE(same_bits(actual->logits, expected->logits)) << what;
    EXPECT_TRUE(same_bits(actual->embeddings, expected->embeddings)) << what;
    // The plan carries its limits: a batch over max_batch_tokens is refused as for the original.
    const PackedBatch too_big = make_random_batch(model.config, {300, 300}, 23);
    EXPECT_EQ((*from_plan)->forward(too_big, request).status().code(), StatusCode::kResourceExhausted);
  }
}

TEST(CudaPlanTest, TimingCacheIsWrittenOnceAndReusedWithTheSameBits) {
  JN_SKIP_WITHOUT_GPU();
  const RandomModel model = make_random_model(classifier_shape(), 31);
  const PackedBatch batch = make_random_batch(model.config, {3, 77, 128, 64}, 32);
  const ForwardRequest request{true, true, true};
  TempDir dir;
  CudaEncoderOptions options;
  options.max_batch_tokens = 512;
  options.use_cuda_graphs = false;
  options.gemm_tuning_path = dir.string() + "/model.tuning";
  Tensor first_hidden;
  {
    auto tuned = make_cuda_encoder(model.config, model.weights, options);
    ASSERT_TRUE(tuned.ok()) << tuned.status().to_string();
    auto result = (*tuned)->forward(batch, request);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    first_hidden = result->hidden_states;
  }  // destroyed: the tuned choices are written
  auto written = cuda::read_gemm_tuning(options.gemm_tuning_path, cuda::GemmRunner::library_version());
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_GT(written->cublaslt.size(), 0u);
  const auto modified = fs::last_write_time(options.gemm_tuning_path);
  {
    auto reused = make_cuda_encoder(model.config, model.weights, options);
    ASSERT_TRUE(reused.ok()) << reused.status().to_string();
    auto result = (*reused)->forward(batch, request);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    // The same algorithms, not timed again: the same bits (autotuning alone may pick others).
    EXPECT_TRUE(same_bits(result->hidden_states, first_hidden));
  }
  EXPECT_EQ(fs::last_write_time(options.gemm_tuning_path), modified);  // nothing new: not rewritten

  // A damaged cache is not used (a warning), tuned afresh and rewritten whole.
  { std::ofstream(options.gemm_tuning_path) << "justnews-gemm-tuning 2 cublasLt 0\ngarbage\n"; }
  {
    auto retuned = make_cuda_encoder(model.config, model.weights, options);
    ASSERT_TRUE(retuned.ok()) << retuned.status().to_string();
    ASSERT_TRUE((*retuned)->forward(batch, request).ok());
  }
  auto rewritten = cuda::read_gemm_tuning(options.gemm_tuning_path, cuda::GemmRunner::library_version());
  ASSERT_TRUE(rewritten.ok()) << rewritten.status().to_string();
  EXPECT_GT(rewritten->cublaslt.size(), 0u);
}

TEST(CudaPlanTest, KeyFollowsTheDeviceAndOptions) {
  JN_SKIP_WITHOUT_GPU();
  auto identity = cuda_device_identity(0);
  ASSERT_TRUE(identity.ok());
  cudaDeviceProp properties{};
  ASSERT_EQ(cudaGetDeviceProperties(&properties, 0), cudaSuccess);
  EXPECT_EQ(identity->name, properties.name);
  EXPECT_EQ(identity->compute_capability,
            std::to_string(properties.major) + "." + std::to_string(properties.minor));
  CudaEncoderOptions options;
  const PlanKey base = cuda_plan_key("m", *identity, options);
  CudaDeviceIdentity other_gpu = *identity;
  other_gpu.compute_capability = "8.0";
  EXPECT_NE(cuda_plan_key("m", other_gpu, options).hash(), base.hash());
  CudaEncoderOptions smaller = options;
  smaller.max_batch_tokens = 4096;
  EXPECT_NE(cuda_plan_key("m", *identity, smaller).hash(), base.hash());
  CudaEncoderOptions bf16 = options;
  bf16.precision = Precision::kBf16;
  EXPECT_NE(cuda_plan_key("m", *identity, bf16).hash(), base.hash());
  // Run-time options do not change the plan.
  CudaEncoderOptions runtime = options;
  runtime.use_cuda_graphs = false;
  runtime.attention_kernel = cuda::AttentionKernel::kTensorCore;
  EXPECT_EQ(cuda_plan_key("m", *identity, runtime).hash(), base.hash());
}

TEST(CudaPlanTest, RefusesPlansThatDoNotFitTheirConfig) {
  JN_SKIP_WITHOUT_GPU();
  const RandomModel model = make_random_model(classifier_shape(), 31);
  CudaEncoderOptions options;
  options.max_batch_tokens = 256;
  auto plan = build_cuda_plan(model.config, model.weights, options, PlanKey{"m", "d", "9.0", "fp16"});
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();

  EnginePlan missing = *plan;
  missing.tensors.erase(missing.tensors.begin() + 7);
  const std::string missing_name = plan->tensors[7].name;
  auto refused = make_cuda_encoder(missing, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(missing_name), std::string::npos) << refused.status().to_string();

  EnginePlan wrong_precision = *plan;
  wrong_precision.key.precision = "fp32";  // fp16 bytes read as fp32: every size is off by 2x
  auto mismatched = make_cuda_encoder(wrong_precision, options);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("word_embeddings"), std::string::npos)
      << mismatched.status().to_string();

  EnginePlan unknown_precision = *plan;
  unknown_precision.key.precision = "fp12";
  EXPECT_EQ(make_cuda_encoder(unknown_precision, options).status().code(), StatusCode::kInvalidArgument);

  CudaEncoderOptions huge = options;
  huge.max_batch_tokens = 1 << 22;
  huge.max_workspace_bytes = 1ull << 30;
  auto over_budget = build_cuda_plan(model.config, model.weights, huge, PlanKey{});
  ASSERT_FALSE(over_budget.ok());
  EXPECT_EQ(over_budget.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(over_budget.status().message().find("max_batch_tokens"), std::string::npos);
}

RandomModelShape bert_base_shape() {
  RandomModelShape bert;
  bert.vocab_size = 30522;
  bert.hidden_size = 768;
  bert.num_layers = 12;
  bert.num_heads = 12;
  bert.intermediate_size = 3072;
  bert.pooling = {true, PoolingMode::kCls, false};
  return bert;
}

size_t device_used_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  return total_bytes - free_bytes;
}

TEST(CudaPlanTest, BertBasePlanLoadsFastAndFitsTheMemoryBudget) {
  JN_SKIP_WITHOUT_GPU();
  const RandomModel model = make_random_model(bert_base_shape(), 41);
  CudaEncoderOptions options;
  options.max_batch_tokens = 32 * 512;
  options.max_batch_sequences = 32;
  TempDir dir;
  const EngineCache cache(dir.string());
  auto identity = cuda_device_identity(0);
  ASSERT_TRUE(identity.ok());
  const PlanKey key = cuda_plan_key("bert-base-random-41", *identity, options);
  const auto build = [&]() { return build_cuda_plan(model.config, model.weights, options, key); };
  ASSERT_TRUE(cache.load_or_build(key, build).ok());
  cudaFree(nullptr);
  const size_t baseline = device_used_bytes();

  const auto start = std::chrono::steady_clock::now();
  auto cached = cache.load_or_build(key, build);
  ASSERT_TRUE(cached.ok()) << cached.status().to_string();
  ASSERT_EQ(cached->origin, PlanOrigin::kLoaded);
  auto encoder = make_cuda_encoder(cached->plan, options);
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const PackedBatch batch = make_random_batch(model.config, std::vector<int64_t>(32, 512), 42);
  auto result = (*encoder)->forward(batch, {false, false, true});
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  const size_t held = cuda_encoder_device_bytes(**encoder);
  const size_t peak = device_used_bytes() - baseline;
  std::printf("bert-base fp16 plan: %.1f MB file weights, load + encoder %.3f s, encoder holds %.1f MB, "
              "device use after 32x512 %.1f MB\n",
              cached->plan.weights.size / 1e6, load_s, held / 1e6, peak / 1e6);
  EXPECT_LT(load_s, 0.5);
  EXPECT_LE(held, 450'000'000u);
}

// cuBLASLt's GELU_BIAS epilogue is the tanh approximation; for erf-GELU models it would save one
// pass per layer. Measured here against the FP32 CPU encoder with erf: the bar is cosine >= 0.9999
// and identical top-1 labels. The figures are printed for docs/cuda_notes.md; the assertion only
// guards that the option runs the model (the decision whether to use it is made on the figures).
TEST(CudaGeluEvaluation, TanhEpilogueOnErfModels) {
  JN_SKIP_WITHOUT_GPU();
  RandomModelShape shape = bert_base_shape();
  shape.num_layers = 4;
  shape.head = HeadKind::kSequenceClassification;
  shape.num_labels = 6;
  const RandomModel model = make_random_model(shape, 51);
  const PackedBatch batch = make_random_batch(model.config, {128, 64, 200, 17, 90, 33, 128, 5}, 52);
  auto cpu = make_cpu_encoder(model.config, model.weights, nullptr);
  ASSERT_TRUE(cpu.ok());
  const ForwardRequest request{true, true, false};
  auto expected = (*cpu)->forward(batch, request);
  ASSERT_TRUE(expected.ok());
  for (const bool tanh : {false, true}) {
    CudaEncoderOptions options;
    options.max_batch_tokens = 1024;
    options.gelu_erf_as_tanh = tanh;
    auto gpu = make_cuda_encoder(model.config, model.weights, options);
    ASSERT_TRUE(gpu.ok());
    auto actual = (*gpu)->forward(batch, request);
    ASSERT_TRUE(actual.ok());
    const auto cosine = [](const Tensor& a, const Tensor& b, double* worst_row) {
      const int64_t rows = a.dim(0), width = a.dim(1);
      double dot = 0, na = 0, nb = 0;
      *worst_row = 1.0;
      for (int64_t row = 0; row < rows; ++row) {
        double rd = 0, ra = 0, rb = 0;
        for (int64_t col = 0; col < width; ++col) {
          const double x = a.data_as<float>()[row * width + col], y = b.data_as<float>()[row * width + col];
          rd += x * y;
          ra += x * x;
          rb += y * y;
        }
        *worst_row = std::min(*worst_row, rd / std::sqrt(ra * rb));
        dot += rd;
        na += ra;
        nb += rb;
      }
      return dot / std::sqrt(na * nb);
    };
    double worst_row = 0;
    const double hidden_cosine = cosine(actual->hidden_states, expected->hidden_states, &worst_row);
    int same_top1 = 0;
    const int64_t labels = expected->logits.dim(1);
    for (int64_t row = 0; row < expected->logits.dim(0); ++row) {
      const float* a = actual->logits.data_as<float>() + row * labels;
      const float* b = expected->logits.data_as<float>() + row * labels;
      same_top1 += std::max_element(a, a + labels) - a == std::max_element(b, b + labels) - b;
    }
    std::printf("gelu %s: hidden cosine %.6f (worst row %.6f), top-1 agreement %d/%ld\n",
                tanh ? "tanh epilogue" : "erf kernel  ", hidden_cosine, worst_row, same_top1,
                static_cast<long>(expected->logits.dim(0)));
    EXPECT_GT(hidden_cosine, 0.99);
  }
}

}  // namespace
}  // namespace justnews::testing
