// Attention kernel experiments, llm.c dev/cuda style: every version of the engine's packed
// variable-length attention (src/engine/cuda/attention_cuda.cu, selected by AttentionKernel) is
// validated against a double-precision CPU loop on one shape, then timed alone with CUDA events on
// the benchmark shapes (20 back-to-back launches a sample, so launch gaps are not timed), at
// head_dim 64 (BERT-base) and 32 (MiniLM), reporting ms and TFLOP/s (4 * L^2 * head_dim per head
// and sequence). Use it
// to measure attention directly instead of by differences between whole-model runs. First run on
// the H200 in session 6 (bench/results/2026-11-29-s6/call8_attention.log; call9 with v4).
//
// Build (dev machine; self-contained, cudart static):
//   nvcc -std=c++17 -O3 -arch=sm_90 --expt-relaxed-constexpr -diag-suppress=2810 -I src \
//   dev/cuda/attention_forward.cu src/engine/cuda/attention_cuda.cu src/engine/cuda/ops_cuda.cu \
//   src/engine/cuda/dependent_launch.cc src/core/status.cc -o .carry/bin/attention_forward
// Run (device):        bash bench/engine_cuda/run_on_device.sh attention   (or the binary directly)
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "engine/cuda/cuda_ops.h"

namespace {

using justnews::cuda::AttentionKernel;
using justnews::cuda::Precision;

constexpr int kHeads = 12;
int kHeadDim = 64;  // 64 (BERT-base) then 32 (MiniLM), set by main

struct Version {
  const char* name;
  AttentionKernel kernel;
};

// Double-precision reference for sequence `seq` only (the check shape keeps this cheap).
std::vector<double> reference(const std::vector<float>& qkv, const std::vector<int32_t>& offsets) {
  const int hidden = kHeads * kHeadDim;
  std::vector<double> out(static_cast<size_t>(offsets.back()) * hidden, 0.0);
  for (size_t seq = 0; seq + 1 < offsets.size(); ++seq) {
    for (int head = 0; head < kHeads; ++head) {
      for (int query = offsets[seq]; query < offsets[seq + 1]; ++query) {
        std::vector<double> scores;
        double max_score = -1e300;
        for (int key = offsets[seq]; key < offsets[seq + 1]; ++key) {
          double dot = 0;
          for (int d = 0; d < kHeadDim; ++d)
            dot += static_cast<double>(qkv[static_cast<size_t>(query) * 3 * hidden + head * kHeadDim + d]) *
                   qkv[static_cast<size_t>(key) * 3 * hidden + hidden + head * kHeadDim + d];
          scores.push_back(dot / std::sqrt(static_cast<double>(kHeadDim)));
          max_score = std::max(max_score, scores.back());
        }
        double sum = 0;
        for (double& score : scores) sum += (score = std::exp(score - max_score));
        for (int d = 0; d < kHeadDim; ++d) {
          double value = 0;
          for (size_t key = 0; key < scores.size(); ++key)
            value += scores[key] * qkv[(offsets[seq] + key) * 3 * hidden + 2 * hidden + head * kHeadDim + d];
          out[static_cast<size_t>(query) * hidden + head * kHeadDim + d] = value / sum;
        }
      }
    }
  }
  return out;
}

struct DeviceBatch {
  std::vector<int32_t> offsets;
  std::vector<float> qkv_host;  // rounded to fp16, as the device sees it
  __half* qkv = nullptr;
  __half* out = nullptr;
  int32_t* offsets_device = nullptr;
  int max_length = 0;
};

DeviceBatch make_batch(const std::vector<int>& lengths, uint32_t seed) {
  DeviceBatch batch;
  batch.offsets = {0};
  for (int length : lengths) {
    batch.offsets.push_back(batch.offsets.back() + length);
    batch.max_length = std::max(batch.max_length, length);
  }
  const size_t tokens = batch.offsets.back();
  const size_t hidden = kHeads * kHeadDim;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.5f / std::pow(static_cast<float>(kHeadDim), 0.25f));
  std::vector<__half> qkv(tokens * 3 * hidden);
  batch.qkv_host.resize(qkv.size());
  for (size_t idx = 0; idx < qkv.size(); ++idx) {
    qkv[idx] = __float2half(normal(rng));
    batch.qkv_host[idx] = __half2float(qkv[idx]);
  }
  cudaMalloc(&batch.qkv, qkv.size() * sizeof(__half));
  cudaMalloc(&batch.out, tokens * hidden * sizeof(__half));
  cudaMalloc(&batch.offsets_device, batch.offsets.size() * sizeof(int32_t));
  cudaMemcpy(batch.qkv, qkv.data(), qkv.size() * sizeof(__half), cudaMemcpyHostToDevice);
  cudaMemcpy(batch.offsets_device, batch.offsets.data(), batch.offsets.size() * sizeof(int32_t),
             cudaMemcpyHostToDevice);
  return batch;
}

