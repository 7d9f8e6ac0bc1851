// Calibration and accuracy evaluation of quantised CPU encoders on real text (JSONL):
//  - read_labeled_texts: texts (and optional labels) from a JSONL file;
//  - calibrate_activations: run the FP32 CPU encoder over sample texts and record per-layer input
//    absmax / percentiles (ActivationCalibration);
//  - evaluate_precisions: for each precision, cosine vs FP32 (embeddings, or hidden states /
//    logits), max absolute logit error, top-1 agreement with FP32 (classifiers: argmax of the
//    logits; embedding models: the label of the nearest other text by cosine when labels exist,
//    else the nearest text itself), task accuracy when labels exist (classifiers: the argmax label
//    name; embedding models: leave-one-out 1-nearest-neighbour label), speed, weight memory;
//  - choose_precision: the fastest precision whose measured drop stays within a bound.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/encoder.h"
#include "model/model_dir.h"
#include "quant/activation_stats.h"
#include "quant/precision.h"
#include "tokenizer/tokenizer.h"

namespace justnews {

struct LabeledTexts {
  std::vector<std::string> texts;
  std::vector<std::string> labels;  // empty, or one per text
};

// field: the JSON string field holding the text; label_field: "" for none (numbers and strings
// are accepted as labels). Lines without a usable text are skipped; none at all is an error that
// names the file and the field. At most `limit` texts are read (0: all).
Result<LabeledTexts> read_labeled_texts(const std::string& path, const std::string& field,
                                        const std::string& label_field, int64_t limit);

struct QuantEvalOptions {
  int64_t max_length = 128;  // tokens per text, special tokens included
  int64_t batch_size = 32;
  int64_t group_size = 64;  // int4 / nf4
  float smoothquant_alpha = kDefaultSmoothQuantAlpha;
  float percentile = 99.9f;  // calibration clip for static scales
  bool collect_gram = false;  // calibration also collects E[x xᵀ] per layer input (GPTQ)
};

Result<ActivationCalibration> calibrate_activations(const LoadedModel& model,
                                                    const tokenizer::Tokenizer& tokenizer,
                                                    const std::vector<std::string>& texts,
                                                    const QuantEvalOptions& options,
                                                    ThreadPool* pool);

struct PrecisionReport {
  std::string name;  // precision name, plus a variant suffix for int8
  Precision precision = Precision::kFp32;
  double mean_cosine = 1.0, min_cosine = 1.0;
  bool has_logits = false;  // a classifier: max_abs_logit_error is meaningful
  double max_abs_logit_error = 0.0;
  double top1_agreement = 1.0;
  std::optional<double> task_accuracy;
  double tokens_per_second = 0.0;
  int64_t weight_bytes = 0;  // encoder-layer linear weights with their scales
  double weight_ratio_vs_fp16 = 0.0;
};

// calibration may be null (then int8 runs only with per-token dynamic scales; with it, int8 also
// runs as int8-smooth (SmoothQuant), int8-mixed (SmoothQuant, FFN output projection in BF16),
// int8-static (SmoothQuant, calibrated per-tensor scales) and int8-static-sym (the same with
// symmetric FFN-out codes; every other int8 row has them asymmetric, the encoder's default)). The
// FP32 row comes first and is the reference for the others.
Result<std::vector<PrecisionReport>> evaluate_precisions(
    const LoadedModel& model, const tokenizer::Tokenizer& tokenizer, const LabeledTexts& eval,
    const std::vector<Precision>& precisions, const ActivationCalibration* calibration,
    const QuantEvalOptions& options, ThreadPool* pool);

// One encoder to evaluate, of any backend: its row name, the precision whose weight memory the row
// reports (ffn_out_bf16: the FFN output projection kept in BF16), and how to build it.
struct EncoderVariant {
  std::string name;
  Precision precision = Precision::kFp32;
  bool ffn_out_bf16 = false;
  std::function<Result<std::unique_ptr<Encoder>>()> make;
};

// Runs every variant over `eval` and compares each with the first (the reference). A variant that
// cannot be built fails the whole evaluation with its name in the error — unless `skipped` is
// given: then it is left out and "name: reason" is appended there (never the reference).
Result<std::vector<PrecisionReport>> evaluate_encoders(const LoadedModel& model,
                                                       const tokenizer::Tokenizer& tokenizer,
                                                       const LabeledTexts& eval,
                                                       const std::vector<EncoderVariant>& variants,
                                                       const QuantEvalOptions& options,
                                                       std::vector<std::string>* skipped = nullptr);

// The fastest report whose top-1 agreement drop (and task accuracy drop, when measured) is at
// most max_drop, both against the FP32 row. FP32 always qualifies.
const PrecisionReport& choose_precision(const std::vector<PrecisionReport>& reports,
                                        double max_drop);

}  // namespace justnews
