// justnews quantize MODEL_DIR --report: argument parsing and the report table; the work is done by
// quant/accuracy_report.h.
#include "quantize_command.h"

#include <cstdio>
#include <string>
#include <vector>

#include "cli_args.h"
#include "core/thread_pool.h"
#include "model/model_dir.h"
#include "quant/accuracy_report.h"
#include "tokenizer/tokenizer.h"
#ifdef JUSTNEWS_WITH_CUDA
#include "cuda_report_variants.h"
#endif

namespace justnews::cli {
namespace {

constexpr const char* kUsage = R"(usage: justnews quantize MODEL_DIR --report [options]

  --report                   evaluate every precision against the FP32 CPU encoder (required)
  --device cpu|cuda          backend whose precisions are evaluated (default cpu); cuda offers
                             fp16, bf16, fp8, int8, int8-weight-only, int4, nf4 (+ fp8-static,
                             int8-smooth, int8-static, int8-static-sym and -gptq rows with
                             --calibrate)
  --eval FILE.jsonl          evaluation texts (default ../shared/data/news/agnews_test.jsonl)
  --field NAME               JSON field with the text (default "title")
  --label-field NAME         JSON field with the label: adds task accuracy
  --limit N                  evaluation texts to use (default 1000)
  --calibrate FILE.jsonl     calibration texts: enables the int8-smooth / -mixed / -static rows
                             and a GPTQ row (-gptq) of every code format
  --calibrate-field NAME     default "body"
  --calibrate-limit N        default 512
  --precision LIST|auto      comma-separated precisions (default: all), or auto
  --max-accuracy-drop X      with auto: largest top-1 / task accuracy drop allowed (default 0.01)
  --group-size N             int4 / nf4 group size (default 64)
  --smoothquant-alpha X      migration strength for int8-smooth / int8-static (default 0.7)
  --max-length N             tokens per text (default 128)
  --batch-size N             texts per forward pass (default 32)
  --threads N                CPU threads (default: all)
)";

Result<std::vector<Precision>> parse_precisions(const std::string& list) {
  if (list.empty() || list == "auto") return all_precisions();
  std::vector<Precision> precisions;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    JN_ASSIGN_OR_RETURN(Precision precision, parse_precision(list.substr(begin, end - begin)));
    precisions.push_back(precision);
    begin = end + 1;
  }
  return precisions;
}

void print_reports(const std::vector<PrecisionReport>& reports) {
  std::printf("%-22s %9s %9s %11s %8s %9s %11s %10s %8s\n", "precision", "cos mean", "cos min",
              "max|dlogit|", "top1", "task acc", "tokens/s", "weights MB", "vs fp16");
  for (const PrecisionReport& report : reports) {
    const std::string task =
        report.task_accuracy ? std::to_string(*report.task_accuracy).substr(0, 6) : "-";
    const std::string logit_error =
        report.has_logits ? std::to_string(report.max_abs_logit_error).substr(0, 7) : "-";
    std::printf("%-22s %9.5f %9.5f %11s %7.2f%% %9s %11.0f %10.2f %7.3fx\n", report.name.c_str(),
                report.mean_cosine, report.min_cosine, logit_error.c_str(),
                100.0 * report.top1_agreement, task.c_str(), report.tokens_per_second,
                static_cast<double>(report.weight_bytes) / 1e6, report.weight_ratio_vs_fp16);
  }
}


}  // namespace

