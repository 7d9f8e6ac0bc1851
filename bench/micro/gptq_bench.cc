// GPTQ on BERT-base's widest linear input (the FFN output layer: 3072 inputs, 768 outputs).
// `rows:1` times the Hessian factorisation (the column sweep over one row is negligible);
// `rows:768` times a whole layer. The Gram matrix comes from correlated random activations, as a
// LayerNorm + GELU output would give, so the factorisation sees a realistic conditioning.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "quant/int4_quant.h"

namespace {

constexpr int64_t kInFeatures = 3072;
constexpr int64_t kCalibrationTokens = 4096;

// E[x xᵀ] over kCalibrationTokens rows x = z + 0.5 · (shared component), [kInFeatures]².
const std::vector<float>& gram_matrix() {
  static const std::vector<float> gram = [] {
    std::mt19937 generator(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> activations(static_cast<size_t>(kCalibrationTokens * kInFeatures));
    for (int64_t token_idx = 0; token_idx < kCalibrationTokens; ++token_idx) {
      const float shared = normal(generator);
      for (int64_t feature_idx = 0; feature_idx < kInFeatures; ++feature_idx)
        activations[token_idx * kInFeatures + feature_idx] = normal(generator) + 0.5f * shared;
    }
    std::vector<float> result(static_cast<size_t>(kInFeatures * kInFeatures), 0.0f);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, kInFeatures, kCalibrationTokens,
                1.0f / kCalibrationTokens, activations.data(), kInFeatures, 0.0f, result.data(),
                kInFeatures);
    for (int64_t row = 0; row < kInFeatures; ++row)
      for (int64_t col = 0; col < row; ++col)
        result[row * kInFeatures + col] = result[col * kInFeatures + row];
    return result;
  }();
  return gram;
}

void BM_GptqInt4(benchmark::State& state) {
  const int64_t rows = state.range(0);
  std::mt19937 generator(11);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> weights(static_cast<size_t>(rows * kInFeatures));
  for (float& weight : weights) weight = normal(generator);
  const std::vector<float>& gram = gram_matrix();
  for (auto _ : state) {
    auto matrix = justnews::quantize_int4_gptq(weights.data(), rows, kInFeatures, 128,
                                               justnews::Int4Format::kInt4, gram.data(),
                                               justnews::kGptqDamping, "ffn_output");
    if (!matrix.ok()) {
      state.SkipWithError(matrix.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(matrix->packed.data());
  }
}
BENCHMARK(BM_GptqInt4)->ArgName("rows")->Arg(1)->Arg(768)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
