// GPU engine benchmark: random-weight BERT-base- and MiniLM-L6-shaped encoders through the CUDA
// backend at batch x sequence 1x128, 32x128, 128x128 and 32x512, and (--news-mix FILE) on batches
// of real Reuters token ids written by bench/peers/make_news_mix.py. Each forward() is timed on the
// host clock around the whole call (input copy, kernels, pooled output copy, synchronisation), so
// the figures are the latency a caller sees; `dev_p50` is the same pass timed with CUDA events on
// device-resident inputs (no host copies), the figure comparable with the torch peers. Reports
// p50/p90/p99, throughput and the device memory the encoder holds.
//
// Usage: cuda_encoder_bench [--precision fp16|bf16|fp32|fp8|int8|int8-weight-only|int4|nf4]
//                           [--iterations N]
//     [--no-autotune] [--no-graphs] [--attention auto|scalar|v2|v3|v4] [--models bert-base,minilm]
//     [--gelu-tanh] [--news-mix FILE] [--no-shapes | --shapes 1x128,128x128] [--no-fused-gelu]
//     [--no-sm90-bias]  (the fp16 / bf16 bias GEMMs always through cuBLASLt)
//     [--no-dependent-launch]  (every kernel in plain stream order, no PDL)
//     [--dependent-launch-max-values N]  (PDL for forwards of up to N tokens x hidden values)
//     [--gemm-tuning FILE]  (a timing cache: read at start, written at exit; one model per file,
//                            as beside an engine plan)
//     [--static-scales]  (fp8 / int8: calibrated per-tensor activation scales,
//                         calibrate_random_model in random_model.h)
//     [--smoothquant-alpha X]  (int8 with --static-scales: SmoothQuant divisors, which the
//                               producers writing codes divide by)
//     [--symmetric-ffn-codes]  (int8 with --static-scales: +-127 codes for the FFN-out input
//                               instead of the default asymmetric ones)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cuda/cuda_encoder.h"
#include "engine/cuda/dependent_launch.h"
#include "random_model.h"

namespace {

using justnews::CudaEncoderOptions;
using justnews::cuda::Precision;
using justnews::testing::RandomModelShape;

struct BenchModel {
  std::string name;
  RandomModelShape shape;
};

struct BenchShape {
  int64_t batch;
  int64_t sequence;
};

std::vector<BenchModel> bench_models(const std::string& wanted) {
  std::vector<BenchModel> models;
  RandomModelShape bert;
  bert.vocab_size = 30522;
  bert.hidden_size = 768;
  bert.num_layers = 12;
  bert.num_heads = 12;
  bert.intermediate_size = 3072;
  bert.pooling = {true, justnews::PoolingMode::kCls, false};
  if (wanted.find("bert-base") != std::string::npos) models.push_back({"bert-base", bert});
  RandomModelShape minilm = bert;
  minilm.hidden_size = 384;
  minilm.num_layers = 6;
  minilm.intermediate_size = 1536;
  minilm.pooling = {true, justnews::PoolingMode::kMean, true};
  if (wanted.find("minilm") != std::string::npos) models.push_back({"minilm-l6", minilm});
  return models;
}

double percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  const size_t idx = std::min(values.size() - 1, static_cast<size_t>(fraction * (values.size() - 1) + 0.5));
  return values[idx];
}

// Batches of the news-mix file (see bench/peers/make_news_mix.py for the format).
std::vector<justnews::PackedBatch> read_news_mix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  uint32_t count = 0, batch_size = 0;
  in.read(magic, 8);
  in.read(reinterpret_cast<char*>(&count), 4);
  in.read(reinterpret_cast<char*>(&batch_size), 4);
  if (!in || std::memcmp(magic, "JNIDS1\0\0", 8) != 0 || batch_size == 0) return {};
  std::vector<uint32_t> lengths(count);
  in.read(reinterpret_cast<char*>(lengths.data()), count * 4);
  std::vector<justnews::PackedBatch> batches;
  for (uint32_t seq = 0; seq < count && in; ++seq) {
    if (seq % batch_size == 0) batches.emplace_back();
    std::vector<int32_t> ids(lengths[seq]);
    in.read(reinterpret_cast<char*>(ids.data()), lengths[seq] * 4);
    batches.back().append(ids);
  }
  return in ? batches : std::vector<justnews::PackedBatch>{};
}

size_t device_used_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  return total_bytes - free_bytes;
}

}  // namespace

