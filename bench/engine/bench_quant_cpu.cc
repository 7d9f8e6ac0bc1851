// bench_quant_cpu: the CPU encoder at every precision side by side in one run, on random-weight
// BERT-base- and MiniLM-L6-shaped encoders (the same shapes bench/peers/cpu_peer.py gives PyTorch
// and ONNX Runtime), batch × sequence length fixed (default 32 × 128, no padding). Reports the
// median ms per forward pass (last hidden state), tokens/s, the speed-up over our FP32 and the
// encoder-layer weight memory against FP16. Prints a Markdown table for docs/benchmarks.md.
//
// Usage: bench_quant_cpu [--threads N] [--iterations N] [--batch N] [--seq N]
//                        [--models bert-base,minilm-l6] [--precisions fp32,bf16,int8,...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/blas_setup.h"
#include "engine/cpu/cpu_encoder.h"
#include "quant/weight_memory.h"
#include "random_model.h"

namespace justnews {
namespace {

struct Options {
  size_t threads = 0;
  int iterations = 5;
  int64_t batch = 32, seq = 128;
  std::string models = "bert-base,minilm-l6";
  std::string precisions = "fp32,bf16,int8,int8-weight-only,fp8,int4,nf4";
};

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    if (end > begin) parts.push_back(list.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

testing::RandomModelShape shape_for(const std::string& name) {
  testing::RandomModelShape shape;
  shape.vocab_size = 30522;
  shape.num_heads = 12;
  if (name == "bert-base") {
    shape.hidden_size = 768;
    shape.num_layers = 12;
    shape.intermediate_size = 3072;
  } else {
    shape.hidden_size = 384;
    shape.num_layers = 6;
    shape.intermediate_size = 1536;
  }
  return shape;
}

int64_t layer_weight_bytes(const EncoderConfig& config, Precision precision) {
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  int64_t bytes = 0;
  for (auto [out, in] : {std::pair{3 * hidden, hidden}, std::pair{hidden, hidden},
                         std::pair{inter, hidden}, std::pair{hidden, inter}})
    bytes += linear_weight_memory(precision, out, in, 64).total_bytes();
  return bytes * config.num_layers;
}

int run(const Options& options) {
  ThreadPool pool(options.threads);
  std::printf("threads %zu, batch %lld x seq %lld, median of %d passes, BLAS core %s\n\n",
              pool.num_threads(), static_cast<long long>(options.batch),
              static_cast<long long>(options.seq), options.iterations, blas_core_name().c_str());
  std::printf("| model | precision | ms/batch | tokens/s | vs our fp32 | weights vs fp16 |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const std::string& model_name : split(options.models)) {
    const testing::RandomModel model = testing::make_random_model(shape_for(model_name), 7);
    const PackedBatch batch = testing::make_random_batch(
        model.config, std::vector<int64_t>(static_cast<size_t>(options.batch), options.seq), 8);
    ForwardRequest request;
    request.hidden_states = true;
    double fp32_ms = 0.0;
    for (const std::string& precision_text : split(options.precisions)) {
      auto precision = parse_precision(precision_text);
      if (!precision.ok()) {
        std::fprintf(stderr, "bench_quant_cpu: %s\n", precision.status().message().c_str());
        return 2;
      }
      CpuEncoderOptions encoder_options;
      encoder_options.precision = *precision;
      auto encoder = make_cpu_encoder(model.config, model.weights, &pool, encoder_options);
      if (!encoder.ok()) {
        std::fprintf(stderr, "bench_quant_cpu: %s\n", encoder.status().to_string().c_str());
        return 1;
      }
      if (!(*encoder)->forward(batch, request).ok()) return 1;  // warm-up
      std::vector<double> times_ms;
      for (int iteration = 0; iteration < options.iterations; ++iteration) {
        const auto start = std::chrono::steady_clock::now();
        if (!(*encoder)->forward(batch, request).ok()) return 1;
        times_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
      }
      std::sort(times_ms.begin(), times_ms.end());
      const double median_ms = times_ms[times_ms.size() / 2];
      if (*precision == Precision::kFp32) fp32_ms = median_ms;
      std::printf(
          "| %s | %s | %.1f | %.0f | %s | %.3f |\n", model_name.c_str(), precision_text.c_str(),
          median_ms, static_cast<double>(batch.total_tokens()) / median_ms * 1e3,
          fp32_ms > 0 ? (std::to_string(fp32_ms / median_ms).substr(0, 4) + "x").c_str() : "-",
          static_cast<double>(layer_weight_bytes(model.config, *precision)) /
              static_cast<double>(layer_weight_bytes(model.config, Precision::kBf16)));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace justnews

int main(int argc, char** argv) {
  justnews::Options options;
  for (int idx = 1; idx + 1 < argc; idx += 2) {
    const std::string name = argv[idx], value = argv[idx + 1];
    if (name == "--threads")
      options.threads = static_cast<size_t>(std::atoi(value.c_str()));
    else if (name == "--iterations")
      options.iterations = std::max(1, std::atoi(value.c_str()));
    else if (name == "--batch")
      options.batch = std::max(1, std::atoi(value.c_str()));
    else if (name == "--seq")
      options.seq = std::max(1, std::atoi(value.c_str()));
    else if (name == "--models")
      options.models = value;
    else if (name == "--precisions")
      options.precisions = value;
    else {
      std::fprintf(stderr, "bench_quant_cpu: unknown option %s\n", name.c_str());
      return 2;
    }
  }
  return justnews::run(options);
}
