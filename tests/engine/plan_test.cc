// Engine plans and the engine cache on the CPU: XXH64 against the reference implementation's
// published outputs, plan files round-tripped byte for byte, every kind of damage detected, cache
// keys that change with each input, and the cache rebuilding whatever it cannot trust.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "engine/engine_cache.h"
#include "engine/engine_plan.h"
#include "engine/plan_checksum.h"
#include "model/model_dir.h"

namespace justnews {
namespace {

namespace fs = std::filesystem;

const fs::path kFixturesDir = fs::path(JUSTNEWS_SOURCE_DIR) / "tests" / "fixtures";

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("jn_plan_test_" + std::to_string(std::random_device{}()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

PlanKey sample_key() {
  PlanKey key;
  key.model_hash = "0123456789abcdef";
  key.device_name = "NVIDIA H200";
  key.compute_capability = "9.0";
  key.precision = "fp16";
  key.build_options = "max_batch_tokens=16384";
  return key;
}

// A plan with random weight bytes and a small BERT-like config.
EnginePlan sample_plan(const PlanKey& key, uint32_t seed, size_t weight_bytes = 100000) {
  EnginePlan plan;
  plan.key = key;
  plan.config.architecture = Architecture::kRoberta;
  plan.config.head = HeadKind::kSequenceClassification;
  plan.config.vocab_size = 1000;
  plan.config.hidden_size = 64;
  plan.config.num_layers = 2;
  plan.config.num_heads = 4;
  plan.config.intermediate_size = 256;
  plan.config.max_position_embeddings = 130;
  plan.config.type_vocab_size = 1;
  plan.config.layer_norm_eps = 1e-5f;
  plan.config.activation = Activation::kGeluTanh;
  plan.config.pad_token_id = 1;
  plan.config.position_offset = 2;
  plan.config.id2label = {"negative", "neutral", "positive"};
  plan.config.problem_type = ProblemType::kMultiLabel;
  plan.config.pooling = {true, PoolingMode::kMax, true};
  plan.head_pre_activation = HeadActivation::kTanh;
  plan.tokenizer_hash = "fedcba9876543210";
  plan.source = "/models/example";
  plan.max_batch_tokens = 4096;
  plan.max_batch_sequences = 256;
  plan.gemm_workspace_bytes = 1 << 20;
  std::mt19937 random(seed);
  std::vector<uint8_t> bytes(weight_bytes);
  for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(random());
  plan.weights = copy_to_buffer(bytes.data(), bytes.size());
  plan.tensors = {{"word_embeddings", 0, 4096}, {"layer.0.qkv_weight", 4096, weight_bytes - 4096}};
  return plan;
}

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(PlanChecksumTest, MatchesReferenceXxh64) {
  // Outputs of the reference xxHash (XXH64, seed 0) for these inputs.
  EXPECT_EQ(xxhash64(""), 0xEF46DB3751D8E999ull);
  EXPECT_EQ(xxhash64("a"), 0xD24EC4F1A98C6E5Bull);
  EXPECT_EQ(xxhash64("abc"), 0x44BC2CF5AD770999ull);
  EXPECT_EQ(xxhash64("Nobody inspects the spammish repetition"), 0xFBCEA83C8A378BF1ull);
  EXPECT_EQ(hash_to_hex(0x44BC2CF5AD770999ull), "44bc2cf5ad770999");
  // A long input (many 32-byte stripes plus every tail length class) and a seed, checked against
  // the system's libxxhash 0.8.1 (XXH64) on the same bytes.
  std::vector<uint8_t> long_input(100003);
  for (size_t idx = 0; idx < long_input.size(); ++idx) long_input[idx] = static_cast<uint8_t>(idx * 31 + 7);
  EXPECT_EQ(xxhash64(long_input.data(), long_input.size()), 0xC333C0BFF6F9EFDBull);
  EXPECT_EQ(xxhash64(long_input.data(), long_input.size(), 12345), 0xEF873ADD21B618FFull);
  EXPECT_EQ(xxhash64(long_input.data(), 37), 0x5D71D9FC4B676D9Full);
}

TEST(PlanChecksumTest, EveryByteAndLengthMatters) {
  std::string text(1000, 'x');
  const uint64_t base = xxhash64(text);
  for (size_t idx : {0, 31, 32, 500, 995, 999}) {
    std::string changed = text;
    changed[idx] = 'y';
    EXPECT_NE(xxhash64(changed), base) << "byte " << idx;
  }
  EXPECT_NE(xxhash64(text.data(), text.size() - 1), base);
  EXPECT_NE(xxhash64(text, 1), base);  // the seed
}

TEST(PlanKeyTest, HashChangesWithEveryField) {
  const PlanKey base = sample_key();
  std::vector<PlanKey> variants(6, base);
  variants[0].model_hash = "1123456789abcdef";
  variants[1].device_name = "NVIDIA H100 80GB HBM3";
  variants[2].compute_capability = "8.9";
  variants[3].precision = "bf16";
  variants[4].engine_version = "justnews-engine 0.4";
  variants[5].build_options = "max_batch_tokens=8192";
  for (size_t idx = 0; idx < variants.size(); ++idx) {
    EXPECT_NE(variants[idx].hash(), base.hash()) << "variant " << idx;
    EXPECT_NE(variants[idx].to_string(), base.to_string()) << "variant " << idx;
  }
  EXPECT_EQ(sample_key().hash(), base.hash());
  EXPECT_EQ(base.hash().size(), 16u);
}

TEST(EnginePlanTest, RoundTripsEveryField) {
  TempDir dir;
  const EnginePlan plan = sample_plan(sample_key(), 1);
  const std::string path = (dir.path() / "a.jnplan").string();
  ASSERT_TRUE(write_engine_plan(plan, path).ok());
  auto read = read_engine_plan(path);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->key.to_string(), plan.key.to_string());
  EXPECT_EQ(read->tokenizer_hash, plan.tokenizer_hash);
  EXPECT_EQ(read->head_pre_activation, HeadActivation::kTanh);
  EXPECT_EQ(read->source, plan.source);
  EXPECT_EQ(read->max_batch_tokens, 4096);
  EXPECT_EQ(read->max_batch_sequences, 256);
  EXPECT_EQ(read->gemm_workspace_bytes, 1u << 20);
  const EncoderConfig& config = read->config;
  EXPECT_EQ(config.architecture, Architecture::kRoberta);
  EXPECT_EQ(config.head, HeadKind::kSequenceClassification);
  EXPECT_EQ(config.hidden_size, 64);
  EXPECT_EQ(config.intermediate_size, 256);
  EXPECT_EQ(config.max_position_embeddings, 130);
  EXPECT_EQ(config.type_vocab_size, 1);
  EXPECT_FLOAT_EQ(config.layer_norm_eps, 1e-5f);
  EXPECT_EQ(config.activation, Activation::kGeluTanh);
  EXPECT_EQ(config.pad_token_id, 1);
  EXPECT_EQ(config.position_offset, 2);
  EXPECT_EQ(config.id2label, plan.config.id2label);
  EXPECT_EQ(config.problem_type, ProblemType::kMultiLabel);
  EXPECT_TRUE(config.pooling.present);
  EXPECT_EQ(config.pooling.mode, PoolingMode::kMax);
  EXPECT_TRUE(config.pooling.normalize);
  ASSERT_EQ(read->tensors.size(), 2u);
  EXPECT_EQ(read->tensors[1].name, "layer.0.qkv_weight");
  EXPECT_EQ(read->tensors[1].offset, 4096u);
  ASSERT_NE(read->find("word_embeddings"), nullptr);
  EXPECT_EQ(read->find("missing"), nullptr);
  ASSERT_EQ(read->weights.size, plan.weights.size);
  EXPECT_EQ(std::memcmp(read->weights.data, plan.weights.data, plan.weights.size), 0);
  // The weights section is page-aligned in the file so the mapping can feed a device copy as is.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(read->weights.data) % 4096, 0u);
}

TEST(EnginePlanTest, DetectsTruncationAtAnyPoint) {
  TempDir dir;
  const std::string path = (dir.path() / "a.jnplan").string();
  ASSERT_TRUE(write_engine_plan(sample_plan(sample_key(), 2), path).ok());
  const std::vector<char> bytes = read_bytes(path);
  for (const size_t keep : {size_t{0}, size_t{7}, size_t{20}, size_t{100}, size_t{4096}, size_t{5000},
                            bytes.size() / 2, bytes.size() - 1}) {
    write_bytes(path, std::vector<char>(bytes.begin(), bytes.begin() + keep));
    auto read = read_engine_plan(path);
    ASSERT_FALSE(read.ok()) << "kept " << keep << " of " << bytes.size();
    EXPECT_EQ(read.status().code(), StatusCode::kCorruptData) << read.status().to_string();
    EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().to_string();
  }
}

TEST(EnginePlanTest, DetectsFlippedBytesInEverySection) {
  TempDir dir;
  const std::string path = (dir.path() / "a.jnplan").string();
  ASSERT_TRUE(write_engine_plan(sample_plan(sample_key(), 3), path).ok());
  const std::vector<char> bytes = read_bytes(path);
  // Magic, version, section table, header checksum, meta (at 4096), weights (start, middle, end).
  for (const size_t at : {size_t{0}, size_t{9}, size_t{20}, size_t{40}, size_t{80}, size_t{4096},
                          size_t{4200}, size_t{8192}, bytes.size() - 5000, bytes.size() - 1}) {
    std::vector<char> damaged = bytes;
    damaged[at] ^= 0x10;
    write_bytes(path, damaged);
    auto read = read_engine_plan(path);
    ASSERT_FALSE(read.ok()) << "flipped byte " << at;
    EXPECT_EQ(read.status().code(), StatusCode::kCorruptData) << read.status().to_string();
  }
}

TEST(EnginePlanTest, MissingFileIsNotFound) {
  TempDir dir;
  auto read = read_engine_plan((dir.path() / "none.jnplan").string());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
}

TEST(EngineCacheTest, BuildsOnceThenLoads) {
  TempDir dir;
  const EngineCache cache(dir.path().string());
  const PlanKey key = sample_key();
  int builds = 0;
  const auto build = [&]() -> Result<EnginePlan> {
    ++builds;
    return sample_plan(key, 4);
  };
  auto first = cache.load_or_build(key, build);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->origin, PlanOrigin::kBuilt);
  EXPECT_TRUE(fs::exists(first->path));
  auto second = cache.load_or_build(key, build);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->origin, PlanOrigin::kLoaded);
  EXPECT_EQ(builds, 1);
  ASSERT_EQ(second->plan.weights.size, first->plan.weights.size);
  EXPECT_EQ(std::memcmp(second->plan.weights.data, first->plan.weights.data, first->plan.weights.size), 0);
  // No temporary files are left behind.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(EngineCacheTest, OtherKeyBuildsItsOwnPlan) {
  TempDir dir;
  const EngineCache cache(dir.path().string());
  int builds = 0;
  for (const char* device : {"NVIDIA H200", "NVIDIA A100-SXM4-80GB"}) {
    for (const char* version : {kEngineVersion, "justnews-engine 0.1"}) {
      PlanKey key = sample_key();
      key.device_name = device;
      key.engine_version = version;
      auto cached = cache.load_or_build(key, [&]() -> Result<EnginePlan> {
        ++builds;
        return sample_plan(key, 5);
      });
      ASSERT_TRUE(cached.ok()) << cached.status().to_string();
      EXPECT_EQ(cached->origin, PlanOrigin::kBuilt) << device << " / " << version;
    }
  }
  EXPECT_EQ(builds, 4);
}

TEST(EngineCacheTest, RebuildsCorruptOrTruncatedPlans) {
  TempDir dir;
  const EngineCache cache(dir.path().string());
  const PlanKey key = sample_key();
  const auto build = [&]() -> Result<EnginePlan> { return sample_plan(key, 6); };
  auto built = cache.load_or_build(key, build);
  ASSERT_TRUE(built.ok());
  const std::vector<char> good = read_bytes(built->path);

  std::vector<char> damaged = good;
  damaged[damaged.size() - 100] ^= 0x01;
  write_bytes(built->path, damaged);
  auto rebuilt = cache.load_or_build(key, build);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().to_string();
  EXPECT_EQ(rebuilt->origin, PlanOrigin::kRebuilt);
  EXPECT_NE(rebuilt->reason.find("checksum"), std::string::npos) << rebuilt->reason;
  EXPECT_EQ(read_bytes(built->path), good);  // the rebuilt file is whole again

  write_bytes(built->path, std::vector<char>(good.begin(), good.begin() + good.size() / 3));
  auto after_truncation = cache.load_or_build(key, build);
  ASSERT_TRUE(after_truncation.ok());
  EXPECT_EQ(after_truncation->origin, PlanOrigin::kRebuilt);
  EXPECT_NE(after_truncation->reason.find("truncated"), std::string::npos) << after_truncation->reason;
  auto loaded = cache.load_or_build(key, build);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->origin, PlanOrigin::kLoaded);
}

