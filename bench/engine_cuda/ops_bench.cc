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

// Device buffer of `bytes` filled with random 16-bit values in [-2, 2) as fp16 bit patterns (also
// reasonable bf16 / int32 / float data: no NaNs when read as any of them after the fix-up below).
void* random_buffer(size_t bytes, std::mt19937& rng, bool as_float = false) {
  void* device = nullptr;
  check(cudaMalloc(&device, bytes), "cudaMalloc");
  std::vector<float> host_float;
  std::vector<uint16_t> host_half;
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  if (as_float) {
    host_float.resize(bytes / 4);
    for (float& value : host_float) value = 0.5f + 0.5f * std::abs(dist(rng));
    check(cudaMemcpy(device, host_float.data(), bytes, cudaMemcpyHostToDevice), "copy");
  } else {
    host_half.resize(bytes / 2);
    // fp16 in [-2, 2): sign, exponent 0..15 (values up to 2), random mantissa.
    for (uint16_t& value : host_half)
      value = static_cast<uint16_t>((rng() & 0x83ffu) | ((rng() % 16u) << 10));
    check(cudaMemcpy(device, host_half.data(), bytes, cudaMemcpyHostToDevice), "copy");
  }
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
  constexpr int64_t kHidden = 768, kWide = 3072, kQkv = 2304;
  std::mt19937 rng(7);
  void* wide_in = random_buffer(tokens * kWide * 2, rng);
  void* wide_out = random_buffer(tokens * kWide * 2, rng);
  void* narrow_in = random_buffer(tokens * kHidden * 2, rng);
  void* residual = random_buffer(tokens * kHidden * 2, rng);
  void* narrow_out = random_buffer(tokens * kHidden * 2, rng);
  void* params = random_buffer(kWide * 2, rng);  // bias / gamma / beta (fp16 bits)
  void* gamma = random_buffer(kWide * 2, rng);
  auto* col_scales = static_cast<float*>(random_buffer(kWide * 4, rng, true));
  auto* row_scales = static_cast<float*>(random_buffer(tokens * 4, rng, true));
  void* accumulators = nullptr;
  check(cudaMalloc(&accumulators, tokens * kWide * 4), "cudaMalloc");
  check(cudaMemset(accumulators, 0x11, tokens * kWide * 4), "memset");
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
    {
      RowEpilogueArgs a = base;  // the attention context, quantised for the output GEMM
      a.cols = kHidden, a.input = narrow_in, a.codes_format = RowCodes::kFp8E4M3, a.codes = codes,
      a.code_scales = code_scales;
      ops.push_back({"row epilogue " + p + ": quantise only, 768", tokens * kHidden * 3.0,
                     row_op(precision, a)});
    }
    {
      RowEpilogueArgs a = base;  // QKV: scales + bias, out in the activation precision
      a.cols = kQkv, a.input = wide_in, a.row_scales = row_scales, a.col_scales = col_scales,
      a.bias = params, a.out = wide_out;
      ops.push_back({"row epilogue " + p + ": scales + bias, 2304", tokens * kQkv * 4.0,
                     row_op(precision, a)});
    }
    {
      RowEpilogueArgs a =
          base;  // attention output / FFN output: scales, bias, residual + LN, codes
      a.cols = kHidden, a.input = narrow_in, a.row_scales = row_scales, a.col_scales = col_scales,
      a.bias = params, a.residual = residual, a.gamma = gamma, a.beta = params, a.out = narrow_out,
      a.codes_format = RowCodes::kFp8E4M3, a.codes = codes, a.code_scales = code_scales;
      ops.push_back({"row epilogue " + p + ": scales, bias, add + LN, codes, 768",
                     tokens * kHidden * 7.0, row_op(precision, a)});
      a.row_scales = nullptr, a.col_scales = nullptr, a.bias = nullptr;
      ops.push_back({"row epilogue " + p + ": add + LN, codes (scaled input), 768",
                     tokens * kHidden * 7.0, row_op(precision, a)});
    }
    {
      RowEpilogueArgs a = base;  // FFN in: scales, bias, GELU, codes only
      a.cols = kWide, a.input = wide_in, a.row_scales = row_scales, a.col_scales = col_scales,
      a.bias = params, a.activation = RowActivation::kGeluErf, a.codes_format = RowCodes::kFp8E4M3,
      a.codes = codes, a.code_scales = code_scales;
      ops.push_back({"row epilogue " + p + ": scales, bias, GELU, codes, 3072",
                     tokens * kWide * 3.0, row_op(precision, a)});
      a.row_scales = nullptr, a.col_scales = nullptr, a.bias = nullptr,
      a.activation = RowActivation::kNone;
      ops.push_back({"row epilogue " + p + ": quantise only, 3072", tokens * kWide * 3.0,
                     row_op(precision, a)});
      a.input = nullptr, a.accumulators = static_cast<const int32_t*>(accumulators),
      a.row_scales = row_scales, a.col_scales = col_scales, a.bias = params,
      a.activation = RowActivation::kGeluErf, a.codes_format = RowCodes::kInt8;
      ops.push_back({"row epilogue " + p + ": int32, scales, bias, GELU, int8 codes, 3072",
                     tokens * kWide * 5.0, row_op(precision, a)});
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
