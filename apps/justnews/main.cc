// justnews: the command-line front end. Each subcommand is a thin client of the library.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/logging.h"
#include "analyze_command.h"
#include "bench_command.h"
#include "compile_command.h"
#include "blas_environment.h"
#include "model_commands.h"
#include "quantize_command.h"
#include "tokenize_command.h"

namespace {

constexpr const char* kUsage = R"(justnews — news analysis on encoder models

usage: justnews <command> [options]

commands:
  inspect MODEL_DIR                 architecture, parameters, dtypes, labels, pooling
  embed --model DIR [FILE|-]        sentence embeddings of text lines or JSONL, as JSONL
  classify --model DIR [FILE|-]     label probabilities of text lines or JSONL, as JSONL
  tokenize --model DIR|--tokenizer FILE [--max-length N] [--pair]
                                    token ids, tokens and offsets of stdin lines, as JSONL
  analyze [--config FILE] INPUT     run every agent over articles (JSONL/CSV/-) into the store
                                    (justnews analyze --help for its options)
  compile MODEL_DIR                 build (or find) the cached CUDA engine plan for this GPU
                                    (--precision, --max-batch-tokens, --cache-dir; --help)
  bench MODEL_DIR                   latency / throughput on --shapes 1x128,32x128 or a --corpus
                                    (--backend cpu|cuda; justnews bench --help)
  quantize MODEL_DIR --report       accuracy / speed / memory of every CPU precision vs FP32
                                    (--calibrate, --eval, --precision auto; --help)

embed / classify options:
  --batch-size N    sequences per forward pass (default 32)
  --max-length N    truncate to N tokens (default: the model's limit)
  --threads N       CPU threads (default: all)
  --field NAME      JSONL field holding the text (default "text", else title + body)
  --format F        force weights format: safetensors | bin
)";

// Every command has closed its files and stores when it returns. What exit() would still do is tear
// down the CUDA runtime (the context, the loaded modules) and run static destructors: work the OS
// does anyway, and a measurable part of a short GPU run's wall time. So the streams are flushed and
// the process leaves at once. Sanitizer builds exit normally, so that their leak check still runs.
#if defined(__SANITIZE_ADDRESS__)
#define JUSTNEWS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JUSTNEWS_SANITIZED 1
#endif
#endif

[[noreturn]] void leave(int code) {
#if defined(JUSTNEWS_SANITIZED)
  std::exit(code);
#else
  std::fflush(nullptr);
  spdlog::shutdown();
  std::_Exit(code);
#endif
}

int run_command(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "inspect") return justnews::cli::run_inspect_command(argc - 2, argv + 2);
  if (command == "embed") return justnews::cli::run_embed_command(argc - 2, argv + 2);
  if (command == "classify") return justnews::cli::run_classify_command(argc - 2, argv + 2);
  if (command == "tokenize") return justnews::run_tokenize_command(argc - 1, argv + 1);
  if (command == "analyze") return justnews::cli::run_analyze_command(argc - 2, argv + 2);
  if (command == "compile") return justnews::cli::run_compile_command(argc - 2, argv + 2);
  if (command == "bench") return justnews::cli::run_bench_command(argc - 2, argv + 2);
  if (command == "quantize") return justnews::cli::run_quantize_command(argc - 2, argv + 2);
  std::fprintf(stderr, "justnews: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (!justnews::cli::analyze_runs_only_on_cuda(argc, argv)) justnews::cli::reexec_with_fast_blas_if_needed(argv);
  justnews::set_log_level(justnews::LogLevel::kWarn);
  leave(run_command(argc, argv));
}