TEST(EngineCacheTest, RefusesAPlanBuiltForAnotherKeyUnderItsName) {
  TempDir dir;
  const EngineCache cache(dir.path().string());
  const PlanKey key = sample_key();
  PlanKey other = key;
  other.precision = "bf16";
  // A plan for `other` placed where `key`'s plan belongs (a renamed file).
  ASSERT_TRUE(write_engine_plan(sample_plan(other, 7), cache.plan_path(key)).ok());
  auto cached = cache.load_or_build(key, [&]() -> Result<EnginePlan> { return sample_plan(key, 7); });
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->origin, PlanOrigin::kRebuilt);
  EXPECT_EQ(cached->plan.key.precision, "fp16");
  // A builder that returns the wrong key is a bug, reported rather than cached.
  PlanKey third = key;
  third.build_options = "x";
  auto wrong = cache.load_or_build(third, [&]() -> Result<EnginePlan> { return sample_plan(key, 7); });
  EXPECT_FALSE(wrong.ok());
  // Builder errors pass through unchanged.
  PlanKey fourth = key;
  fourth.build_options = "y";
  auto failed = cache.load_or_build(fourth, []() -> Result<EnginePlan> {
    return invalid_argument("weights missing");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInvalidArgument);
}

// A copy of the bert_base fixture with only its safetensors weights, in `dir`.
fs::path copy_bert_base_model(const TempDir& dir) {
  const fs::path model_dir = dir.path() / "model";
  fs::copy(kFixturesDir / "bert_base", model_dir, fs::copy_options::recursive);
  fs::remove(model_dir / "pytorch_model.bin");
  fs::remove(model_dir / "reference.safetensors");
  return model_dir;
}

