// justnews compile MODEL_DIR --precision P [--calibrate FILE] [--max-batch-tokens N] [--cache-dir
// D]: builds (or finds) the engine plan for this model on this GPU and says where it is; with
// --precision auto it first measures every CUDA precision and compiles the fastest that keeps
// within --max-accuracy-drop, recording the evidence in the plan. Needs a CUDA build; a CPU-only
// build explains that and exits 1.
#include "compile_command.h"

#include <cstdio>
#include <string>

#include "cli_args.h"
#include "core/status.h"

#ifdef JUSTNEWS_WITH_CUDA
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "cuda_report_variants.h"
#include "engine/cuda/cuda_plan_cache.h"
#include "engine/plan_checksum.h"
#include "model/model_dir.h"
#include "quant/accuracy_report.h"
#include "tokenizer/tokenizer.h"
#endif

namespace justnews::cli {
namespace {

constexpr const char* kCompileUsage = R"(usage: justnews compile MODEL_DIR [options]
  --precision P            fp16 | bf16 | fp32 | fp8 | int8 | int8-weight-only | int4 | nf4 | auto
                           (default fp16)
  --max-batch-tokens N     largest batch in tokens; sizes the workspace (default 16384)
  --max-batch-sequences N  largest batch in sequences (default 1024)
  --max-workspace-mb N     refuse plans whose workspace exceeds this (default 1024)
  --cache-dir D            engine cache (default $JUSTNEWS_ENGINE_CACHE or ~/.cache/justnews/engines)
  --format F               force weights format: safetensors | bin
  --group-size N           int4 / nf4 group size: 64 or 128 (default 64)
 calibration (fp8 / int8 / int4 / nf4):
  --calibrate FILE.jsonl   sample texts; their activation ranges are stored in the plan
  --calibrate-field NAME   JSON field with the text (default "body")
  --calibrate-limit N      texts to use (default 512)
  --activation-scales S    static (calibrated per-tensor, the default with --calibrate) | dynamic
                           (per token)
  --smoothquant-alpha X    int8 SmoothQuant migration strength with --calibrate (default 0.7; 0 off)
  --no-gptq                round weights to nearest instead of GPTQ (which --calibrate enables for
                           fp8 / int8 / int4 / nf4 weights)
 automatic choice (--precision auto):
  --max-accuracy-drop X    largest top-1 agreement (and task accuracy) drop allowed (default 0.005);
                           with --calibrate, fp8 and int8 are measured per token and with the
                           calibrated per-tensor scales (rows fp8-static, int8-static)
  --eval FILE.jsonl        texts to measure it on (default: the --calibrate file)
  --eval-field NAME        default "title"; --eval-limit N default 1000; --label-field NAME
)";

int fail(const Status& status) {
  std::fprintf(stderr, "justnews compile: %s\n", status.to_string().c_str());
  return 1;
}

#ifdef JUSTNEWS_WITH_CUDA
Result<float> parse_float(const CliArgs& args, const std::string& name, float fallback) {
  if (!args.has(name)) return fallback;
  try {
    return std::stof(args.get(name));
  } catch (const std::exception&) {
    return invalid_argument("--" + name + " '" + args.get(name) + "' is not a number");
  }
}

// What `--precision auto` chose: the row's name, the options it was measured with, the evidence.
struct CudaChoice {
  std::string name;
  CudaEncoderOptions options;
  std::string evidence;
};

// Measures every CUDA precision against the FP32 CPU encoder on the evaluation texts and returns
// the fastest whose agreement drop stays within `max_drop`.
Result<CudaChoice> choose_cuda_precision(const LoadedModel& model,
                                         const tokenizer::Tokenizer& tokenizer,
                                         const LabeledTexts& eval, const CudaEncoderOptions& base,
                                         double max_drop, ThreadPool* pool) {
  QuantEvalOptions eval_options;
  std::map<std::string, CudaEncoderOptions> row_options;
  // Each row is `base` (the calibration and scale choices this compile will use) at one precision.
  JN_ASSIGN_OR_RETURN(auto variants,
                      cuda_report_variants(model, pool, all_cuda_precision_names(), base, nullptr,
                                           eval_options, &row_options));
  if (base.calibration && !base.static_activation_scales) {
    // The 8-bit formats with the calibrated per-tensor scales are candidates too (faster than per
    // token, usually less accurate): rows "fp8-static" and "int8-static".
    CudaEncoderOptions calibrated = base;
    calibrated.static_activation_scales = true;
    std::map<std::string, CudaEncoderOptions> static_options;
    JN_ASSIGN_OR_RETURN(auto static_rows,
                        cuda_report_variants(model, pool, {"fp8", "int8"}, calibrated, nullptr,
                                             eval_options, &static_options));
    for (size_t row = 1; row < static_rows.size(); ++row) {  // row 0: the CPU reference again
      const std::string name = static_rows[row].name + "-static";
      row_options[name] = static_options.at(static_rows[row].name);
      static_rows[row].name = name;
      variants.push_back(std::move(static_rows[row]));
    }
  }
  std::vector<std::string> skipped;
  JN_ASSIGN_OR_RETURN(auto reports,
                      evaluate_encoders(model, tokenizer, eval, variants, eval_options, &skipped));
  // The reference row is the CPU; only GPU rows may be chosen.
  std::vector<PrecisionReport> gpu_rows(reports.begin() + 1, reports.end());
  std::vector<PrecisionReport> candidates;
  candidates.push_back(reports.front());
  candidates.front().tokens_per_second = 0.0;  // never pick the CPU reference itself
  candidates.insert(candidates.end(), gpu_rows.begin(), gpu_rows.end());
  const PrecisionReport& best = choose_precision(candidates, max_drop);
  // When even fp16 misses the bound, fall back to it (the most accurate GPU precision) and say so.
  const std::string choice = best.name == reports.front().name ? "fp16" : best.name;
  std::string evidence = "precision auto, max accuracy drop " + std::to_string(max_drop) + ", " +
                         std::to_string(eval.texts.size()) + " texts; chose " + choice + "\n";
  if (best.name == reports.front().name)
    evidence += "note: no CUDA precision stayed within the bound; fell back to fp16\n";
  for (const std::string& reason : skipped) evidence += "note: not measured: " + reason + "\n";
  for (const PrecisionReport& report : reports) {
    char line[256];
    std::snprintf(
        line, sizeof(line), "%-12s cos mean %.5f min %.5f top1 %.2f%% %s tokens/s %.0f\n",
        report.name.c_str(), report.mean_cosine, report.min_cosine, 100.0 * report.top1_agreement,
        report.task_accuracy ? ("task " + std::to_string(*report.task_accuracy)).c_str() : "",
        report.tokens_per_second);
    evidence += line;
  }
  return CudaChoice{choice, row_options.at(choice), evidence};
}
#endif

}  // namespace

