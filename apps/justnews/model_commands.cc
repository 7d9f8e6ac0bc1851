// inspect / embed / classify: load a model directory, tokenise input lines, run the encoder on
// packed batches and print JSONL. They only call library APIs; no model logic lives here.
#include "model_commands.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_args.h"
#include "core/thread_pool.h"
#include "engine/cpu/cpu_encoder.h"
#include "engine/encoder.h"
#include "model/model_dir.h"
#include "text_input.h"
#include "tokenizer/tokenizer.h"

namespace justnews::cli {
namespace {

int fail(const Status& status) {
  std::fprintf(stderr, "justnews: %s\n", status.to_string().c_str());
  return 1;
}

const char* head_name(HeadKind head) {
  switch (head) {
    case HeadKind::kNone: return "none (base encoder)";
    case HeadKind::kSequenceClassification: return "sequence classification";
    case HeadKind::kTokenClassification: return "token classification";
  }
  return "?";
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::kGeluErf: return "gelu (erf)";
    case Activation::kGeluTanh: return "gelu (tanh approximation)";
    case Activation::kRelu: return "relu";
  }
  return "?";
}

const char* pooling_name(PoolingMode mode) {
  switch (mode) {
    case PoolingMode::kCls: return "cls";
    case PoolingMode::kMean: return "mean";
    case PoolingMode::kMax: return "max";
  }
  return "?";
}

const char* problem_name(ProblemType problem) {
  switch (problem) {
    case ProblemType::kSingleLabel: return "single-label (softmax)";
    case ProblemType::kMultiLabel: return "multi-label (sigmoid)";
    case ProblemType::kRegression: return "regression";
  }
  return "?";
}

// Everything embed and classify share: the model, its tokenizer, the encoder and the input loop.
struct ModelSession {
  LoadedModel model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Encoder> encoder;
  int batch_size = 32;
};

const std::set<std::string> kRunValueOptions = {"model", "batch-size", "max-length", "threads",
                                                "field", "format"};

Result<ModelSession> open_session(const CliArgs& args) {
  const std::string model_dir = args.get("model");
  if (model_dir.empty()) return invalid_argument("--model DIR is required");
  ModelSession session;
  JN_ASSIGN_OR_RETURN(session.model, load_model_dir(model_dir, args.get("format")));
  JN_ASSIGN_OR_RETURN(tokenizer::Tokenizer tokenizer, tokenizer::Tokenizer::from_model_dir(model_dir));
  session.tokenizer = std::make_unique<tokenizer::Tokenizer>(std::move(tokenizer));
  const int model_limit = static_cast<int>(
      std::min<int64_t>(session.model.max_sequence_length, session.model.config.max_sequence_length()));
  JN_ASSIGN_OR_RETURN(int max_length, args.get_int("max-length", model_limit, 2, model_limit));
  session.tokenizer->set_truncation(max_length);
  JN_ASSIGN_OR_RETURN(session.batch_size, args.get_int("batch-size", 32, 1, 4096));
  JN_ASSIGN_OR_RETURN(int threads, args.get_int("threads", 0, 0, 1024));
  session.pool = std::make_unique<ThreadPool>(static_cast<size_t>(threads));
  JN_ASSIGN_OR_RETURN(session.encoder, make_cpu_encoder(session.model, session.pool.get()));
  return session;
}

// Reads input in batches, runs `request`, and hands each record with its row to `emit`.
// Returns 0 when every line was processed, 1 when some were reported and skipped.
template <typename EmitFn>
int process_input(ModelSession& session, const CliArgs& args, const ForwardRequest& request,
                  EmitFn emit) {
  const std::string path = args.positional().empty() ? "-" : args.positional().front();
  auto input = TextInput::open(path, args.get("field", "text"));
  if (!input.ok()) return fail(input.status());
  int64_t skipped = 0;
  bool at_end = false;
  while (!at_end) {
    std::vector<TextRecord> records;
    PackedBatch batch;
    while (static_cast<int>(records.size()) < session.batch_size) {
      auto next = input->next();
      if (!next) {
        at_end = true;
        break;
      }
      if (!next->ok()) {
        std::fprintf(stderr, "justnews: skipped: %s\n", next->status().message().c_str());
        ++skipped;
        continue;
      }
      auto encoding = session.tokenizer->encode(next->value().text);
      if (!encoding.ok()) {
        std::fprintf(stderr, "justnews: skipped line %lld: %s\n",
                     static_cast<long long>(next->value().line_number),
                     encoding.status().message().c_str());
        ++skipped;
        continue;
      }
      batch.append(encoding->ids, encoding->type_ids);
      records.push_back(std::move(next->value()));
    }
    if (records.empty()) continue;
    auto result = session.encoder->forward(batch, request);
    if (!result.ok()) return fail(result.status());
    for (size_t row = 0; row < records.size(); ++row) emit(records[row], *result, row);
  }
  std::fflush(stdout);
  if (skipped) {
    std::fprintf(stderr, "justnews: %lld input line(s) skipped (see messages above)\n",
                 static_cast<long long>(skipped));
    return 1;
  }
  return 0;
}

nlohmann::json record_header(const TextRecord& record) {
  nlohmann::json out;
  out["line"] = record.line_number;
  if (!record.id.empty()) out["id"] = record.id;
  return out;
}

}  // namespace

