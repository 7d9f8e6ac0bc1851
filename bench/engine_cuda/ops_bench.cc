// Memory-bound kernels of the CUDA encoder at BERT-base 128x128 sizes (16,384 tokens, hidden 768,
// FFN 3072), timed alone with CUDA events: microseconds and achieved GB/s (bytes each kernel must
// read and write once), beside a device-to-device copy as the bandwidth ceiling.
// Usage: ops_bench [--tokens N] [--repeats N]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/row_epilogue.h"

namespace {

using justnews::Status;
using justnews::cuda::Precision;
using justnews::cuda::RowActivation;
using justnews::cuda::RowCodes;
using justnews::cuda::RowEpilogueArgs;

void check(cudaError_t error, const char* what) {
  if (error != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(error));
    std::exit(1);
  }
}

void check(const Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.to_string().c_str());
    std::exit(1);
  }
}

// Device buffer of `bytes` filled with random fp16 bit patterns in [-2, 2) (reasonable bf16 values
// too: never NaN or infinite).
void* random_buffer(size_t bytes, std::mt19937& rng) {
  void* device = nullptr;
  check(cudaMalloc(&device, bytes), "cudaMalloc");
  std::vector<uint16_t> host(bytes / 2);
  for (uint16_t& value : host)
    value = static_cast<uint16_t>((rng() & 0x83ffu) | ((rng() % 16u) << 10));
  check(cudaMemcpy(device, host.data(), bytes, cudaMemcpyHostToDevice), "copy");
  return device;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t tokens = 16384;
  int repeats = 100;
  for (int arg = 1; arg + 1 < argc; ++arg) {
    if (std::strcmp(argv[arg], "--tokens") == 0)
      tokens = std::atoll(argv[++arg]);
    else if (std::strcmp(argv[arg], "--repeats") == 0)
      repeats = std::atoi(argv[++arg]);
  }
  constexpr int64_t kHidden = 768, kWide = 3072;
  std::mt19937 rng(7);
  void* wide_in = random_buffer(tokens * kWide * 2, rng);
  void* wide_out = random_buffer(tokens * kWide * 2, rng);
  void* narrow_in = random_buffer(tokens * kHidden * 2, rng);
  void* residual = random_buffer(tokens * kHidden * 2, rng);
  void* narrow_out = random_buffer(tokens * kHidden * 2, rng);
  void* params = random_buffer(kWide * 2, rng);  // bias / gamma / beta (fp16 bits)
  void* gamma = random_buffer(kWide * 2, rng);
  void* codes = nullptr;
  check(cudaMalloc(&codes, tokens * kWide), "cudaMalloc");
  float* code_scales = nullptr;
  check(cudaMalloc(&code_scales, tokens * 4), "cudaMalloc");
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream), "stream");

  struct Op {
    std::string name;
    double bytes;
    std::function<void()> launch;
  };
  const auto row_op = [&](Precision precision, RowEpilogueArgs args) {
    return [=]() {
      check(justnews::cuda::launch_row_epilogue(precision, args, stream), "row epilogue");
    };
  };
  std::vector<Op> ops;
  ops.push_back({"device-to-device copy, 100 MB (ceiling)", 2.0 * tokens * kWide * 2, [&]() {
                   check(cudaMemcpyAsync(wide_out, wide_in, tokens * kWide * 2,
                                         cudaMemcpyDeviceToDevice, stream),
                         "copy");
                 }});
  ops.push_back({"fp16 add + LayerNorm, 768", 3.0 * tokens * kHidden * 2, [&]() {
                   check(justnews::cuda::launch_add_layer_norm(Precision::kFp16, narrow_in,
                                                               residual, gamma, params, 1e-12f,
                                                               tokens, kHidden, narrow_out, stream),
                         "add ln");
                 }});
  ops.push_back({"fp16 bias + erf-GELU in place, 3072", 2.0 * tokens * kWide * 2, [&]() {
                   check(justnews::cuda::launch_bias_gelu_erf(Precision::kFp16, wide_out, params,
                                                              tokens, kWide, stream),
                         "gelu");
                 }});
  for (Precision precision : {Precision::kBf16, Precision::kFp16}) {
    const std::string p = precision == Precision::kBf16 ? "bf16" : "fp16";
    RowEpilogueArgs base;
    base.rows = tokens;
    base.codes_format = RowCodes::kFp8E4M3, base.codes = codes, base.code_scales = code_scales;
    {
      RowEpilogueArgs a = base;  // the attention context, quantised for the output GEMM
      a.cols = kHidden, a.input = narrow_in;
      ops.push_back({"row epilogue " + p + ": quantise only, 768", tokens * kHidden * 3.0,
                     row_op(precision, a)});
      a.residual = residual, a.gamma = gamma, a.beta = params,
      a.out = narrow_out;  // attention / FFN output
      ops.push_back({"row epilogue " + p + ": add + LN, out + codes, 768", tokens * kHidden * 7.0,
                     row_op(precision, a)});
    }
    {
      RowEpilogueArgs a = base;  // the FFN activation: GELU, codes only
      a.cols = kWide, a.input = wide_in;
      ops.push_back({"row epilogue " + p + ": quantise only, 3072", tokens * kWide * 3.0,
                     row_op(precision, a)});
      a.activation = RowActivation::kGeluErf;
      ops.push_back({"row epilogue " + p + ": GELU + codes, 3072", tokens * kWide * 3.0,
                     row_op(precision, a)});
      a.codes_format = RowCodes::kInt8;
      ops.push_back({"row epilogue " + p + ": GELU + int8 codes, 3072", tokens * kWide * 3.0,
                     row_op(precision, a)});
    }
  }
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  std::printf("tokens %lld\n%-62s %10s %10s\n", static_cast<long long>(tokens), "kernel", "us p50",
              "GB/s");
  for (const Op& op : ops) {
    for (int warm = 0; warm < 10; ++warm) op.launch();
    std::vector<float> times;
    for (int rep = 0; rep < repeats; ++rep) {
      check(cudaEventRecord(start, stream), "record");
      op.launch();
      check(cudaEventRecord(stop, stream), "record");
      check(cudaEventSynchronize(stop), "sync");
      float ms = 0.f;
      check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    const double us = times[times.size() / 2] * 1000.0;
    std::printf("%-62s %10.1f %10.0f\n", op.name.c_str(), us, op.bytes / us / 1000.0);
  }
  check(cudaGetLastError(), "last error");
  return 0;
}