int run_compile_command(int argc, char** argv) {
  auto args =
      CliArgs::parse(argc, argv,
                     {"precision", "max-batch-tokens", "max-batch-sequences", "max-workspace-mb",
                      "cache-dir", "format", "group-size", "calibrate", "calibrate-field",
                      "calibrate-limit", "activation-scales", "smoothquant-alpha",
                      "max-accuracy-drop", "eval", "eval-field", "eval-limit", "label-field"},
                     {"help", "no-gptq"});
  if (!args.ok()) return fail(args.status());
  if (args->has("help") || args->positional().size() != 1) {
    std::fputs(kCompileUsage, args->has("help") ? stdout : stderr);
    return args->has("help") ? 0 : 2;
  }
#ifdef JUSTNEWS_WITH_CUDA
  CudaEncoderOptions options;
  const std::string precision = args->get("precision", "fp16");
  const bool automatic = precision == "auto";
  if (!automatic) {
    if (Status applied = apply_precision_name(precision, options); !applied.ok())
      return fail(applied);
  }
  auto max_tokens = args->get_int("max-batch-tokens", 16384, 1, 1 << 26);
  auto max_sequences = args->get_int("max-batch-sequences", 1024, 1, 1 << 20);
  auto max_workspace_mb = args->get_int("max-workspace-mb", 1024, 1, 1 << 20);
  auto group_size = args->get_int("group-size", 64, 2, 1 << 20);
  auto calibrate_limit = args->get_int("calibrate-limit", 512, 1, 1000000);
  auto eval_limit = args->get_int("eval-limit", 1000, 2, 1000000);
  auto alpha = parse_float(*args, "smoothquant-alpha", kDefaultSmoothQuantAlpha);
  auto max_drop = parse_float(*args, "max-accuracy-drop", 0.005f);
  for (const Status& status :
       {max_tokens.status(), max_sequences.status(), max_workspace_mb.status(), group_size.status(),
        calibrate_limit.status(), eval_limit.status(), alpha.status(), max_drop.status()})
    if (!status.ok()) return fail(status);
  options.max_batch_tokens = *max_tokens;
  options.max_batch_sequences = *max_sequences;
  options.max_workspace_bytes = static_cast<size_t>(*max_workspace_mb) << 20;
  options.int4_group_size = *group_size;
  const std::string cache_dir = args->get("cache-dir", default_engine_cache_dir());
  const std::string scales = args->get("activation-scales", automatic ? "dynamic" : "static");
  if (scales != "static" && scales != "dynamic")
    return fail(
        invalid_argument("--activation-scales must be static or dynamic, got '" + scales + "'"));

  const std::string model_dir = args->positional().front();
  auto model = load_model_dir(model_dir, args->get("format"));
  if (!model.ok()) return fail(model.status());

  ThreadPool pool(0);
  std::optional<ActivationCalibration> calibration;
  if (args->has("calibrate") || automatic) {
    auto tokenizer = tokenizer::Tokenizer::from_model_dir(model_dir);
    if (!tokenizer.ok()) return fail(tokenizer.status());
    QuantEvalOptions eval_options;
    // Plans with weight codes run GPTQ on the calibration texts' layer-input statistics.
    options.gptq = !args->has("no-gptq");
    eval_options.collect_gram =
        options.gptq && (automatic || options.linear_format != cuda::LinearFormat::kNative);
    if (args->has("calibrate")) {
      auto texts = read_labeled_texts(args->get("calibrate"), args->get("calibrate-field", "body"),
                                      "", *calibrate_limit);
      if (!texts.ok()) return fail(texts.status().with_context("--calibrate"));
      auto calibrated =
          calibrate_activations(*model, *tokenizer, texts->texts, eval_options, &pool);
      if (!calibrated.ok()) return fail(calibrated.status().with_context("--calibrate"));
      calibration = std::move(*calibrated);
      std::string joined;
      for (const std::string& text : texts->texts) joined += text + '\n';
      options.calibration = &*calibration;
      options.calibration_id = hash_to_hex(xxhash64(joined));
      options.static_activation_scales = scales == "static";
      options.smoothquant_alpha = *alpha;  // used by int8 only
      options.plan_notes = "calibrated on " + std::to_string(texts->texts.size()) + " texts of " +
                           args->get("calibrate") + " (" + std::to_string(calibration->num_tokens) +
                           " tokens), " + scales + " activation scales\n";
    }
    if (automatic) {
      const std::string eval_path = args->get("eval", args->get("calibrate"));
      if (eval_path.empty())
        return fail(invalid_argument("--precision auto needs --eval FILE.jsonl (or --calibrate)"));
      auto eval = read_labeled_texts(eval_path, args->get("eval-field", "title"),
                                     args->get("label-field"), *eval_limit);
      if (!eval.ok()) return fail(eval.status().with_context("--eval"));
      auto chosen = choose_cuda_precision(*model, *tokenizer, *eval, options, *max_drop, &pool);
      if (!chosen.ok()) return fail(chosen.status());
      std::fputs(chosen->evidence.c_str(), stdout);
      options = chosen->options;
      options.plan_notes += chosen->evidence;
    }
  }
  if (!options.calibration) {
    options.smoothquant_alpha = 0.0f;
    options.static_activation_scales = false;
  }
  if (options.linear_format != cuda::LinearFormat::kInt8) options.smoothquant_alpha = 0.0f;
  // Activation scales belong to the W8A8 formats; the weight-only ones keep fp16 activations.
  if (options.linear_format != cuda::LinearFormat::kInt8 &&
      options.linear_format != cuda::LinearFormat::kFp8)
    options.static_activation_scales = false;

  auto opened = open_cached_cuda_encoder(*model, options, cache_dir);
  if (!opened.ok()) return fail(opened.status());
  if (!opened->rebuild_reason.empty())
    std::fprintf(stderr, "justnews compile: cached plan was unusable and was rebuilt: %s\n",
                 opened->rebuild_reason.c_str());
  std::printf(
      "plan %s (%s)\n  key %s, %s, weights %.1f MB\n"
      "  fingerprint %.3f s, plan %.3f s, upload %.3f s\n",
      opened->plan_path.c_str(), plan_origin_name(opened->origin), opened->key_hash.c_str(),
      opened->encoder->backend_name().c_str(), opened->plan_weight_bytes / 1e6,
      opened->fingerprint_seconds, opened->plan_seconds, opened->upload_seconds);
  return 0;
#else
  return fail(
      unsupported("this build has no CUDA backend (configure with -DJUSTNEWS_CUDA=ON); "
                  "engine plans are compiled for a GPU"));
#endif
}

}  // namespace justnews::cli
