// Calibration runs, precision evaluation and the automatic precision choice.
#include "quant/accuracy_report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/cpu/cpu_encoder.h"
#include "engine/cpu/linear_cpu.h"
#include "quant/weight_memory.h"
#include "tensor/vector_math.h"

namespace justnews {
namespace {

Result<std::vector<PackedBatch>> tokenize_batches(const tokenizer::Tokenizer& tokenizer,
                                                  const std::vector<std::string>& texts,
                                                  const QuantEvalOptions& options) {
  std::vector<PackedBatch> batches;
  for (size_t begin = 0; begin < texts.size(); begin += static_cast<size_t>(options.batch_size)) {
    PackedBatch batch;
    batch.seq_offsets.push_back(0);
    const size_t end = std::min(texts.size(), begin + static_cast<size_t>(options.batch_size));
    for (size_t idx = begin; idx < end; ++idx) {
      JN_ASSIGN_OR_RETURN(tokenizer::Encoding encoding, tokenizer.encode(texts[idx]));
      encoding.truncate(static_cast<size_t>(options.max_length), false);
      batch.token_ids.insert(batch.token_ids.end(), encoding.ids.begin(), encoding.ids.end());
      batch.type_ids.insert(batch.type_ids.end(), encoding.type_ids.begin(),
                            encoding.type_ids.end());
      batch.seq_offsets.push_back(static_cast<int32_t>(batch.token_ids.size()));
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

struct Outputs {
  std::vector<float> rows;  // embeddings or logits, [texts, width]
  int64_t width = 0;
  double seconds = 0.0;
  int64_t tokens = 0;
};

Result<Outputs> run_encoder(Encoder& encoder, const std::vector<PackedBatch>& batches,
                            bool use_logits) {
  ForwardRequest request;
  request.logits = use_logits;
  request.embeddings = !use_logits;
  Outputs outputs;
  // One untimed pass over every batch: the first forward of a shape pays for workspace growth and
  // first-touch page faults, and on the GPU for GEMM autotuning and the CUDA graph capture, none of
  // which the speed column should carry (a single timed pass measured mostly that).
  for (const PackedBatch& batch : batches)
    JN_RETURN_IF_ERROR(encoder.forward(batch, request).status());
  const auto start = std::chrono::steady_clock::now();
  for (const PackedBatch& batch : batches) {
    JN_ASSIGN_OR_RETURN(ForwardResult result, encoder.forward(batch, request));
    const Tensor& rows = use_logits ? result.logits : result.embeddings;
    outputs.width = rows.dim(1);
    outputs.rows.insert(outputs.rows.end(), rows.data_as<float>(),
                        rows.data_as<float>() + rows.numel());
    outputs.tokens += batch.total_tokens();
  }
  outputs.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outputs;
}

// Per text: argmax of its logits, or (embeddings) the index of the most similar other text.
std::vector<int64_t> top1(const Outputs& outputs, bool use_logits) {
  const int64_t count = static_cast<int64_t>(outputs.rows.size()) / outputs.width;
  std::vector<int64_t> picks(static_cast<size_t>(count));
  for (int64_t row = 0; row < count; ++row) {
    const float* values = outputs.rows.data() + row * outputs.width;
    if (use_logits) {
      picks[static_cast<size_t>(row)] = std::max_element(values, values + outputs.width) - values;
      continue;
    }
    double best = -2.0;
    for (int64_t other = 0; other < count; ++other) {
      if (other == row) continue;
      const double similarity =
          cosine_similarity(values, outputs.rows.data() + other * outputs.width, outputs.width);
      if (similarity > best) {
        best = similarity;
        picks[static_cast<size_t>(row)] = other;
      }
    }
  }
  return picks;
}

std::optional<double> task_accuracy(const std::vector<int64_t>& picks, const LabeledTexts& eval,
                                    const EncoderConfig& config, bool use_logits) {
  if (eval.labels.empty()) return std::nullopt;
  int64_t correct = 0;
  for (size_t idx = 0; idx < picks.size(); ++idx) {
    const std::string predicted = use_logits
                                      ? (static_cast<size_t>(picks[idx]) < config.id2label.size()
                                             ? config.id2label[static_cast<size_t>(picks[idx])]
                                             : std::to_string(picks[idx]))
                                      : eval.labels[static_cast<size_t>(picks[idx])];
    correct += predicted == eval.labels[idx];
  }
  return static_cast<double>(correct) / static_cast<double>(picks.size());
}

int64_t layer_weight_bytes(const EncoderConfig& config, Precision precision, int64_t group_size,
                           bool ffn_out_bf16 = false) {
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  const Precision ffn_out = ffn_out_bf16 ? Precision::kBf16 : precision;
  const int64_t per_layer =
      linear_weight_memory(precision, 3 * hidden, hidden, group_size).total_bytes() +
      linear_weight_memory(precision, hidden, hidden, group_size).total_bytes() +
      linear_weight_memory(precision, inter, hidden, group_size).total_bytes() +
      linear_weight_memory(ffn_out, hidden, inter, group_size).total_bytes();
  return per_layer * config.num_layers;
}

}  // namespace

Result<LabeledTexts> read_labeled_texts(const std::string& path, const std::string& field,
                                        const std::string& label_field, int64_t limit) {
  std::ifstream input(path);
  if (!input) return io_error(path + ": cannot open the JSONL file");
  LabeledTexts result;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(input, line) &&
         (limit <= 0 || static_cast<int64_t>(result.texts.size()) < limit)) {
    ++line_number;
    const auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object()) continue;
    const auto text = json.find(field);
    if (text == json.end() || !text->is_string() || text->get<std::string>().empty()) continue;
    std::string label;
    if (!label_field.empty()) {
      const auto value = json.find(label_field);
      if (value == json.end() || !(value->is_string() || value->is_number()))
        return invalid_argument(path + ":" + std::to_string(line_number) + ": label field '" +
                                label_field + "' is missing or not a string/number");
      label = value->is_string() ? value->get<std::string>() : value->dump();
      result.labels.push_back(label);
    }
    result.texts.push_back(text->get<std::string>());
  }
  if (result.texts.empty())
    return invalid_argument(
        path + ": no usable text: no line is a JSON object with a non-empty string field '" +
        field + "' (" + std::to_string(line_number) + " lines read)");
  return result;
}

Result<ActivationCalibration> calibrate_activations(const LoadedModel& model,
                                                    const tokenizer::Tokenizer& tokenizer,
                                                    const std::vector<std::string>& texts,
                                                    const QuantEvalOptions& options,
                                                    ThreadPool* pool) {
  if (texts.empty()) return invalid_argument("calibration: no texts to run");
  ActivationStatsRecorder recorder(model.config.num_layers,
                                   options.collect_gram ? GramAccumulator(accumulate_gram_cpu) : nullptr);
  CpuEncoderOptions encoder_options;
  encoder_options.observer = &recorder;
  JN_ASSIGN_OR_RETURN(auto encoder, make_cpu_encoder(model, pool, encoder_options));
  JN_ASSIGN_OR_RETURN(auto batches, tokenize_batches(tokenizer, texts, options));
  ForwardRequest request;
  request.hidden_states = true;
  for (const PackedBatch& batch : batches)
    JN_RETURN_IF_ERROR(encoder->forward(batch, request).status());
  return recorder.finish(options.percentile);
}

Result<std::vector<PrecisionReport>> evaluate_precisions(
    const LoadedModel& model, const tokenizer::Tokenizer& tokenizer, const LabeledTexts& eval,
    const std::vector<Precision>& precisions, const ActivationCalibration* calibration,
    const QuantEvalOptions& options, ThreadPool* pool) {
  std::vector<EncoderVariant> variants;
  // One row: its name and encoder options (the row's precision is theirs).
  auto add = [&](std::string name, CpuEncoderOptions encoder_options) {
    encoder_options.group_size = options.group_size;
    variants.push_back({std::move(name), encoder_options.precision,
                        encoder_options.int8_ffn_out_bf16,
                        [&model, pool, encoder_options]() {
                          return make_cpu_encoder(model, pool, encoder_options);
                        }});
  };
  const auto plain = [](Precision precision) {
    CpuEncoderOptions encoder_options;
    encoder_options.precision = precision;
    return encoder_options;
  };
  // Every code format gets a "-gptq" row beside its round-to-nearest one when the calibration
  // collected the layer inputs' Gram matrices.
  const bool has_gram = calibration && !calibration->layers.empty() &&
                        !calibration->site(0, LinearSite::kQkv).gram.empty();
  add("fp32", plain(Precision::kFp32));
  for (Precision precision : precisions) {
    if (precision == Precision::kFp32) continue;
    const std::string name = precision_name(precision);
    add(name, plain(precision));
    if (precision != Precision::kBf16 && has_gram) {
      CpuEncoderOptions gptq = plain(precision);
      gptq.calibration = calibration;
      add(name + "-gptq", gptq);
    }
    if (precision != Precision::kInt8 || !calibration) continue;
    // The calibrated INT8 rows, round-to-nearest first, then with GPTQ weights.
    for (const bool with_gptq : {false, true}) {
      if (with_gptq && !has_gram) continue;
      const std::string suffix = with_gptq ? "-gptq" : "";
      CpuEncoderOptions smooth = plain(precision);
      smooth.calibration = calibration;
      smooth.gptq = with_gptq;
      smooth.smoothquant_alpha = options.smoothquant_alpha;
      add("int8-smooth" + suffix, smooth);
      CpuEncoderOptions mixed = smooth;
      mixed.int8_ffn_out_bf16 = true;
      add("int8-mixed" + suffix, mixed);
      CpuEncoderOptions static_scales = smooth;
      static_scales.static_activation_scales = true;
      add("int8-static" + suffix, static_scales);
      if (with_gptq) continue;
      // Symmetric FFN codes, for comparison: the calibrated scales are where they matter.
      CpuEncoderOptions symmetric = static_scales;
      symmetric.int8_asymmetric_ffn_codes = false;
      add("int8-static-sym", symmetric);
    }
  }
  return evaluate_encoders(model, tokenizer, eval, variants, options);
}

Result<std::vector<PrecisionReport>> evaluate_encoders(const LoadedModel& model,
                                                       const tokenizer::Tokenizer& tokenizer,
                                                       const LabeledTexts& eval,
                                                       const std::vector<EncoderVariant>& variants,
                                                       const QuantEvalOptions& options,
                                                       std::vector<std::string>* skipped) {
  if (eval.texts.size() < 2) return invalid_argument("evaluation needs at least 2 texts");
  if (variants.empty()) return invalid_argument("evaluation needs at least one encoder");
  const bool use_logits = model.config.head == HeadKind::kSequenceClassification;
  JN_ASSIGN_OR_RETURN(auto batches, tokenize_batches(tokenizer, eval.texts, options));
  std::vector<PrecisionReport> reports;
  Outputs reference;
  std::vector<int64_t> reference_picks;
  for (const EncoderVariant& variant : variants) {
    auto encoder = variant.make();
    if (!encoder.ok()) {
      if (!skipped || reports.empty()) return encoder.status().with_context(variant.name);
      skipped->push_back(variant.name + ": " + encoder.status().to_string());
      continue;
    }
    auto run = run_encoder(**encoder, batches, use_logits);
    if (!run.ok()) return run.status().with_context(variant.name);
    const Outputs& outputs = *run;
    PrecisionReport report;
    report.name = variant.name;
    report.precision = variant.precision;
    report.tokens_per_second = static_cast<double>(outputs.tokens) / outputs.seconds;
    report.weight_bytes = layer_weight_bytes(model.config, report.precision, options.group_size,
                                             variant.ffn_out_bf16);
    report.has_logits = use_logits;
    report.weight_ratio_vs_fp16 =
        static_cast<double>(report.weight_bytes) /
        static_cast<double>(layer_weight_bytes(model.config, Precision::kBf16, 0));
    const std::vector<int64_t> picks = top1(outputs, use_logits);
    report.task_accuracy = task_accuracy(picks, eval, model.config, use_logits);
    if (reports.empty()) {
      reference = outputs;
      reference_picks = picks;
    } else {
      const int64_t count = static_cast<int64_t>(outputs.rows.size()) / outputs.width;
      double sum = 0.0;
      int64_t same = 0;
      for (int64_t row = 0; row < count; ++row) {
        const float* a = reference.rows.data() + row * outputs.width;
        const float* b = outputs.rows.data() + row * outputs.width;
        const double similarity = cosine_similarity(a, b, outputs.width);
        sum += similarity;
        report.min_cosine = std::min(report.min_cosine, similarity);
        if (use_logits)
          for (int64_t col = 0; col < outputs.width; ++col)
            report.max_abs_logit_error = std::max(report.max_abs_logit_error,
                                                  static_cast<double>(std::fabs(a[col] - b[col])));
        // Embedding models with labels: agreement of the predicted label (the nearest text's);
        // without labels: the nearest text itself must be the same.
        const size_t pick = static_cast<size_t>(picks[static_cast<size_t>(row)]);
        const size_t reference_pick =
            static_cast<size_t>(reference_picks[static_cast<size_t>(row)]);
        same += (!use_logits && !eval.labels.empty())
                    ? eval.labels[pick] == eval.labels[reference_pick]
                    : pick == reference_pick;
      }
      report.mean_cosine = sum / static_cast<double>(count);
      report.top1_agreement = static_cast<double>(same) / static_cast<double>(count);
    }
    reports.push_back(report);
  }
  return reports;
}

const PrecisionReport& choose_precision(const std::vector<PrecisionReport>& reports,
                                        double max_drop) {
  const PrecisionReport* best = &reports.front();
  for (const PrecisionReport& report : reports) {
    const bool agreement_ok = 1.0 - report.top1_agreement <= max_drop;
    const bool task_ok = !report.task_accuracy || !reports.front().task_accuracy ||
                         *reports.front().task_accuracy - *report.task_accuracy <= max_drop;
    if (agreement_ok && task_ok && report.tokens_per_second > best->tokens_per_second)
      best = &report;
  }
  return *best;
}

}  // namespace justnews