int run_inspect_command(int argc, char** argv) {
  auto args = CliArgs::parse(argc, argv, {"format"}, {"json"});
  if (!args.ok()) return fail(args.status());
  if (args->positional().size() != 1) return fail(invalid_argument("usage: justnews inspect MODEL_DIR"));
  auto model = load_model_dir(args->positional()[0], args->get("format"));
  if (!model.ok()) return fail(model.status());
  const EncoderConfig& c = model->config;
  auto file = model->weights_path.size() > 12 &&
                      model->weights_path.substr(model->weights_path.size() - 12) == ".safetensors"
                  ? open_safetensors(model->weights_path)
                  : open_torch_bin(model->weights_path);
  std::map<std::string, int64_t> dtype_params;
  if (file.ok()) {
    for (const auto& name : (*file)->tensor_names()) {
      auto tensor = (*file)->tensor(name);
      if (tensor.ok()) dtype_params[std::string(dtype_name(tensor->dtype()))] += tensor->numel();
    }
  }
  nlohmann::json out;
  out["directory"] = model->directory;
  out["architecture"] = architecture_name(c.architecture);
  out["head"] = head_name(c.head);
  out["layers"] = c.num_layers;
  out["hidden_size"] = c.hidden_size;
  out["attention_heads"] = c.num_heads;
  out["intermediate_size"] = c.intermediate_size;
  out["vocab_size"] = c.vocab_size;
  out["max_sequence_length"] = c.max_sequence_length();
  out["activation"] = activation_name(c.activation);
  out["parameters"] = model->parameter_count;
  out["weights_file"] = model->weights_path;
  out["dtypes"] = dtype_params;
  if (c.head != HeadKind::kNone) {
    out["problem_type"] = problem_name(c.problem_type);
    out["labels"] = c.id2label;
  }
  if (c.pooling.present) {
    out["pooling"] = pooling_name(c.pooling.mode);
    out["normalize"] = c.pooling.normalize;
  }
  out["tokenizer"] = model->tokenizer_path.empty() ? "none" : model->tokenizer_path;
  std::printf("%s\n", out.dump(args->has("json") ? -1 : 2).c_str());
  return 0;
}

int run_embed_command(int argc, char** argv) {
  auto args = CliArgs::parse(argc, argv, kRunValueOptions, {});
  if (!args.ok()) return fail(args.status());
  auto session = open_session(*args);
  if (!session.ok()) return fail(session.status());
  ForwardRequest request;
  request.embeddings = true;
  const int64_t dim = session->model.config.hidden_size;
  return process_input(*session, *args, request,
                       [&](const TextRecord& record, const ForwardResult& result, size_t row) {
                         nlohmann::json out = record_header(record);
                         const float* values = result.embeddings.data_as<float>() + row * dim;
                         out["embedding"] = std::vector<float>(values, values + dim);
                         std::printf("%s\n", out.dump().c_str());
                       });
}

int run_classify_command(int argc, char** argv) {
  auto args = CliArgs::parse(argc, argv, kRunValueOptions, {});
  if (!args.ok()) return fail(args.status());
  auto session = open_session(*args);
  if (!session.ok()) return fail(session.status());
  const EncoderConfig& config = session->model.config;
  if (config.head != HeadKind::kSequenceClassification)
    return fail(invalid_argument("classify needs a sequence-classification checkpoint; " +
                                 args->get("model") + " has head '" + head_name(config.head) + "'"));
  ForwardRequest request;
  request.logits = true;
  const int64_t num_labels = config.num_labels();
  return process_input(
      *session, *args, request, [&](const TextRecord& record, const ForwardResult& result, size_t row) {
        Tensor probs = probabilities(result.logits, config.problem_type);
        const float* row_probs = probs.data_as<float>() + row * num_labels;
        nlohmann::json out = record_header(record);
        nlohmann::json scores = nlohmann::json::object();
        int64_t best = 0;
        for (int64_t label = 0; label < num_labels; ++label) {
          scores[config.id2label[label]] = row_probs[label];
          if (row_probs[label] > row_probs[best]) best = label;
        }
        if (config.problem_type == ProblemType::kMultiLabel) {
          nlohmann::json active = nlohmann::json::array();
          for (int64_t label = 0; label < num_labels; ++label)
            if (row_probs[label] >= 0.5f) active.push_back(config.id2label[label]);
          out["labels"] = active;
        } else {
          out["label"] = config.id2label[best];
          out["score"] = row_probs[best];
        }
        out["scores"] = scores;
        std::printf("%s\n", out.dump().c_str());
      });
}

}  // namespace justnews::cli
