// tokenizer.json → TokenizerPipeline: maps each Hugging Face component description to ours and
// refuses, naming the field, anything we do not implement identically.
#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "tokenizer/wordpiece.h"

namespace justnews::tokenizer {
namespace {

using Json = nlohmann::json;

bool bool_field(const Json& object, const char* key, bool fallback) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::optional<std::string> string_field(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string type_of(const Json& object) { return string_field(object, "type").value_or(""); }

Result<SplitBehavior> parse_behavior(const Json& object, const std::string& where) {
  std::string name = string_field(object, "behavior").value_or("Isolated");
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return corrupt_data(where + ".behavior: expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
                      "Contiguous, found '" + name + "'");
}

// A Split / Replace pattern: a {"String": ...} literal or a {"Regex": ...} compiled once here.
struct Pattern {
  std::string literal;
  std::shared_ptr<const Regex> regex;  // set for Regex patterns
};

Result<Pattern> parse_pattern(const Json& object, const std::string& where) {
  auto it = object.find("pattern");
  if (it == object.end() || !it->is_object()) return corrupt_data(where + ".pattern: expected an object");
  if (auto literal = string_field(*it, "String")) return Pattern{*literal, nullptr};
  if (auto regex = string_field(*it, "Regex")) {
    JN_ASSIGN_OR_RETURN(auto compiled, Regex::compile(*regex, where + ".pattern.Regex"));
    return Pattern{"", std::move(compiled)};
  }
  return corrupt_data(where + ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
}

Result<std::unique_ptr<Normalizer>> parse_normalizer(const Json& object, const std::string& where) {
  if (!object.is_object()) return corrupt_data(where + ": expected an object");
  const std::string type = type_of(object);
  if (type == "BertNormalizer") {
    BertNormalizerOptions options;
    options.clean_text = bool_field(object, "clean_text", true);
    options.handle_chinese_chars = bool_field(object, "handle_chinese_chars", true);
    options.lowercase = bool_field(object, "lowercase", true);
    auto strip = object.find("strip_accents");
    if (strip != object.end() && strip->is_boolean()) options.strip_accents = strip->get<bool>();
    return make_bert_normalizer(options);
  }
  if (type == "NFC") return make_unicode_normalizer(UnicodeForm::kNfc);
  if (type == "NFD") return make_unicode_normalizer(UnicodeForm::kNfd);
  if (type == "NFKC") return make_unicode_normalizer(UnicodeForm::kNfkc);
  if (type == "NFKD") return make_unicode_normalizer(UnicodeForm::kNfkd);
  if (type == "Lowercase") return make_lowercase_normalizer();
  if (type == "StripAccents") return make_strip_accents_normalizer();
  if (type == "Strip") {
    return make_strip_normalizer(bool_field(object, "strip_left", true), bool_field(object, "strip_right", true));
  }
  if (type == "Replace") {
    JN_ASSIGN_OR_RETURN(Pattern pattern, parse_pattern(object, where));
    auto content = string_field(object, "content");
    if (!content) return corrupt_data(where + ".content: expected a string");
    if (pattern.regex) return make_regex_replace_normalizer(std::move(pattern.regex), *content);
    return make_replace_normalizer(std::move(pattern.literal), *content);
  }
  if (type == "Sequence") {
    auto list = object.find("normalizers");
    if (list == object.end() || !list->is_array()) return corrupt_data(where + ".normalizers: expected an array");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      JN_ASSIGN_OR_RETURN(auto step, parse_normalizer((*list)[i], where + ".normalizers[" + std::to_string(i) + "]"));
      steps.push_back(std::move(step));
    }
    return make_sequence_normalizer(std::move(steps));
  }
  return unsupported(where + ".type: normalizer '" + type + "' is not supported");
}

Result<std::unique_ptr<PreTokenizer>> parse_pre_tokenizer(const Json& object, const std::string& where) {
  if (!object.is_object()) return corrupt_data(where + ": expected an object");
  const std::string type = type_of(object);
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "Whitespace") return make_whitespace_pre_tokenizer();
  if (type == "WhitespaceSplit") return make_whitespace_split_pre_tokenizer();
  if (type == "ByteLevel") {
    return make_byte_level_pre_tokenizer(bool_field(object, "add_prefix_space", true),
                                         bool_field(object, "use_regex", true));
  }
  if (type == "Split") {
    JN_ASSIGN_OR_RETURN(Pattern pattern, parse_pattern(object, where));
    JN_ASSIGN_OR_RETURN(SplitBehavior behavior, parse_behavior(object, where));
    const bool invert = bool_field(object, "invert", false);
    if (pattern.regex) return make_regex_split_pre_tokenizer(std::move(pattern.regex), behavior, invert);
    return make_split_pre_tokenizer(std::move(pattern.literal), behavior, invert);
  }
  if (type == "Punctuation") {
    JN_ASSIGN_OR_RETURN(SplitBehavior behavior, parse_behavior(object, where));
    return make_punctuation_pre_tokenizer(behavior);
  }
  if (type == "Digits") return make_digits_pre_tokenizer(bool_field(object, "individual_digits", false));
  if (type == "Sequence") {
    auto list = object.find("pretokenizers");
    if (list == object.end() || !list->is_array()) return corrupt_data(where + ".pretokenizers: expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      JN_ASSIGN_OR_RETURN(auto step,
                          parse_pre_tokenizer((*list)[i], where + ".pretokenizers[" + std::to_string(i) + "]"));
      steps.push_back(std::move(step));
    }
    return make_sequence_pre_tokenizer(std::move(steps));
  }
  return unsupported(where + ".type: pre-tokenizer '" + type + "' is not supported");
}

// A [token, id] pair as BertProcessing / RobertaProcessing store cls and sep.
Result<int32_t> parse_token_pair(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
    return corrupt_data(where + "." + key + ": expected [token, id]");
  }
  return (*it)[1].get<int32_t>();
}