int run_quantize_command(int argc, char** argv) {
  auto args =
      CliArgs::parse(argc, argv,
                     {"eval", "field", "label-field", "limit", "calibrate", "calibrate-field",
                      "calibrate-limit", "precision", "max-accuracy-drop", "group-size",
                      "smoothquant-alpha", "max-length", "batch-size", "threads", "device"},
                     {"report", "help"});
  if (!args.ok()) {
    std::fprintf(stderr, "justnews quantize: %s\n\n%s", args.status().message().c_str(), kUsage);
    return 2;
  }
  if (args->has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args->positional().size() != 1 || !args->has("report")) {
    std::fprintf(stderr, "justnews quantize: expected MODEL_DIR and --report\n\n%s", kUsage);
    return 2;
  }
  auto fail = [](const Status& status) {
    std::fprintf(stderr, "justnews quantize: %s\n", status.to_string().c_str());
    return 1;
  };
  QuantEvalOptions options;
  auto limit = args->get_int("limit", 1000, 2, 1000000);
  auto calibrate_limit = args->get_int("calibrate-limit", 512, 1, 1000000);
  auto group_size = args->get_int("group-size", 64, 2, 1 << 20);
  auto max_length = args->get_int("max-length", 128, 2, 1 << 16);
  auto batch_size = args->get_int("batch-size", 32, 1, 4096);
  auto threads = args->get_int("threads", 0, 0, 1024);
  for (const auto* value :
       {&limit, &calibrate_limit, &group_size, &max_length, &batch_size, &threads})
    if (!value->ok()) return fail(value->status());
  options.group_size = *group_size;
  options.max_length = *max_length;
  options.batch_size = *batch_size;
  double max_drop = 0.01;
  if (args->has("max-accuracy-drop")) {
    try {
      max_drop = std::stod(args->get("max-accuracy-drop"));
    } catch (const std::exception&) {
      return fail(invalid_argument("--max-accuracy-drop '" + args->get("max-accuracy-drop") +
                                   "' is not a number"));
    }
  }
  if (args->has("smoothquant-alpha")) {
    try {
      options.smoothquant_alpha = std::stof(args->get("smoothquant-alpha"));
    } catch (const std::exception&) {
      return fail(invalid_argument("--smoothquant-alpha '" + args->get("smoothquant-alpha") +
                                   "' is not a number"));
    }
  }
  const bool automatic = args->get("precision") == "auto";
  const std::string device = args->get("device", "cpu");
  if (device != "cpu" && device != "cuda")
    return fail(invalid_argument("--device must be cpu or cuda, got '" + device + "'"));
#ifndef JUSTNEWS_WITH_CUDA
  if (device == "cuda")
    return fail(unsupported("--device cuda: this build has no CUDA backend (configure with -DJUSTNEWS_CUDA=ON)"));
#endif
  auto precisions = device == "cpu" ? parse_precisions(args->get("precision"))
                                    : Result<std::vector<Precision>>(std::vector<Precision>{});
  if (!precisions.ok()) return fail(precisions.status());

  const std::string model_dir = args->positional().front();
  auto model = load_model_dir(model_dir);
  if (!model.ok()) return fail(model.status());
  auto tokenizer = tokenizer::Tokenizer::from_model_dir(model_dir);
  if (!tokenizer.ok()) return fail(tokenizer.status());
  ThreadPool pool(static_cast<size_t>(*threads));

  std::optional<ActivationCalibration> calibration;
  if (args->has("calibrate")) {
    // Gram statistics (a rank-k update per observed batch) feed the GPTQ rows of every code format.
    const std::string list = args->get("precision");
    options.collect_gram = list.empty() || list == "auto";
    for (const char* code_format : {"int8", "fp8", "int4", "nf4"})
      options.collect_gram = options.collect_gram || list.find(code_format) != std::string::npos;
    auto texts = read_labeled_texts(args->get("calibrate"), args->get("calibrate-field", "body"),
                                    "", *calibrate_limit);
    if (!texts.ok()) return fail(texts.status().with_context("--calibrate"));
    auto calibrated = calibrate_activations(*model, *tokenizer, texts->texts, options, &pool);
    if (!calibrated.ok()) return fail(calibrated.status());
    calibration = std::move(*calibrated);
    std::printf(
        "calibration: %zu texts, %lld tokens, per-layer absmax, p%.1f and %lld sampled rows "
        "(static INT8 scales: the clip with the least error on them)\n",
        texts->texts.size(), static_cast<long long>(calibration->num_tokens), options.percentile,
        static_cast<long long>(calibration->layers.empty()
                                       ? 0
                                       : calibration->site(0, LinearSite::kQkv).sample_rows));
  }
  const std::string eval_path = args->get("eval", "../shared/data/news/agnews_test.jsonl");
  auto eval =
      read_labeled_texts(eval_path, args->get("field", "title"), args->get("label-field"), *limit);
  if (!eval.ok()) return fail(eval.status().with_context("--eval"));
  std::printf("model: %s, %zu evaluation texts from %s, %zu threads, group size %d\n",
              model_dir.c_str(), eval->texts.size(), eval_path.c_str(), pool.num_threads(),
              *group_size);
  const ActivationCalibration* calibrated = calibration ? &*calibration : nullptr;
  Result<std::vector<PrecisionReport>> reports = internal_error("no evaluation ran");
  if (device == "cpu") {
    reports = evaluate_precisions(*model, *tokenizer, *eval, *precisions, calibrated, options, &pool);
  } else {
#ifdef JUSTNEWS_WITH_CUDA
    std::vector<std::string> names;
    const std::string list = args->get("precision");
    if (list.empty() || list == "auto") {
      names = all_cuda_precision_names();
    } else {
      for (size_t begin = 0; begin <= list.size();) {
        const size_t end = std::min(list.find(',', begin), list.size());
        names.push_back(list.substr(begin, end - begin));
        begin = end + 1;
      }
    }
    CudaEncoderOptions base;
    base.int4_group_size = options.group_size;
    auto variants = cuda_report_variants(*model, &pool, names, base, calibrated, options);
    if (!variants.ok()) return fail(variants.status());
    reports = evaluate_encoders(*model, *tokenizer, *eval, *variants, options);
#endif
  }
  if (!reports.ok()) return fail(reports.status());
  print_reports(*reports);
  if (automatic) {
    const PrecisionReport& choice = choose_precision(*reports, max_drop);
    std::printf(
        "\nauto (max accuracy drop %.4f): %s — %.0f tokens/s (%.2fx fp32), top-1 agreement %.2f%%",
        max_drop, choice.name.c_str(), choice.tokens_per_second,
        choice.tokens_per_second / reports->front().tokens_per_second,
        100.0 * choice.top1_agreement);
    if (choice.task_accuracy)
      std::printf(", task accuracy %.4f vs fp32 %.4f", *choice.task_accuracy,
                  *reports->front().task_accuracy);
    std::printf("\n");
  }
  return 0;
}

}  // namespace justnews::cli
