// load_model_dir: config.json + weights (+ sentence-transformers pooling) of one model directory.
#include "model/model_dir.h"

#include <algorithm>
#include <filesystem>

#include "model/byte_buffer.h"
#include "model/sentence_transformers.h"

namespace justnews {
namespace {

namespace fs = std::filesystem;

bool is_file(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

Result<std::string> choose_weights(const fs::path& directory, const std::string& prefer) {
  const std::string safetensors = (directory / "model.safetensors").string();
  const std::string bin = (directory / "pytorch_model.bin").string();
  const std::string directory_text = directory.string();
  if (prefer == "safetensors") {
    if (!is_file(safetensors)) return not_found("no weight file '" + safetensors + "'");
    return safetensors;
  }
  if (prefer == "bin") {
    if (!is_file(bin)) return not_found("no weight file '" + bin + "'");
    return bin;
  }
  if (!prefer.empty())
    return invalid_argument("weight format '" + prefer + "' is unknown; use 'safetensors' or 'bin'");
  if (is_file(safetensors)) return safetensors;
  if (is_file(bin)) return bin;
  if (is_file(directory / "model.safetensors.index.json") ||
      is_file(directory / "pytorch_model.bin.index.json"))
    return unsupported("model directory '" + directory_text + "' holds a sharded checkpoint, which is not supported");
  return not_found("model directory '" + directory_text +
                   "' has no weight file (expected model.safetensors or pytorch_model.bin)");
}

// Floating-point tensors only: integer buffers such as position_ids are not parameters.
int64_t count_parameters(const WeightFile& file) {
  int64_t count = 0;
  for (const std::string& name : file.tensor_names()) {
    auto tensor = file.tensor(name);
    if (tensor.ok() && dtype_is_float(tensor->dtype())) count += tensor->numel();
  }
  return count;
}

}  // namespace

Result<LoadedModel> load_model_dir(const std::string& directory, const std::string& prefer) {
  const fs::path root(directory);
  std::error_code error;
  if (!fs::exists(root, error)) return not_found("model directory '" + directory + "' does not exist");
  if (!fs::is_directory(root, error))
    return invalid_argument("model path '" + directory + "' is not a directory");

  LoadedModel model;
  model.directory = directory;
  const fs::path config_path = root / "config.json";
  if (!is_file(config_path)) return not_found("model directory '" + directory + "' has no config.json");
  JN_ASSIGN_OR_RETURN(std::string config_text, read_text_file(config_path.string()));
  JN_ASSIGN_OR_RETURN(model.config, parse_encoder_config(config_text, config_path.string()));
  JN_ASSIGN_OR_RETURN(model.config.pooling, load_sentence_pooling(directory));

  JN_ASSIGN_OR_RETURN(model.weights_path, choose_weights(root, prefer));
  const bool is_safetensors = fs::path(model.weights_path).extension() == ".safetensors";
  JN_ASSIGN_OR_RETURN(std::unique_ptr<WeightFile> file,
                      is_safetensors ? open_safetensors(model.weights_path)
                                     : open_torch_bin(model.weights_path));
  JN_ASSIGN_OR_RETURN(model.weights, bind_encoder_weights(*file, model.config));
  model.parameter_count = count_parameters(*file);
  JN_ASSIGN_OR_RETURN(int64_t sentence_max_length, load_sentence_max_length(directory));
  model.max_sequence_length = model.config.max_sequence_length();
  if (sentence_max_length > 0)
    model.max_sequence_length = std::min(model.max_sequence_length, sentence_max_length);
  if (is_file(root / "tokenizer.json")) model.tokenizer_path = (root / "tokenizer.json").string();
  return model;
}

}  // namespace justnews
