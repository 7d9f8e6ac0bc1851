// justnews bench MODEL_DIR [--backend cpu|cuda] [--shapes 1x128,32x128 | --corpus FILE ...]:
// times whole forward() calls (host clock: input copy, kernels, output copy) and prints p50 / p90 /
// p99 latency per batch, throughput, and for CUDA the device-only time (inputs and outputs
// resident, as peers are usually timed) and the peak device memory the run used.
#include "bench_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli_args.h"
#include "core/thread_pool.h"
#include "engine/cpu/cpu_encoder.h"
#include "engine/encoder.h"
#include "engine/engine_cache.h"
#include "model/model_dir.h"
#include "text_input.h"
#include "tokenizer/tokenizer.h"

#ifdef JUSTNEWS_WITH_CUDA
#include <cuda_runtime.h>

#include "engine/cuda/cuda_plan_cache.h"
#endif

namespace justnews::cli {
namespace {

using tokenizer::Encoding;
using tokenizer::Tokenizer;

constexpr const char* kBenchUsage = R"(usage: justnews bench MODEL_DIR [options]
  --backend B              cpu | cuda (default: cuda when built with it, else cpu)
  --shapes LIST            batch x sequence shapes of synthetic ids (default 1x128,32x128)
  --corpus FILE            JSONL corpus instead of shapes, tokenised with the model's tokenizer
  --field NAME             corpus field holding the text (default "text", else title + body)
  --max-length N           truncate corpus texts to N tokens (default: the model's limit)
  --batch N                corpus texts per batch (default 32)
  --max-batches N          use at most N corpus batches (default 64)
  --iterations N           timed passes per shape / over the corpus batches (default 50 / 5)
  --warmup N               untimed passes first (default 3)
  --threads N              CPU threads (default: all)
  CUDA only:
  --precision P            fp16 | bf16 | fp32 (default fp16)
  --max-batch-tokens N     plan limit (default 16384, as justnews compile)
  --cache-dir D            engine cache (default as justnews compile)
  --no-graphs              disable CUDA graphs
  --attention K            auto | v4 | v3 | v2 | scalar
)";

struct BenchBatch {
  std::string label;  // "32x128", or "corpus"
  PackedBatch batch;
};

struct Figures {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, sequences_per_s = 0, tokens_per_s = 0;
};

int fail(const Status& status) {
  std::fprintf(stderr, "justnews bench: %s\n", status.to_string().c_str());
  return 1;
}

double percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  const size_t idx = std::min(values.size() - 1, static_cast<size_t>(fraction * (values.size() - 1) + 0.5));
  return values[idx];
}

// "32x128,1x512" -> batches of deterministic ids spread over the vocabulary (no special tokens:
// the figures depend on shapes only).
Result<std::vector<BenchBatch>> synthetic_batches(const std::string& shapes, const EncoderConfig& config,
                                                  int64_t max_length) {
  std::vector<BenchBatch> batches;
  std::stringstream list(shapes);
  std::string item;
  while (std::getline(list, item, ',')) {
    const size_t cross = item.find('x');
    long long batch_size = 0, length = 0;
    if (cross == std::string::npos || std::sscanf(item.c_str(), "%lldx%lld", &batch_size, &length) != 2 ||
        batch_size <= 0 || length <= 0)
      return invalid_argument("--shapes: '" + item + "' is not BATCHxSEQUENCE (e.g. 32x128)");
    if (length > max_length)
      return invalid_argument("--shapes: sequence " + std::to_string(length) + " in '" + item +
                              "' is longer than the model's limit " + std::to_string(max_length));
    BenchBatch bench{item, {}};
    const int64_t usable = std::max<int64_t>(config.vocab_size - 1000, 1);
    for (long long seq = 0; seq < batch_size; ++seq) {
      std::vector<int32_t> ids(static_cast<size_t>(length));
      for (long long pos = 0; pos < length; ++pos)
        ids[pos] = static_cast<int32_t>(std::min<int64_t>(config.vocab_size - 1,
                                                          1000 + (seq * 7919 + pos * 104729) % usable));
      bench.batch.append(ids);
    }
    batches.push_back(std::move(bench));
  }
  if (batches.empty()) return invalid_argument("--shapes is empty");
  return batches;
}

Result<std::vector<BenchBatch>> corpus_batches(const CliArgs& args, const LoadedModel& model) {
  JN_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::from_model_dir(model.directory));
  const int model_limit = static_cast<int>(
      std::min<int64_t>(model.max_sequence_length, model.config.max_sequence_length()));
  JN_ASSIGN_OR_RETURN(const int max_length, args.get_int("max-length", model_limit, 2, model_limit));
  JN_ASSIGN_OR_RETURN(const int batch_size, args.get_int("batch", 32, 1, 4096));
  JN_ASSIGN_OR_RETURN(const int max_batches, args.get_int("max-batches", 64, 1, 1 << 20));
  tokenizer.set_truncation(max_length);
  JN_ASSIGN_OR_RETURN(TextInput input, TextInput::open(args.get("corpus"), args.get("field", "text")));
  std::vector<BenchBatch> batches;
  BenchBatch current{"corpus", {}};
  while (static_cast<int>(batches.size()) < max_batches) {
    auto record = input.next();
    if (!record) break;
    if (!record->ok()) return record->status();
    JN_ASSIGN_OR_RETURN(const Encoding encoding, tokenizer.encode(record->value().text));
    current.batch.append(encoding.ids, encoding.type_ids);
    if (current.batch.num_sequences() == batch_size) {
      batches.push_back(std::move(current));
      current = BenchBatch{"corpus", {}};
    }
  }
  if (current.batch.num_sequences() > 0 && static_cast<int>(batches.size()) < max_batches)
    batches.push_back(std::move(current));
  if (batches.empty()) return invalid_argument("--corpus " + args.get("corpus") + " holds no texts");
  return batches;
}

