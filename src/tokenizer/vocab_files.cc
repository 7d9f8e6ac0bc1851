// The pre-tokenizer.json layouts: BERT's vocab.txt and GPT-2/RoBERTa's vocab.json + merges.txt,
// given the pipelines transformers' BertTokenizerFast / RobertaTokenizerFast build for them.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/wordpiece.h"

namespace justnews::tokenizer {
namespace {

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found(path + ": cannot open for reading");
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return io_error(path + ": read failed");
  return contents.str();
}

std::vector<AddedToken> special_tokens(const Model& model, const std::vector<std::string>& names, bool mask_lstrip) {
  std::vector<AddedToken> tokens;
  for (const std::string& name : names) {
    int32_t id = model.token_to_id(name);
    if (id < 0) continue;
    AddedToken token;
    token.id = id;
    token.content = name;
    token.normalized = false;
    token.special = true;
    token.lstrip = mask_lstrip && name == "<mask>";
    tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace

Result<TokenizerPipeline> load_wordpiece_vocab(const std::string& vocab_txt_path, bool lowercase) {
  JN_ASSIGN_OR_RETURN(std::string contents, read_text_file(vocab_txt_path));
  std::vector<std::string> vocab;
  std::istringstream lines(contents);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(line);
  }
  JN_ASSIGN_OR_RETURN(auto model, WordPiece::create(std::move(vocab), WordPieceOptions{}));
  const std::optional<int32_t> cls = model->token_to_id("[CLS]") >= 0 ? std::optional(model->token_to_id("[CLS]")) : std::nullopt;
  const int32_t sep = model->token_to_id("[SEP]");
  if (!cls || sep < 0) return corrupt_data(vocab_txt_path + ": [CLS] and [SEP] must be in the vocabulary");
  TokenizerPipeline pipeline;
  BertNormalizerOptions normalizer_options;
  normalizer_options.lowercase = lowercase;
  pipeline.normalizer = make_bert_normalizer(normalizer_options);
  pipeline.pre_tokenizer = make_bert_pre_tokenizer();
  pipeline.post_processor = make_bert_processing(*cls, sep);
  pipeline.added_vocabulary = std::make_unique<AddedVocabulary>(
      special_tokens(*model, {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}, false), pipeline.normalizer.get());
  pipeline.model = std::move(model);
  return pipeline;
}

Result<TokenizerPipeline> load_bpe_vocab(const std::string& vocab_json_path, const std::string& merges_txt_path) {
  JN_ASSIGN_OR_RETURN(std::string vocab_text, read_text_file(vocab_json_path));
  JN_ASSIGN_OR_RETURN(std::string merges_text, read_text_file(merges_txt_path));
  auto vocab_json = nlohmann::json::parse(vocab_text, nullptr, false);
  if (vocab_json.is_discarded() || !vocab_json.is_object()) {
    return corrupt_data(vocab_json_path + ": expected a JSON object of token → id");
  }
  std::vector<std::string> vocab;
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > 0x7FFFFFF) {
      return corrupt_data(vocab_json_path + ": '" + it.key() + "' has no valid integer id");
    }
    size_t id = it.value().get<size_t>();
    if (id >= vocab.size()) vocab.resize(id + 1);
    vocab[id] = it.key();
  }
  std::vector<std::pair<std::string, std::string>> merges;
  std::istringstream lines(merges_text);
  std::string line;
  size_t line_number = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos) {
      return corrupt_data(merges_txt_path + ":" + std::to_string(line_number) + ": expected 'left right'");
    }
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  BpeOptions options;
  options.byte_level = true;
  JN_ASSIGN_OR_RETURN(auto model, Bpe::create(std::move(vocab), merges, options));
  const int32_t cls = model->token_to_id("<s>");
  const int32_t sep = model->token_to_id("</s>");
  if (cls < 0 || sep < 0) return corrupt_data(vocab_json_path + ": <s> and </s> must be in the vocabulary");
  TokenizerPipeline pipeline;
  pipeline.pre_tokenizer = make_byte_level_pre_tokenizer(false, true);
  pipeline.post_processor = make_roberta_processing(cls, sep, true, false);
  pipeline.added_vocabulary = std::make_unique<AddedVocabulary>(
      special_tokens(*model, {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}, true), nullptr);
  pipeline.model = std::move(model);
  return pipeline;
}

}  // namespace justnews::tokenizer