ModelFingerprint fingerprint_of(const fs::path& model_dir, const std::string& memo_dir = "") {
  auto model = load_model_dir(model_dir.string());
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  if (!model.ok()) return {};
  auto result = fingerprint_model(*model, memo_dir);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  return result.ok() ? *result : ModelFingerprint{};
}

TEST(ModelFingerprintTest, ChangesWithWeightsConfigAndTokenizer) {
  TempDir dir;
  const fs::path model_dir = copy_bert_base_model(dir);
  const auto fingerprint = [&]() { return fingerprint_of(model_dir); };
  const ModelFingerprint base = fingerprint();
  EXPECT_EQ(fingerprint().model_hash, base.model_hash);  // deterministic

  { std::ofstream(model_dir / "tokenizer.json") << R"({"version":"1.0"})"; }
  const ModelFingerprint with_tokenizer = fingerprint();
  EXPECT_NE(with_tokenizer.tokenizer_hash, base.tokenizer_hash);
  EXPECT_NE(with_tokenizer.model_hash, base.model_hash);

  std::string config = *read_text_file((model_dir / "config.json").string());
  { std::ofstream(model_dir / "config.json") << config << "\n"; }
  const ModelFingerprint with_config = fingerprint();
  EXPECT_NE(with_config.model_hash, with_tokenizer.model_hash);
  EXPECT_EQ(with_config.tokenizer_hash, with_tokenizer.tokenizer_hash);

  // One byte of the weights' payload (the end of the file is tensor data).
  std::vector<char> weights = read_bytes(model_dir / "model.safetensors");
  weights[weights.size() - 3] ^= 0x01;
  write_bytes(model_dir / "model.safetensors", weights);
  EXPECT_NE(fingerprint().model_hash, with_config.model_hash);
}