// Times `iterations` passes over `batches`; every forward() is one latency sample.
Result<Figures> time_batches(Encoder& encoder, const std::vector<const PackedBatch*>& batches,
                             int warmup, int iterations) {
  const ForwardRequest request{false, false, true};
  for (int pass = 0; pass < warmup; ++pass)
    for (const PackedBatch* batch : batches) JN_RETURN_IF_ERROR(encoder.forward(*batch, request).status());
  std::vector<double> times_ms;
  double total_ms = 0, sequences = 0, tokens = 0;
  for (int pass = 0; pass < iterations; ++pass) {
    for (const PackedBatch* batch : batches) {
      const auto start = std::chrono::steady_clock::now();
      JN_RETURN_IF_ERROR(encoder.forward(*batch, request).status());
      const double elapsed_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      times_ms.push_back(elapsed_ms);
      total_ms += elapsed_ms;
      sequences += static_cast<double>(batch->num_sequences());
      tokens += static_cast<double>(batch->total_tokens());
    }
  }
  Figures figures;
  figures.p50_ms = percentile(times_ms, 0.5);
  figures.p90_ms = percentile(times_ms, 0.9);
  figures.p99_ms = percentile(times_ms, 0.99);
  figures.sequences_per_s = sequences * 1000.0 / total_ms;
  figures.tokens_per_s = tokens * 1000.0 / total_ms;
  return figures;
}

#ifdef JUSTNEWS_WITH_CUDA
size_t device_used_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  return total_bytes - free_bytes;
}
#endif

}  // namespace

