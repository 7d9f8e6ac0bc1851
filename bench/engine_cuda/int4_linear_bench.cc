// Small-batch linear layers on BERT-base shapes: the INT4 / NF4 small-batch kernel vs the cuBLASLt
// fp16 GEMM (GemmRunner) vs dequantise + fp16 GEMM. Device time per call from CUDA events around a
// CUDA graph of calls; the calls rotate over weight copies that together exceed the 50 MB L2, so
// every call reads its weights from HBM as a layer of a real forward pass would. Counters: weight_GBps (the
// weight bytes one call must read, per second of device time) and weight_MB.
// Arguments: {shape index (768x768, 3072x768, 768x3072), m}.
#include <benchmark/benchmark.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gemm_cublaslt.h"
#include "engine/cuda/int4_linear_cuda.h"
#include "quant/int4_quant.h"

namespace justnews::cuda {
namespace {

struct LinearShape {
  int64_t rows, columns;  // out_features, in_features
};
constexpr LinearShape kShapes[] = {{768, 768}, {3072, 768}, {768, 3072}};
constexpr int64_t kRotationBytes = int64_t{256} << 20;  // well over the H200's 50 MB L2
constexpr int64_t kMaxCopies = 512;
constexpr int64_t kGroupSize = 128;
constexpr int kGraphLaunches = 30;
constexpr size_t kGemmWorkspaceBytes = size_t{32} << 20;

bool gpu_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

int64_t copies_for(int64_t bytes) {
  return std::clamp<int64_t>((kRotationBytes + bytes - 1) / bytes, 1, kMaxCopies);
}

std::vector<float> random_values(size_t count, uint32_t seed, float stddev) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, stddev);
  std::vector<float> values(count);
  for (float& value : values) value = normal(rng);
  return values;
}

Result<DeviceBuffer> upload_half(const std::vector<float>& values, const std::string& what) {
  std::vector<__half> halves(values.size());
  for (size_t idx = 0; idx < values.size(); ++idx) halves[idx] = __float2half(values[idx]);
  JN_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::allocate(halves.size() * 2, what));
  if (cudaMemcpy(buffer.data(), halves.data(), halves.size() * 2, cudaMemcpyHostToDevice) != cudaSuccess)
    return internal_error("upload of " + what + " failed");
  return buffer;
}

// Captures one call per weight copy into a CUDA graph (as the engine runs its layers: no host
// launch cost between kernels, which would otherwise dominate kernels of a few microseconds), then
// times graph launches with CUDA events; reports the per-call device time and weight bandwidth.
template <typename Call>
void time_calls(benchmark::State& state, int64_t copies, int64_t weight_bytes, Call call) {
  cudaStream_t stream = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t graph_exec = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  const auto fail = [&](const std::string& message) { state.SkipWithError(message.c_str()); };
  const auto cleanup = [&] {
    if (graph_exec) cudaGraphExecDestroy(graph_exec);
    if (graph) cudaGraphDestroy(graph);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
  };
  if (cudaStreamCreate(&stream) != cudaSuccess || cudaEventCreate(&start) != cudaSuccess ||
      cudaEventCreate(&stop) != cudaSuccess) {
    fail("stream / event creation failed");
    return cleanup();
  }
  // One eager call first: cuBLASLt picks its algorithm outside the capture.
  if (const Status status = call(0, stream); !status.ok()) {
    fail(status.to_string());
    return cleanup();
  }
  cudaStreamSynchronize(stream);
  cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  Status captured = ok_status();
  for (int64_t copy_idx = 0; copy_idx < copies && captured.ok(); ++copy_idx)
    captured = call(copy_idx, stream);
  const cudaError_t end_error = cudaStreamEndCapture(stream, &graph);
  if (!captured.ok() || end_error != cudaSuccess ||
      cudaGraphInstantiate(&graph_exec, graph, 0) != cudaSuccess) {
    fail(captured.ok() ? std::string("graph capture failed: ") + cudaGetErrorString(end_error)
                       : captured.to_string());
    return cleanup();
  }
  cudaGraphLaunch(graph_exec, stream);  // warm-up
  if (cudaStreamSynchronize(stream) != cudaSuccess) {
    fail(std::string("graph run failed: ") + cudaGetErrorString(cudaGetLastError()));
    return cleanup();
  }
  double total_seconds = 0.0;
  int64_t total_calls = 0;
  for (auto _ : state) {
    cudaEventRecord(start, stream);
    cudaGraphLaunch(graph_exec, stream);
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float elapsed_ms = 0.f;
    cudaEventElapsedTime(&elapsed_ms, start, stop);
    state.SetIterationTime(elapsed_ms * 1e-3 / static_cast<double>(copies));
    total_seconds += elapsed_ms * 1e-3;
    total_calls += copies;
  }
  if (total_seconds > 0) {
    state.counters["weight_GBps"] = static_cast<double>(weight_bytes) * total_calls / total_seconds / 1e9;
    state.counters["weight_MB"] = static_cast<double>(weight_bytes) / 1e6;
  }
  cleanup();
}