void free_batch(DeviceBatch& batch) {
  cudaFree(batch.qkv);
  cudaFree(batch.out);
  cudaFree(batch.offsets_device);
}

bool run(const DeviceBatch& batch, AttentionKernel kernel) {
  const auto status = justnews::cuda::launch_attention(
      Precision::kFp16, batch.qkv, batch.offsets_device, static_cast<int64_t>(batch.offsets.size() - 1),
      batch.max_length, kHeads, kHeadDim, batch.out, nullptr, kernel);
  if (!status.ok()) std::fprintf(stderr, "%s\n", status.to_string().c_str());
  return status.ok();
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  const std::vector<Version> versions{{"scalar", AttentionKernel::kScalar},
                                      {"v2 wmma", AttentionKernel::kTensorCore},
                                      {"v3 mma.sync", AttentionKernel::kMma},
                                      {"v4 8 warps", AttentionKernel::kMmaWide},
                                      {"auto", AttentionKernel::kAuto}};
  constexpr int kLaunchesPerSample = 20;  // one event pair around 20 launches: no launch gaps timed
  for (const int head_dim : {64, 32}) {
  kHeadDim = head_dim;
  std::printf("## head_dim %d, %d heads\n", kHeadDim, kHeads);
  // Validate on a shape that crosses every tile boundary.
  DeviceBatch check = make_batch({1, 31, 33, 63, 64, 65, 200, 512}, 1);
  const std::vector<double> expected = reference(check.qkv_host, check.offsets);
  for (const Version& version : versions) {
    cudaMemset(check.out, 0xFF, expected.size() * sizeof(__half));
    if (!run(check, version.kernel)) return 1;
    std::vector<__half> actual(expected.size());
    cudaMemcpy(actual.data(), check.out, actual.size() * sizeof(__half), cudaMemcpyDeviceToHost);
    double worst = 0;
    for (size_t idx = 0; idx < actual.size(); ++idx) {
      const double diff = std::abs(__half2float(actual[idx]) - expected[idx]);
      worst = std::isnan(diff) ? INFINITY : std::max(worst, diff);
    }
    std::printf("check %-12s max abs diff %.2e %s\n", version.name, worst, worst < 2e-2 ? "ok" : "FAILED");
    if (!(worst < 2e-2)) return 1;
  }
  free_batch(check);

  const std::vector<std::pair<const char*, std::vector<int>>> shapes{
      {"1x128", std::vector<int>(1, 128)},   {"32x128", std::vector<int>(32, 128)},
      {"128x128", std::vector<int>(128, 128)}, {"32x256", std::vector<int>(32, 256)},
      {"32x512", std::vector<int>(32, 512)}};
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::printf("%-8s %-12s %9s %9s\n", "shape", "kernel", "ms", "TFLOP/s");
  for (const auto& [label, lengths] : shapes) {
    DeviceBatch batch = make_batch(lengths, 2);
    double flops = 0;
    for (int length : lengths) flops += 4.0 * length * length * kHeadDim * kHeads;
    for (const Version& version : versions) {
      for (int warmup = 0; warmup < 3; ++warmup) run(batch, version.kernel);
      std::vector<float> times_ms;
      for (int iteration = 0; iteration < iterations; ++iteration) {
        cudaEventRecord(start);
        for (int launch = 0; launch < kLaunchesPerSample; ++launch) run(batch, version.kernel);
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        times_ms.push_back(ms / kLaunchesPerSample);
      }
      std::sort(times_ms.begin(), times_ms.end());
      const double p50 = times_ms[times_ms.size() / 2];
      std::printf("%-8s %-12s %9.4f %9.1f\n", label, version.name, p50, flops / (p50 * 1e9));
    }
    free_batch(batch);
  }
  }
  return 0;
}