int run_bench_command(int argc, char** argv) {
  auto args = CliArgs::parse(argc, argv,
                             {"backend", "shapes", "corpus", "field", "max-length", "batch", "max-batches",
                              "iterations", "warmup", "threads", "precision", "max-batch-tokens",
                              "cache-dir", "attention", "format"},
                             {"help", "no-graphs"});
  if (!args.ok()) return fail(args.status());
  if (args->has("help") || args->positional().size() != 1) {
    std::fputs(kBenchUsage, args->has("help") ? stdout : stderr);
    return args->has("help") ? 0 : 2;
  }
#ifdef JUSTNEWS_WITH_CUDA
  const std::string backend = args->get("backend", "cuda");
#else
  const std::string backend = args->get("backend", "cpu");
#endif
  if (backend != "cpu" && backend != "cuda")
    return fail(invalid_argument("--backend must be cpu or cuda, got '" + backend + "'"));
  const bool corpus = args->has("corpus");
  auto iterations = args->get_int("iterations", corpus ? 5 : 50, 1, 1 << 20);
  auto warmup = args->get_int("warmup", 3, 0, 1 << 20);
  auto threads = args->get_int("threads", 0, 0, 1024);
  for (const Status& status : {iterations.status(), warmup.status(), threads.status()})
    if (!status.ok()) return fail(status);

  auto model = load_model_dir(args->positional().front(), args->get("format"));
  if (!model.ok()) return fail(model.status());
  auto batches = corpus ? corpus_batches(*args, *model)
                        : synthetic_batches(args->get("shapes", "1x128,32x128"), model->config,
                                            model->config.max_sequence_length());
  if (!batches.ok()) return fail(batches.status());

  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Encoder> encoder;
  [[maybe_unused]] size_t baseline_bytes = 0;  // device memory before the encoder (CUDA)
  if (backend == "cpu") {
    pool = std::make_unique<ThreadPool>(static_cast<size_t>(*threads));
    auto cpu = make_cpu_encoder(*model, pool.get());
    if (!cpu.ok()) return fail(cpu.status());
    encoder = std::move(cpu).value();
  } else {
#ifdef JUSTNEWS_WITH_CUDA
    CudaEncoderOptions options;
    auto max_tokens = args->get_int("max-batch-tokens", 16384, 1, 1 << 26);
    if (Status precision = apply_precision_name(args->get("precision", "fp16"), options); !precision.ok())
      return fail(precision);
    if (!max_tokens.ok()) return fail(max_tokens.status());
    options.max_batch_tokens = *max_tokens;
    options.use_cuda_graphs = !args->has("no-graphs");
    const std::string attention = args->get("attention", "auto");
    const auto kernel = cuda::attention_kernel_from_name(attention);
    if (!kernel)
      return fail(invalid_argument("--attention: unknown kernel '" + attention +
                                   "' (auto, v4, v3, v2, scalar)"));
    options.attention_kernel = *kernel;
    cudaFree(nullptr);  // the context exists before the memory baseline
    baseline_bytes = device_used_bytes();
    auto opened = open_cached_cuda_encoder(*model, options, args->get("cache-dir", default_engine_cache_dir()));
    if (!opened.ok()) return fail(opened.status());
    std::printf("plan %s (%s): fingerprint %.3f s, plan %.3f s, upload %.3f s\n", opened->plan_path.c_str(),
                plan_origin_name(opened->origin), opened->fingerprint_seconds, opened->plan_seconds,
                opened->upload_seconds);
    encoder = std::move(opened->encoder);
#else
    return fail(unsupported("--backend cuda: this build has no CUDA backend (configure with -DJUSTNEWS_CUDA=ON)"));
#endif
  }

  std::printf("%-10s %-12s %9s %9s %9s %11s %12s %12s\n", "backend", "batch", "p50_ms", "p90_ms", "p99_ms",
              "seq_per_s", "tokens_per_s", "device_p50");
  size_t peak_bytes = 0;
  const auto report = [&](const std::string& label, const std::vector<const PackedBatch*>& group) -> Status {
    JN_ASSIGN_OR_RETURN(const Figures figures, time_batches(*encoder, group, *warmup, *iterations));
    std::string device_ms = "-";
#ifdef JUSTNEWS_WITH_CUDA
    if (backend == "cuda") {
      double total_ms = 0;
      for (const PackedBatch* batch : group) {
        JN_ASSIGN_OR_RETURN(const double batch_ms, cuda_encoder_device_time_ms(*encoder, *batch, 20));
        total_ms += batch_ms;
      }
      char text[32];
      std::snprintf(text, sizeof(text), "%.3f", total_ms / group.size());
      device_ms = text;
      peak_bytes = std::max(peak_bytes, device_used_bytes() - baseline_bytes);
    }
#endif
    std::printf("%-10s %-12s %9.3f %9.3f %9.3f %11.0f %12.0f %12s\n", encoder->backend_name().c_str(),
                label.c_str(), figures.p50_ms, figures.p90_ms, figures.p99_ms, figures.sequences_per_s,
                figures.tokens_per_s, device_ms.c_str());
    std::fflush(stdout);
    return ok_status();
  };
  if (corpus) {
    std::vector<const PackedBatch*> group;
    int64_t tokens = 0, sequences = 0, longest = 0;
    for (const BenchBatch& bench : *batches) {
      group.push_back(&bench.batch);
      tokens += bench.batch.total_tokens();
      sequences += bench.batch.num_sequences();
      longest = std::max(longest, bench.batch.max_sequence_length());
    }
    std::printf("corpus: %zu batches, %lld texts, %.1f tokens per text on average, longest %lld\n",
                group.size(), static_cast<long long>(sequences), static_cast<double>(tokens) / sequences,
                static_cast<long long>(longest));
    const Status status = report("corpus", group);
    if (!status.ok()) return fail(status);
  } else {
    for (const BenchBatch& bench : *batches) {
      const Status status = report(bench.label, {&bench.batch});
      if (!status.ok()) return fail(status);
    }
  }
  if (backend == "cuda")
    std::printf("peak device memory used by the run (weights, workspace, cuBLASLt): %.1f MiB\n",
                peak_bytes / 1048576.0);
  return 0;
}

}  // namespace justnews::cli