Result<std::vector<TemplatePiece>> parse_template(const Json& object, const Json& special_tokens,
                                                  const std::string& where) {
  if (!object.is_array()) return corrupt_data(where + ": expected an array");
  std::vector<TemplatePiece> pieces;
  for (size_t i = 0; i < object.size(); ++i) {
    const Json& entry = object[i];
    const std::string item = where + "[" + std::to_string(i) + "]";
    TemplatePiece piece;
    if (auto it = entry.find("Sequence"); it != entry.end()) {
      piece.is_sequence = true;
      piece.sequence_b = string_field(*it, "id").value_or("A") == "B";
      piece.type_id = it->value("type_id", 0);
    } else if (auto special = entry.find("SpecialToken"); special != entry.end()) {
      auto name = string_field(*special, "id");
      if (!name) return corrupt_data(item + ".SpecialToken.id: expected a string");
      auto definition = special_tokens.find(*name);
      if (definition == special_tokens.end() || !definition->contains("ids")) {
        return corrupt_data(item + ": special token '" + *name + "' is missing from special_tokens");
      }
      piece.special_ids = (*definition)["ids"].get<std::vector<int32_t>>();
      piece.type_id = special->value("type_id", 0);
    } else {
      return corrupt_data(item + ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

Result<std::unique_ptr<PostProcessor>> parse_post_processor(const Json& object, const std::string& where) {
  if (!object.is_object()) return corrupt_data(where + ": expected an object");
  const std::string type = type_of(object);
  if (type == "BertProcessing") {
    JN_ASSIGN_OR_RETURN(int32_t cls, parse_token_pair(object, "cls", where));
    JN_ASSIGN_OR_RETURN(int32_t sep, parse_token_pair(object, "sep", where));
    return make_bert_processing(cls, sep);
  }
  if (type == "RobertaProcessing") {
    JN_ASSIGN_OR_RETURN(int32_t cls, parse_token_pair(object, "cls", where));
    JN_ASSIGN_OR_RETURN(int32_t sep, parse_token_pair(object, "sep", where));
    return make_roberta_processing(cls, sep, bool_field(object, "trim_offsets", true),
                                   bool_field(object, "add_prefix_space", true));
  }
  if (type == "ByteLevel") {
    return make_byte_level_processing(bool_field(object, "trim_offsets", true),
                                      bool_field(object, "add_prefix_space", true));
  }
  if (type == "TemplateProcessing") {
    static const Json kEmpty = Json::object();
    auto special = object.find("special_tokens");
    const Json& special_tokens = special != object.end() ? *special : kEmpty;
    JN_ASSIGN_OR_RETURN(auto single, parse_template(object.value("single", Json::array()), special_tokens,
                                                    where + ".single"));
    JN_ASSIGN_OR_RETURN(auto pair, parse_template(object.value("pair", Json::array()), special_tokens,
                                                  where + ".pair"));
    return make_template_processing(std::move(single), std::move(pair));
  }
  return unsupported(where + ".type: post-processor '" + type + "' is not supported");
}

// The vocab object {token: id} as a dense id → token table.
Result<std::vector<std::string>> parse_vocab(const Json& vocab, const std::string& where) {
  if (!vocab.is_object()) return corrupt_data(where + ": expected an object of token → id");
  std::vector<std::string> tokens;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) return corrupt_data(where + "['" + it.key() + "']: expected an integer id");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > 0x7FFFFFF) {
      return corrupt_data(where + "['" + it.key() + "']: id " + std::to_string(id) + " is out of range");
    }
    if (static_cast<size_t>(id) >= tokens.size()) tokens.resize(id + 1);
    tokens[id] = it.key();
  }
  return tokens;
}

Result<std::unique_ptr<Model>> parse_model(const Json& object, bool byte_level, const std::string& where) {
  if (!object.is_object()) return corrupt_data(where + ": expected an object");
  std::string type = type_of(object);
  if (type.empty()) type = object.contains("merges") ? "BPE" : object.contains("max_input_chars_per_word") ? "WordPiece" : "";
  auto vocab_it = object.find("vocab");
  if (vocab_it == object.end()) return corrupt_data(where + ".vocab: missing");
  JN_ASSIGN_OR_RETURN(std::vector<std::string> vocab, parse_vocab(*vocab_it, where + ".vocab"));
  if (type == "WordPiece") {
    if (byte_level) return unsupported(where + ": WordPiece with a ByteLevel pre-tokenizer is not supported");
    WordPieceOptions options;
    options.unk_token = string_field(object, "unk_token").value_or("[UNK]");
    options.continuing_subword_prefix = string_field(object, "continuing_subword_prefix").value_or("##");
    options.max_input_chars_per_word = object.value("max_input_chars_per_word", size_t{100});
    auto model = WordPiece::create(std::move(vocab), options);
    if (!model.ok()) return model.status().with_context(where);
    return std::unique_ptr<Model>(std::move(model).value());
  }
  if (type == "BPE") {
    if (bool_field(object, "byte_fallback", false)) return unsupported(where + ".byte_fallback: true is not supported");
    if (auto dropout = object.find("dropout"); dropout != object.end() && !dropout->is_null()) {
      return unsupported(where + ".dropout: BPE dropout is random and not supported");
    }
    BpeOptions options;
    options.unk_token = string_field(object, "unk_token");
    options.continuing_subword_prefix = string_field(object, "continuing_subword_prefix").value_or("");
    options.end_of_word_suffix = string_field(object, "end_of_word_suffix").value_or("");
    options.fuse_unk = bool_field(object, "fuse_unk", false);
    options.byte_level = byte_level;
    auto merges_it = object.find("merges");
    if (merges_it == object.end() || !merges_it->is_array()) return corrupt_data(where + ".merges: expected an array");
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(merges_it->size());
    for (size_t i = 0; i < merges_it->size(); ++i) {
      const Json& merge = (*merges_it)[i];
      if (merge.is_string()) {
        // Older layout: "left right".
        const std::string& text = merge.get_ref<const std::string&>();
        size_t space = text.find(' ', 1);
        if (space == std::string::npos) {
          return corrupt_data(where + ".merges[" + std::to_string(i) + "]: expected 'left right', found '" + text + "'");
        }
        merges.emplace_back(text.substr(0, space), text.substr(space + 1));
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      } else {
        return corrupt_data(where + ".merges[" + std::to_string(i) + "]: expected \"left right\" or [left, right]");
      }
    }
    auto model = Bpe::create(std::move(vocab), merges, options);
    if (!model.ok()) return model.status().with_context(where);
    return std::unique_ptr<Model>(std::move(model).value());
  }
  return unsupported(where + ".type: model '" + type + "' is not supported (WordPiece and BPE are)");
}

Result<TokenizerPipeline> parse_root(const Json& root, const std::string& source) {
  if (!root.is_object()) return corrupt_data(source + ": expected a JSON object at the top level");
  TokenizerPipeline pipeline;
  if (auto it = root.find("normalizer"); it != root.end() && !it->is_null()) {
    JN_ASSIGN_OR_RETURN(pipeline.normalizer, parse_normalizer(*it, source + ": normalizer"));
  }
  if (auto it = root.find("pre_tokenizer"); it != root.end() && !it->is_null()) {
    JN_ASSIGN_OR_RETURN(pipeline.pre_tokenizer, parse_pre_tokenizer(*it, source + ": pre_tokenizer"));
  }
  auto model_it = root.find("model");
  if (model_it == root.end()) return corrupt_data(source + ": model: missing");
  const bool byte_level = pipeline.pre_tokenizer && pipeline.pre_tokenizer->is_byte_level();
  JN_ASSIGN_OR_RETURN(pipeline.model, parse_model(*model_it, byte_level, source + ": model"));
  if (auto it = root.find("post_processor"); it != root.end() && !it->is_null()) {
    JN_ASSIGN_OR_RETURN(pipeline.post_processor, parse_post_processor(*it, source + ": post_processor"));
  }
  std::vector<AddedToken> added;
  if (auto it = root.find("added_tokens"); it != root.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& entry = (*it)[i];
      auto content = string_field(entry, "content");
      if (!content || !entry.contains("id") || !entry["id"].is_number_integer()) {
        return corrupt_data(source + ": added_tokens[" + std::to_string(i) + "]: expected id and content");
      }
      if (!validate_utf8(*content).ok()) {
        return corrupt_data(source + ": added_tokens[" + std::to_string(i) + "].content: invalid UTF-8");
      }
      AddedToken token;
      token.id = entry["id"].get<int32_t>();
      token.content = *content;
      token.single_word = bool_field(entry, "single_word", false);
      token.lstrip = bool_field(entry, "lstrip", false);
      token.rstrip = bool_field(entry, "rstrip", false);
      token.normalized = bool_field(entry, "normalized", true);
      token.special = bool_field(entry, "special", false);
      added.push_back(std::move(token));
    }
  }
  pipeline.added_vocabulary = std::make_unique<AddedVocabulary>(std::move(added), pipeline.normalizer.get());
  if (auto it = root.find("truncation"); it != root.end() && it->is_object()) {
    TruncationOptions& truncation = pipeline.truncation;
    truncation.max_length = it->value("max_length", size_t{512});
    std::string strategy = string_field(*it, "strategy").value_or("LongestFirst");
    if (strategy == "OnlyFirst") truncation.strategy = TruncationStrategy::kOnlyFirst;
    else if (strategy == "OnlySecond") truncation.strategy = TruncationStrategy::kOnlySecond;
    else if (strategy != "LongestFirst") return corrupt_data(source + ": truncation.strategy: unknown '" + strategy + "'");
    truncation.from_left = string_field(*it, "direction").value_or("Right") == "Left";
  }
  return pipeline;
}

}  // namespace

Result<TokenizerPipeline> parse_tokenizer_json(std::string_view json_text, const std::string& source) {
  Json root = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return corrupt_data(source + ": not valid JSON");
  try {
    return parse_root(root, source);
  } catch (const Json::exception& error) {
    // A field of an unexpected JSON type somewhere we read with get<>().
    return corrupt_data(source + ": unexpected JSON layout: " + error.what());
  }
}

}  // namespace justnews::tokenizer
