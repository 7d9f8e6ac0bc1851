// `justnews tokenize` (see tokenize_command.h).
#include "tokenize_command.h"

#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace justnews {
namespace {

constexpr const char* kUsage =
    "usage: justnews tokenize (--model DIR | --tokenizer FILE) [--max-length N] [--pair] [--input FILE]\n"
    "  Reads one text per line from stdin (or --input): plain text, or JSON objects with a \"text\"\n"
    "  field (and \"text_pair\" with --pair; plain lines are split at the first tab with --pair).\n"
    "  Writes one JSON object per line: ids, tokens, offsets (character offsets), type_ids.\n"
    "  --max-length N truncates to N tokens including special tokens (0: no truncation; default:\n"
    "  the tokenizer's own setting, or 512).\n";

struct Options {
  std::string model_dir;
  std::string tokenizer_file;
  std::string input_file;
  std::optional<int> max_length;
  bool pair = false;
};

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int index = 1; index < argc; ++index) {
    std::string arg = argv[index];
    auto value = [&]() -> std::optional<std::string> {
      if (index + 1 >= argc) return std::nullopt;
      return std::string(argv[++index]);
    };
    if (arg == "--pair") {
      options.pair = true;
    } else if (arg == "--model" || arg == "--tokenizer" || arg == "--input" || arg == "--max-length") {
      auto text = value();
      if (!text) {
        std::cerr << "justnews tokenize: " << arg << " needs a value\n" << kUsage;
        return std::nullopt;
      }
      if (arg == "--model") options.model_dir = *text;
      if (arg == "--tokenizer") options.tokenizer_file = *text;
      if (arg == "--input") options.input_file = *text;
      if (arg == "--max-length") {
        try {
          options.max_length = std::stoi(*text);
        } catch (const std::exception&) {
          std::cerr << "justnews tokenize: --max-length expects an integer, found '" << *text << "'\n";
          return std::nullopt;
        }
        if (*options.max_length < 0) {
          std::cerr << "justnews tokenize: --max-length must be >= 0\n";
          return std::nullopt;
        }
      }
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return std::nullopt;
    } else {
      std::cerr << "justnews tokenize: unknown argument '" << arg << "'\n" << kUsage;
      return std::nullopt;
    }
  }
  if (options.model_dir.empty() == options.tokenizer_file.empty()) {
    std::cerr << "justnews tokenize: give exactly one of --model DIR or --tokenizer FILE\n" << kUsage;
    return std::nullopt;
  }
  return options;
}

// Splits an input line into the text (and pair text); an error message when it cannot.
std::optional<std::string> read_line(const std::string& line, bool pair, std::string& first, std::string& second) {
  if (!line.empty() && line.front() == '{') {
    auto object = nlohmann::json::parse(line, nullptr, false);
    if (object.is_discarded() || !object.is_object()) return "line starts with '{' but is not a JSON object";
    auto text = object.find("text");
    if (text == object.end() || !text->is_string()) return "JSON line has no string field \"text\"";
    first = text->get<std::string>();
    if (pair) {
      auto text_pair = object.find("text_pair");
      if (text_pair == object.end() || !text_pair->is_string()) return "--pair: JSON line has no \"text_pair\"";
      second = text_pair->get<std::string>();
    }
    return std::nullopt;
  }
  if (!pair) {
    first = line;
    return std::nullopt;
  }
  size_t tab = line.find('\t');
  if (tab == std::string::npos) return "--pair: plain line has no tab between the two texts";
  first = line.substr(0, tab);
  second = line.substr(tab + 1);
  return std::nullopt;
}

}  // namespace

int run_tokenize_command(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  if (!options) return 2;
  auto tokenizer = options->model_dir.empty() ? tokenizer::Tokenizer::from_file(options->tokenizer_file)
                                              : tokenizer::Tokenizer::from_model_dir(options->model_dir);
  if (!tokenizer.ok()) {
    std::cerr << "justnews tokenize: " << tokenizer.status().to_string() << "\n";
    return 2;
  }
  if (options->max_length) tokenizer->set_truncation(*options->max_length);
  std::ifstream file;
  if (!options->input_file.empty()) {
    file.open(options->input_file, std::ios::binary);
    if (!file) {
      std::cerr << "justnews tokenize: cannot open " << options->input_file << "\n";
      return 2;
    }
  }
  std::istream& input = options->input_file.empty() ? std::cin : file;
  int exit_code = 0;
  std::string line;
  std::string first;
  std::string second;
  size_t line_number = 0;
  while (std::getline(input, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    nlohmann::json out;
    auto problem = read_line(line, options->pair, first, second);
    auto encoding = problem ? Result<tokenizer::Encoding>(invalid_argument(*problem))
                    : options->pair ? tokenizer->encode_pair(first, second)
                                    : tokenizer->encode(first);
    if (!encoding.ok()) {
      out["line"] = line_number;
      out["error"] = encoding.status().to_string();
      exit_code = 1;
    } else {
      nlohmann::json tokens = nlohmann::json::array();
      nlohmann::json offsets = nlohmann::json::array();
      for (size_t i = 0; i < encoding->size(); ++i) {
        tokens.push_back(tokenizer->id_to_token(encoding->ids[i]));
        offsets.push_back({encoding->offsets[i].first, encoding->offsets[i].second});
      }
      out["ids"] = encoding->ids;
      out["tokens"] = std::move(tokens);
      out["offsets"] = std::move(offsets);
      out["type_ids"] = encoding->type_ids;
    }
    // Token strings come from the vocabulary file; `replace` keeps the output valid JSON even if a
    // vocabulary holds invalid UTF-8.
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return exit_code;
}

}  // namespace justnews