int main(int argc, char** argv) {
  CudaEncoderOptions options;
  int iterations = 200;
  std::string models_arg = "bert-base,minilm";
  std::string news_mix_path;
  bool run_shapes = true;
  bool static_scales = false;
  std::vector<BenchShape> shapes = {{1, 128}, {32, 128}, {128, 128}, {32, 512}};
  for (int arg = 1; arg < argc; ++arg) {
    const std::string flag = argv[arg];
    const bool has_value = arg + 1 < argc;
    if (flag == "--precision" && has_value) {
      const justnews::Status applied = justnews::apply_precision_name(argv[++arg], options);
      if (!applied.ok()) {
        std::fprintf(stderr, "%s\n", applied.to_string().c_str());
        return 2;
      }
    } else if (flag == "--iterations" && has_value) {
      iterations = std::max(1, std::atoi(argv[++arg]));
    } else if (flag == "--no-autotune") {
      options.autotune_gemms = false;
    } else if (flag == "--no-graphs") {
      options.use_cuda_graphs = false;
    } else if (flag == "--attention" && has_value) {
      const std::string value = argv[++arg];
      const auto kernel = justnews::cuda::attention_kernel_from_name(value);
      if (!kernel) {
        std::fprintf(stderr, "--attention: unknown kernel '%s' (auto, v4, v3, v2, scalar)\n",
                     value.c_str());
        return 2;
      }
      options.attention_kernel = *kernel;
    } else if (flag == "--gemm-tuning" && has_value) {
      options.gemm_tuning_path = argv[++arg];
    } else if (flag == "--static-scales") {
      static_scales = true;
    } else if (flag == "--smoothquant-alpha" && has_value) {
      options.smoothquant_alpha = std::strtof(argv[++arg], nullptr);
    } else if (flag == "--symmetric-ffn-codes") {
      options.int8_asymmetric_ffn_codes = false;
    } else if (flag == "--no-fused-gelu") {
      options.fused_gelu_gemm = false;
    } else if (flag == "--no-sm90-bias") {
      options.sm90_bias_gemm = false;
    } else if (flag == "--no-dependent-launch") {
      justnews::cuda::set_dependent_launch(false);
    } else if (flag == "--dependent-launch-max-values" && has_value) {
      options.dependent_launch_max_values = std::atoll(argv[++arg]);
    } else if (flag == "--gelu-tanh") {
      options.gelu_erf_as_tanh = true;
    } else if (flag == "--news-mix" && has_value) {
      news_mix_path = argv[++arg];
    } else if (flag == "--no-shapes") {
      run_shapes = false;
    } else if (flag == "--shapes" && has_value) {
      shapes.clear();
      std::stringstream list(argv[++arg]);
      for (std::string item; std::getline(list, item, ',');) {
        long long batch = 0, sequence = 0;
        if (std::sscanf(item.c_str(), "%lldx%lld", &batch, &sequence) != 2 || batch <= 0 || sequence <= 0) {
          std::fprintf(stderr, "--shapes: '%s' is not BATCHxSEQ\n", item.c_str());
          return 2;
        }
        shapes.push_back({batch, sequence});
      }
    } else if (flag == "--models" && has_value) {
      models_arg = argv[++arg];
    } else {
      std::fprintf(stderr, "unknown argument %s\n", flag.c_str());
      return 2;
    }
  }
  if (!run_shapes) shapes.clear();
  std::vector<justnews::PackedBatch> news_mix;
  if (!news_mix_path.empty()) {
    news_mix = read_news_mix(news_mix_path);
    if (news_mix.empty()) {
      std::fprintf(stderr, "%s: not a readable news-mix file\n", news_mix_path.c_str());
      return 1;
    }
  }
  // The workspace is sized for the largest batch this run sends, as a compiled plan would be.
  options.max_batch_tokens = 1;
  for (const BenchShape& shape : shapes)
    options.max_batch_tokens = std::max(options.max_batch_tokens, shape.batch * shape.sequence);
  for (const justnews::PackedBatch& batch : news_mix)
    options.max_batch_tokens = std::max(options.max_batch_tokens, batch.total_tokens());
  options.max_batch_sequences = 128;

  cudaFree(nullptr);  // create the context before the memory baseline
  std::printf("# cuBLASLt algorithm autotuning: %s\n", options.autotune_gemms ? "on" : "off");
  std::printf("%-10s %-5s %-6s %-4s %-8s %9s %9s %9s %9s %11s %12s %10s\n", "model", "prec", "graphs",
              "gelu", "shape", "p50_ms", "p90_ms", "p99_ms", "dev_p50", "seq_per_s", "tokens_per_s",
              "mem_MiB");
  for (const BenchModel& bench : bench_models(models_arg)) {
    const size_t baseline = device_used_bytes();
    const auto model = justnews::testing::make_random_model(bench.shape, 42);
    justnews::ActivationCalibration calibration;
    if (static_scales) {
      auto calibrated = justnews::testing::calibrate_random_model(model);
      if (!calibrated.ok()) {
        std::fprintf(stderr, "%s: %s\n", bench.name.c_str(), calibrated.status().to_string().c_str());
        return 1;
      }
      calibration = std::move(calibrated).value();
      options.calibration = &calibration;
      options.static_activation_scales = true;
    }
    auto encoder = justnews::make_cuda_encoder(model.config, model.weights, options);
    if (!encoder.ok()) {
      std::fprintf(stderr, "%s: %s\n", bench.name.c_str(), encoder.status().to_string().c_str());
      return 1;
    }
    const justnews::ForwardRequest request{false, false, true};
    const char* gelu = options.gelu_erf_as_tanh ? "tanh" : "erf";
    const auto print_row = [&](const std::string& label, const std::vector<double>& times_ms,
                               double device_ms, double sequences, double tokens) {
      const double p50 = percentile(times_ms, 0.5);
      const size_t used = device_used_bytes() - baseline;
      std::printf("%-10s %-5s %-6s %-4s %-8s %9.3f %9.3f %9.3f %9.3f %11.0f %12.0f %10.1f\n",
                  bench.name.c_str(),
                  (justnews::cuda_precision_name(options) + (static_scales ? "s" : "")).c_str(),
                  options.use_cuda_graphs ? "on" : "off", gelu, label.c_str(), p50,
                  percentile(times_ms, 0.9), percentile(times_ms, 0.99), device_ms,
                  sequences * 1000.0 / p50, tokens * 1000.0 / p50, used / 1048576.0);
      std::fflush(stdout);
    };
    for (const BenchShape& shape : shapes) {
      const justnews::PackedBatch batch = justnews::testing::make_random_batch(
          model.config, std::vector<int64_t>(shape.batch, shape.sequence), 7);
      for (int warmup = 0; warmup < 5; ++warmup) {
        auto result = (*encoder)->forward(batch, request);
        if (!result.ok()) {
          std::fprintf(stderr, "%s: %s\n", bench.name.c_str(), result.status().to_string().c_str());
          return 1;
        }
      }
      std::vector<double> times_ms;
      for (int iteration = 0; iteration < iterations; ++iteration) {
        const auto start = std::chrono::steady_clock::now();
        auto result = (*encoder)->forward(batch, request);
        const auto stop = std::chrono::steady_clock::now();
        if (!result.ok()) return 1;
        times_ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
      }
      auto device_ms = justnews::cuda_encoder_device_time_ms(**encoder, batch, iterations);
      if (!device_ms.ok()) return 1;
      print_row(std::to_string(shape.batch) + "x" + std::to_string(shape.sequence), times_ms, *device_ms,
                static_cast<double>(shape.batch), static_cast<double>(shape.batch * shape.sequence));
    }
    if (!news_mix.empty()) {
      // One pass = every batch once; figures per pass (p50 over passes), throughput in real tokens.
      double sequences = 0, tokens = 0, device_ms = 0;
      for (const justnews::PackedBatch& batch : news_mix) {
        sequences += batch.num_sequences();
        tokens += batch.total_tokens();
        for (int warmup = 0; warmup < 3; ++warmup)
          if (!(*encoder)->forward(batch, request).ok()) return 1;
        auto batch_ms = justnews::cuda_encoder_device_time_ms(**encoder, batch, 20);
        if (!batch_ms.ok()) return 1;
        device_ms += *batch_ms;
      }
      std::vector<double> times_ms;
      for (int pass = 0; pass < std::max(3, iterations / 10); ++pass) {
        const auto start = std::chrono::steady_clock::now();
        for (const justnews::PackedBatch& batch : news_mix)
          if (!(*encoder)->forward(batch, request).ok()) return 1;
        times_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
      print_row("newsmix" + std::to_string(news_mix.size()), times_ms, device_ms, sequences, tokens);
    }
  }
  return 0;
}