TEST(ModelFingerprintTest, MemoSkipsRehashingUntilTheWeightsChange) {
  TempDir dir;
  const fs::path model_dir = copy_bert_base_model(dir);
  const std::string memo_dir = (dir.path() / "memo").string();
  const auto fingerprint = [&](const std::string& memo) { return fingerprint_of(model_dir, memo).model_hash; };
  // Just written: too recent to remember (file timestamps can be coarser than the rewrite).
  const std::string hashed = fingerprint(memo_dir);
  EXPECT_FALSE(fs::exists(memo_dir));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(fingerprint(memo_dir), hashed);
  ASSERT_TRUE(fs::exists(memo_dir));
  std::vector<fs::path> memos;
  for (const auto& entry : fs::directory_iterator(memo_dir)) memos.push_back(entry.path());
  ASSERT_EQ(memos.size(), 1u);

  // The memo is what is used while the file stands still: a forged hash in it comes back.
  std::string memo = *read_text_file(memos[0].string());
  memo.replace(memo.size() - 17, 16, "0123456789abcdef");
  { std::ofstream(memos[0]) << memo; }
  EXPECT_NE(fingerprint(memo_dir), hashed);
  EXPECT_EQ(fingerprint(""), hashed);

  // Any rewrite of the weights (same size) is seen and hashed again.
  std::vector<char> weights = read_bytes(model_dir / "model.safetensors");
  weights[weights.size() - 3] ^= 0x01;
  write_bytes(model_dir / "model.safetensors", weights);
  const std::string rewritten = fingerprint(memo_dir);
  EXPECT_NE(rewritten, hashed);
  EXPECT_EQ(rewritten, fingerprint(""));
}

}  // namespace
}  // namespace justnews
