// Tokenizer throughput on Reuters-21578 bodies: single thread (encode in a loop) and the batch
// API on a ThreadPool, for the MiniLM WordPiece and the byte-level BPE fixtures. Counters report
// tokens/s and texts/s; bench/peers/tokenizer_peer.py runs HF `tokenizers` on the same texts and
// prints the ratio. Run from the repository root.
#include <benchmark/benchmark.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace {

using justnews::ThreadPool;
using justnews::tokenizer::Tokenizer;

const std::vector<std::string>& reuters_bodies() {
  static const std::vector<std::string> bodies = [] {
    std::vector<std::string> texts;
    std::ifstream file("../shared/data/news/reuters21578.jsonl");
    std::string line;
    while (std::getline(file, line)) {
      auto article = nlohmann::json::parse(line, nullptr, false);
      if (article.is_object() && article.contains("body") && article["body"].is_string()) {
        texts.push_back(article["body"].get<std::string>());
      }
    }
    return texts;
  }();
  return bodies;
}

const Tokenizer& tokenizer_for(int64_t which) {
  static const std::vector<Tokenizer> tokenizers = [] {
    std::vector<Tokenizer> loaded;
    for (const char* path : {"tests/fixtures/tokenizers/minilm_wordpiece/tokenizer.json",
                             "tests/fixtures/tokenizers/roberta_bpe/tokenizer.json"}) {
      auto tokenizer = Tokenizer::from_file(path);
      if (!tokenizer.ok()) {
        std::fprintf(stderr, "%s\n", tokenizer.status().to_string().c_str());
        std::exit(1);
      }
      tokenizer->set_truncation(0);  // the peer script disables truncation too
      loaded.push_back(std::move(tokenizer).value());
    }
    return loaded;
  }();
  return tokenizers[which];
}

void report(benchmark::State& state, size_t tokens) {
  const auto& texts = reuters_bodies();
  state.counters["tokens_per_s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["texts_per_s"] =
      benchmark::Counter(static_cast<double>(texts.size() * state.iterations()), benchmark::Counter::kIsRate);
}

// range(0): 0 = MiniLM WordPiece, 1 = byte-level BPE.
void BM_EncodeSingleThread(benchmark::State& state) {
  const Tokenizer& tokenizer = tokenizer_for(state.range(0));
  const auto& texts = reuters_bodies();
  if (texts.empty()) {
    state.SkipWithError("no texts: run from the repository root with ../shared/data/news present");
    return;
  }
  size_t tokens = 0;
  for (auto _ : state) {
    for (const std::string& text : texts) {
      auto encoding = tokenizer.encode(text);
      tokens += encoding.ok() ? encoding->size() : 0;
      benchmark::DoNotOptimize(encoding);
    }
  }
  report(state, tokens);
}

// range(1): threads in the pool (0 = all hardware threads).
void BM_EncodeBatch(benchmark::State& state) {
  const Tokenizer& tokenizer = tokenizer_for(state.range(0));
  const auto& texts = reuters_bodies();
  if (texts.empty()) {
    state.SkipWithError("no texts: run from the repository root with ../shared/data/news present");
    return;
  }
  ThreadPool pool(static_cast<size_t>(state.range(1)));
  size_t tokens = 0;
  for (auto _ : state) {
    auto results = tokenizer.encode_batch(texts, pool);
    for (const auto& result : results) tokens += result.ok() ? result->size() : 0;
    benchmark::DoNotOptimize(results);
  }
  report(state, tokens);
  state.counters["threads"] = static_cast<double>(pool.num_threads());
}

BENCHMARK(BM_EncodeSingleThread)->ArgNames({"model"})->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
// Thread counts 1..8 show how the batch API scales; 0 is every hardware thread.
BENCHMARK(BM_EncodeBatch)->ArgNames({"model", "threads"})->ArgsProduct({{0, 1}, {1, 2, 4, 8, 0}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