// Copies of one quantised matrix, each in its own 256-byte aligned blob slot.
struct Int4Copies {
  DeviceBuffer storage;
  std::vector<DeviceInt4Weight> weights;
  int64_t weight_bytes = 0;  // packed codes + scale codes + block scales of one copy
};

Result<Int4Copies> make_int4_copies(const LinearShape& shape, Int4Format format) {
  const std::vector<float> values = random_values(shape.rows * shape.columns, 7, 0.05f);
  JN_ASSIGN_OR_RETURN(Int4Matrix matrix, quantize_int4(values.data(), shape.rows, shape.columns,
                                                       kGroupSize, format, "bench weight"));
  std::vector<uint8_t> blob;
  JN_ASSIGN_OR_RETURN(const Int4BlobLayout layout, append_int4_weight(matrix, "bench weight", blob));
  const int64_t stride = static_cast<int64_t>((blob.size() + kInt4BlobAlignmentBytes - 1) /
                                              kInt4BlobAlignmentBytes * kInt4BlobAlignmentBytes);
  Int4Copies copies;
  copies.weight_bytes = static_cast<int64_t>(matrix.packed.size() + matrix.scales.codes.size() +
                                             matrix.scales.block_scales.size() * sizeof(float));
  const int64_t count = copies_for(copies.weight_bytes);
  JN_ASSIGN_OR_RETURN(copies.storage, DeviceBuffer::allocate(stride * count, "int4 weight copies"));
  for (int64_t copy_idx = 0; copy_idx < count; ++copy_idx) {
    auto* base = static_cast<uint8_t*>(copies.storage.data()) + copy_idx * stride;
    if (cudaMemcpy(base, blob.data(), blob.size(), cudaMemcpyHostToDevice) != cudaSuccess)
      return internal_error("upload of the int4 weight copies failed");
    JN_ASSIGN_OR_RETURN(const DeviceInt4Weight weight, make_device_int4_weight(base, layout));
    copies.weights.push_back(weight);
  }
  return copies;
}

#define BENCH_ASSIGN_OR_SKIP(lhs, expr)                         \
  auto JN_CONCAT(bench_result_, __LINE__) = (expr);             \
  if (!JN_CONCAT(bench_result_, __LINE__).ok()) {               \
    state.SkipWithError(JN_CONCAT(bench_result_, __LINE__).status().to_string().c_str()); \
    return;                                                     \
  }                                                             \
  lhs = std::move(JN_CONCAT(bench_result_, __LINE__)).value()

