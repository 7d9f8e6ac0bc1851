// bench_cpu_encoder: CPU encoder throughput (sequences/s, tokens/s) on Reuters article bodies for
// all-MiniLM-L6-v2 (real weights) and a BERT-base-shaped model (random weights), at batch 1, 8
// and 32, truncated to 128 and 512 tokens. Prints a Markdown table for docs/benchmarks.md.
//
// Usage: bench_cpu_encoder [--model-dir DIR] [--data FILE] [--threads N] [--min-seconds S]
//                          [--docs N] [--models minilm|bert-base|all]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/cpu/blas_setup.h"
#include "engine/cpu/cpu_encoder.h"
#include "model/model_dir.h"
#include "tokenizer/tokenizer.h"

namespace justnews {
namespace {

struct Options {
  std::string model_dir = "models/all-MiniLM-L6-v2";
  std::string data_path = "../shared/data/news/reuters21578.jsonl";
  size_t threads = 0;
  double min_seconds = 3.0;
  size_t num_docs = 256;
  std::string models = "all";  // "minilm", "bert-base" or "all"
};

std::vector<std::string> read_bodies(const std::string& path, size_t limit) {
  std::vector<std::string> bodies;
  std::ifstream in(path);
  std::string line;
  while (bodies.size() < limit && std::getline(in, line)) {
    const auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.contains("body") || !record["body"].is_string()) continue;
    std::string body = record["body"].get<std::string>();
    if (!body.empty()) bodies.push_back(std::move(body));
  }
  return bodies;
}

LoadedModel bert_base_random() {
  LoadedModel model;
  model.directory = "bert-base (random weights)";
  EncoderConfig& config = model.config;
  config.vocab_size = 30522;
  config.hidden_size = 768;
  config.num_layers = 12;
  config.num_heads = 12;
  config.intermediate_size = 3072;
  config.max_position_embeddings = 512;
  config.type_vocab_size = 2;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  auto tensor = [&](Shape shape, float mean = 0.0f) {
    Tensor t = Tensor::zeros(DType::kF32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data_as<float>()[i] = mean + normal(rng);
    return t;
  };
  const int64_t h = config.hidden_size, f = config.intermediate_size;
  EncoderWeights& w = model.weights;
  w.word_embeddings = tensor({config.vocab_size, h});
  w.position_embeddings = tensor({config.max_position_embeddings, h});
  w.token_type_embeddings = tensor({config.type_vocab_size, h});
  w.embedding_norm_gamma = tensor({h}, 1.0f);
  w.embedding_norm_beta = tensor({h});
  for (int64_t l = 0; l < config.num_layers; ++l) {
    w.layers.push_back({tensor({h, h}), tensor({h}), tensor({h, h}), tensor({h}), tensor({h, h}),
                        tensor({h}), tensor({h, h}), tensor({h}), tensor({h}, 1.0f), tensor({h}),
                        tensor({f, h}), tensor({f}), tensor({h, f}), tensor({h}), tensor({h}, 1.0f),
                        tensor({h})});
  }
  return model;
}

struct Measurement {
  double sequences_per_second = 0, tokens_per_second = 0, ms_per_batch = 0, mean_tokens = 0;
};

Measurement measure(Encoder& encoder, const std::vector<std::vector<int32_t>>& docs,
                    size_t batch_size, double min_seconds) {
  size_t next_doc = 0;
  auto next_batch = [&] {
    PackedBatch batch;
    for (size_t i = 0; i < batch_size; ++i) batch.append(docs[next_doc++ % docs.size()]);
    return batch;
  };
  const ForwardRequest request{false, false, true};
  auto warm_up = encoder.forward(next_batch(), request);  // sizes the workspace, pages weights in
  if (!warm_up.ok()) {
    std::fprintf(stderr, "forward failed: %s\n", warm_up.status().to_string().c_str());
    std::exit(1);
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  size_t batches = 0, sequences = 0, tokens = 0;
  double elapsed = 0;
  while (elapsed < min_seconds || batches < 2) {
    const PackedBatch batch = next_batch();
    auto result = encoder.forward(batch, request);
    if (!result.ok()) {
      std::fprintf(stderr, "forward failed: %s\n", result.status().to_string().c_str());
      std::exit(1);
    }
    ++batches;
    sequences += static_cast<size_t>(batch.num_sequences());
    tokens += static_cast<size_t>(batch.total_tokens());
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return {sequences / elapsed, tokens / elapsed, 1000.0 * elapsed / batches,
          static_cast<double>(tokens) / sequences};
}

int run(const Options& options) {
  const auto bodies = read_bodies(options.data_path, options.num_docs);
  if (bodies.empty()) {
    std::fprintf(stderr, "no article bodies in %s\n", options.data_path.c_str());
    return 1;
  }
  // Both models use MiniLM's tokenizer (the BERT uncased WordPiece vocabulary, 30522 ids).
  auto tokenizer = tokenizer::Tokenizer::from_model_dir(options.model_dir);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.status().to_string().c_str());
    return 1;
  }
  auto minilm = load_model_dir(options.model_dir);
  if (!minilm.ok()) {
    std::fprintf(stderr, "%s\n", minilm.status().to_string().c_str());
    return 1;
  }
  ThreadPool pool(options.threads);
  std::printf("threads: %zu, OpenBLAS core: %s, documents: %zu, min seconds per row: %.1f\n\n",
              pool.num_threads(), blas_core_name().c_str(), bodies.size(), options.min_seconds);
  std::printf(
      "| model | max tokens | batch | mean tokens/seq | ms/batch | sequences/s | tokens/s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::vector<std::pair<std::string, LoadedModel>> models;
  if (options.models != "bert-base") models.emplace_back("all-MiniLM-L6-v2", *minilm);
  if (options.models != "minilm") models.emplace_back("BERT-base shape", bert_base_random());
  for (const auto& [name, model] : models) {
    auto encoder = make_cpu_encoder(model, &pool);
    if (!encoder.ok()) {
      std::fprintf(stderr, "%s\n", encoder.status().to_string().c_str());
      return 1;
    }
    for (size_t max_tokens : {128, 512}) {
      tokenizer->set_truncation(static_cast<int>(max_tokens));
      std::vector<std::vector<int32_t>> docs;
      for (auto& encoding : tokenizer->encode_batch(bodies, pool)) {
        if (!encoding.ok()) {
          std::fprintf(stderr, "%s\n", encoding.status().to_string().c_str());
          return 1;
        }
        docs.push_back(std::move(encoding->ids));
      }
      for (size_t batch_size : {1, 8, 32}) {
        const Measurement m = measure(**encoder, docs, batch_size, options.min_seconds);
        std::printf("| %s | %zu | %zu | %.0f | %.1f | %.1f | %.0f |\n", name.c_str(), max_tokens,
                    batch_size, m.mean_tokens, m.ms_per_batch, m.sequences_per_second,
                    m.tokens_per_second);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace justnews

int main(int argc, char** argv) {
  justnews::Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--model-dir")
      options.model_dir = value;
    else if (flag == "--data")
      options.data_path = value;
    else if (flag == "--threads")
      options.threads = std::stoul(value);
    else if (flag == "--min-seconds")
      options.min_seconds = std::stod(value);
    else if (flag == "--docs")
      options.num_docs = std::stoul(value);
    else if (flag == "--models")
      options.models = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  return justnews::run(options);
}
