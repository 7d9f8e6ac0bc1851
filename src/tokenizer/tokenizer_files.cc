// Tokenizer::from_file and from_model_dir: find and read the files a model directory ships.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/pipeline.h"
#include "tokenizer/tokenizer.h"

namespace justnews::tokenizer {

Result<Tokenizer> Tokenizer::from_file(const std::string& tokenizer_json_path) {
  std::ifstream file(tokenizer_json_path, std::ios::binary);
  if (!file) return not_found(tokenizer_json_path + ": cannot open tokenizer file");
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return io_error(tokenizer_json_path + ": read failed");
  return from_json(contents.str(), tokenizer_json_path);
}

Result<Tokenizer> Tokenizer::from_model_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path root(dir);
  if (!fs::is_directory(root, error)) return not_found(dir + ": not a directory");
  if (fs::exists(root / "tokenizer.json", error)) return from_file((root / "tokenizer.json").string());
  if (fs::exists(root / "vocab.txt", error)) {
    // transformers' BertTokenizer lowercases unless tokenizer_config.json says otherwise.
    bool lowercase = true;
    std::ifstream config_file(root / "tokenizer_config.json");
    if (config_file) {
      std::ostringstream contents;
      contents << config_file.rdbuf();
      auto config = nlohmann::json::parse(contents.str(), nullptr, false);
      if (config.is_object() && config.contains("do_lower_case") && config["do_lower_case"].is_boolean()) {
        lowercase = config["do_lower_case"].get<bool>();
      }
    }
    JN_ASSIGN_OR_RETURN(TokenizerPipeline pipeline, load_wordpiece_vocab((root / "vocab.txt").string(), lowercase));
    return Tokenizer(std::make_unique<TokenizerPipeline>(std::move(pipeline)));
  }
  if (fs::exists(root / "vocab.json", error) && fs::exists(root / "merges.txt", error)) {
    JN_ASSIGN_OR_RETURN(TokenizerPipeline pipeline,
                        load_bpe_vocab((root / "vocab.json").string(), (root / "merges.txt").string()));
    return Tokenizer(std::make_unique<TokenizerPipeline>(std::move(pipeline)));
  }
  return not_found(dir + ": no tokenizer.json, vocab.txt or vocab.json + merges.txt");
}

}  // namespace justnews::tokenizer