void BM_Int4SmallBatch(benchmark::State& state, Int4Format format) {
  if (!gpu_available()) return state.SkipWithError("no CUDA device");
  const LinearShape shape = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  BENCH_ASSIGN_OR_SKIP(Int4Copies copies, make_int4_copies(shape, format));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer input, upload_half(random_values(m * shape.columns, 1, 1.f), "input"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer bias, upload_half(random_values(shape.rows, 2, 0.1f), "bias"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer out, DeviceBuffer::allocate(m * shape.rows * 2, "output"));
  time_calls(state, static_cast<int64_t>(copies.weights.size()), copies.weight_bytes,
             [&](int64_t copy_idx, cudaStream_t stream) {
               return launch_int4_linear(Precision::kFp16, input.data(), m, copies.weights[copy_idx],
                                         bias.data(), Int4Epilogue::kBias, out.data(), stream);
             });
}

void BM_Int4DequantizeGemm(benchmark::State& state) {
  if (!gpu_available()) return state.SkipWithError("no CUDA device");
  const LinearShape shape = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  BENCH_ASSIGN_OR_SKIP(Int4Copies copies, make_int4_copies(shape, Int4Format::kInt4));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer input, upload_half(random_values(m * shape.columns, 1, 1.f), "input"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer bias, upload_half(random_values(shape.rows, 2, 0.1f), "bias"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer out, DeviceBuffer::allocate(m * shape.rows * 2, "output"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer scratch, DeviceBuffer::allocate(shape.rows * shape.columns * 2, "scratch"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer workspace, DeviceBuffer::allocate(kGemmWorkspaceBytes, "workspace"));
  BENCH_ASSIGN_OR_SKIP(auto runner, GemmRunner::create(Precision::kFp16, workspace.data(), kGemmWorkspaceBytes));
  time_calls(state, static_cast<int64_t>(copies.weights.size()), copies.weight_bytes,
             [&](int64_t copy_idx, cudaStream_t stream) -> Status {
               JN_RETURN_IF_ERROR(launch_int4_dequantize(Precision::kFp16, copies.weights[copy_idx],
                                                         scratch.data(), stream));
               return runner->linear(input.data(), m, shape.columns, scratch.data(), bias.data(),
                                     shape.rows, GemmEpilogue::kBias, out.data(), stream);
             });
}

void BM_Fp16Gemm(benchmark::State& state) {
  if (!gpu_available()) return state.SkipWithError("no CUDA device");
  const LinearShape shape = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  const int64_t weight_bytes = shape.rows * shape.columns * 2;
  const int64_t copies = copies_for(weight_bytes);
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer weights,
                       upload_half(random_values(shape.rows * shape.columns, 7, 0.05f), "weight"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer rotation, DeviceBuffer::allocate(weight_bytes * copies, "weight copies"));
  for (int64_t copy_idx = 0; copy_idx < copies; ++copy_idx)
    cudaMemcpy(static_cast<uint8_t*>(rotation.data()) + copy_idx * weight_bytes, weights.data(),
               weight_bytes, cudaMemcpyDeviceToDevice);
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer input, upload_half(random_values(m * shape.columns, 1, 1.f), "input"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer bias, upload_half(random_values(shape.rows, 2, 0.1f), "bias"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer out, DeviceBuffer::allocate(m * shape.rows * 2, "output"));
  BENCH_ASSIGN_OR_SKIP(DeviceBuffer workspace, DeviceBuffer::allocate(kGemmWorkspaceBytes, "workspace"));
  BENCH_ASSIGN_OR_SKIP(auto runner, GemmRunner::create(Precision::kFp16, workspace.data(), kGemmWorkspaceBytes));
  time_calls(state, copies, weight_bytes, [&](int64_t copy_idx, cudaStream_t stream) {
    return runner->linear(input.data(), m, shape.columns,
                          static_cast<uint8_t*>(rotation.data()) + copy_idx * weight_bytes, bias.data(),
                          shape.rows, GemmEpilogue::kBias, out.data(), stream);
  });
}

void bert_arguments(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"shape", "m"});
  for (int shape_idx = 0; shape_idx < 3; ++shape_idx)
    for (const int m : {1, 4, 8, 16}) bench->Args({shape_idx, m});
  // The reported time is per call, one graph launch runs hundreds: fix the count of launches.
  bench->UseManualTime()->Iterations(kGraphLaunches)->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_Int4SmallBatch, int4, Int4Format::kInt4)->Apply(bert_arguments);
BENCHMARK_CAPTURE(BM_Int4SmallBatch, nf4, Int4Format::kNf4)->Apply(bert_arguments);
BENCHMARK(BM_Int4DequantizeGemm)->Apply(bert_arguments);
BENCHMARK(BM_Fp16Gemm)->Apply(bert_arguments);

}  // namespace
}  // namespace justnews::cuda

BENCHMARK_MAIN();
