// justnews compile MODEL_DIR --precision fp16|bf16|fp32 [--max-batch-tokens N] [--cache-dir D]:
// builds (or finds) the engine plan for this model on this GPU and says where it is. Needs a CUDA
// build; a CPU-only build explains that and exits 1.
#include "compile_command.h"

#include <cstdio>
#include <string>

#include "cli_args.h"
#include "core/status.h"

#ifdef JUSTNEWS_WITH_CUDA
#include "engine/cuda/cuda_plan_cache.h"
#include "model/model_dir.h"
#endif

namespace justnews::cli {
namespace {

constexpr const char* kCompileUsage = R"(usage: justnews compile MODEL_DIR [options]
  --precision P            fp16 | bf16 | fp32 (default fp16)
  --max-batch-tokens N     largest batch in tokens; sizes the workspace (default 16384)
  --max-batch-sequences N  largest batch in sequences (default 1024)
  --max-workspace-mb N     refuse plans whose workspace exceeds this (default 1024)
  --cache-dir D            engine cache (default $JUSTNEWS_ENGINE_CACHE or ~/.cache/justnews/engines)
  --format F               force weights format: safetensors | bin
)";

int fail(const Status& status) {
  std::fprintf(stderr, "justnews compile: %s\n", status.to_string().c_str());
  return 1;
}

}  // namespace

int run_compile_command(int argc, char** argv) {
  auto args = CliArgs::parse(argc, argv,
                             {"precision", "max-batch-tokens", "max-batch-sequences",
                              "max-workspace-mb", "cache-dir", "format"},
                             {"help"});
  if (!args.ok()) return fail(args.status());
  if (args->has("help") || args->positional().size() != 1) {
    std::fputs(kCompileUsage, args->has("help") ? stdout : stderr);
    return args->has("help") ? 0 : 2;
  }
#ifdef JUSTNEWS_WITH_CUDA
  CudaEncoderOptions options;
  auto precision = precision_from_name(args->get("precision", "fp16"));
  if (!precision.ok()) return fail(precision.status());
  options.precision = *precision;
  auto max_tokens = args->get_int("max-batch-tokens", 16384, 1, 1 << 26);
  auto max_sequences = args->get_int("max-batch-sequences", 1024, 1, 1 << 20);
  auto max_workspace_mb = args->get_int("max-workspace-mb", 1024, 1, 1 << 20);
  for (const Status& status : {max_tokens.status(), max_sequences.status(), max_workspace_mb.status()})
    if (!status.ok()) return fail(status);
  options.max_batch_tokens = *max_tokens;
  options.max_batch_sequences = *max_sequences;
  options.max_workspace_bytes = static_cast<size_t>(*max_workspace_mb) << 20;
  const std::string cache_dir = args->get("cache-dir", default_engine_cache_dir());

  auto model = load_model_dir(args->positional().front(), args->get("format"));
  if (!model.ok()) return fail(model.status());
  auto opened = open_cached_cuda_encoder(*model, options, cache_dir);
  if (!opened.ok()) return fail(opened.status());
  if (!opened->rebuild_reason.empty())
    std::fprintf(stderr, "justnews compile: cached plan was unusable and was rebuilt: %s\n",
                 opened->rebuild_reason.c_str());
  std::printf("plan %s (%s)\n  key %s, %s, weights %.1f MB\n"
              "  fingerprint %.3f s, plan %.3f s, upload %.3f s\n",
              opened->plan_path.c_str(), plan_origin_name(opened->origin), opened->key_hash.c_str(),
              opened->encoder->backend_name().c_str(), opened->plan_weight_bytes / 1e6,
              opened->fingerprint_seconds, opened->plan_seconds, opened->upload_seconds);
  return 0;
#else
  return fail(unsupported("this build has no CUDA backend (configure with -DJUSTNEWS_CUDA=ON); "
                          "engine plans are compiled for a GPU"));
#endif
}

}  // namespace justnews::cli
