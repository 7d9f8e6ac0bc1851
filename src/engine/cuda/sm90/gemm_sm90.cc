// Argument checks, and the choice between the two schedules of every sm90 GEMM: timed on the
// call's own operands the first time a shape (rows bucketed by powers of two) is seen outside a
// graph capture, as GemmRunner does for cuBLASLt's candidates.
#include "engine/cuda/sm90/gemm_sm90.h"

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "engine/cuda/row_class.h"
#include "engine/cuda/sm90/gemm_sm90_kernels.h"

namespace justnews::cuda {

namespace {

Status check_common(int64_t rows, int64_t cols, int64_t depth, const void* a, const void* b,
                    const void* out, const char* what) {
  if (!a || !b || !out)
    return invalid_argument(std::string(what) + ": input, weight and output are required");
  if (rows < 0 || rows > (1ll << 31) - 1)
    return invalid_argument(std::string(what) + ": " + std::to_string(rows) +
                            " rows is out of range");
  if (!sm90_gemm_shape_supported(cols, depth))
    return unsupported(std::string(what) + ": " + std::to_string(cols) + " output features and " +
                       std::to_string(depth) +
                       " input features; both must be positive multiples of 16");
  return ok_status();
}

// Shape class, kernel kind, device -> index of the faster schedule.
using TuneKey = std::tuple<int64_t, int64_t, int64_t, int, int>;

std::mutex g_choice_mutex;
std::map<TuneKey, int> g_choices;

// Without a measurement the ping-pong schedule runs (faster or equal on every BERT-base shape of
// the first H200 run).
constexpr int kDefaultSchedule = 1;

template <class Args>
using Runner = Status (*)(const Args&, void*, size_t, cudaStream_t);

template <class Args>
Status run_chosen(const Args& args, const std::array<Runner<Args>, 2>& schedules, int kind,
                  bool autotune, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  int device = 0;
  cudaGetDevice(&device);
  const TuneKey key{gemm_row_class(args.rows), args.cols, args.depth, kind, device};
  {
    std::lock_guard<std::mutex> lock(g_choice_mutex);
    if (auto found = g_choices.find(key); found != g_choices.end())
      return schedules[found->second](args, workspace, workspace_bytes, stream);
  }
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  cudaStreamIsCapturing(stream, &capture);
  if (!autotune || capture != cudaStreamCaptureStatusNone)
    return schedules[kDefaultSchedule](args, workspace, workspace_bytes, stream);
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  int best = -1;
  float best_ms = 0.f;
  Status last_error = ok_status();
  for (int idx = 0; idx < 2; ++idx) {
    Status ran =
        schedules[idx](args, workspace, workspace_bytes, stream);  // warm-up, and the check
    if (!ran.ok()) {
      last_error = ran;
      continue;
    }
    constexpr int kRuns = 3;
    cudaEventRecord(start, stream);
    for (int run = 0; run < kRuns && ran.ok(); ++run)
      ran = schedules[idx](args, workspace, workspace_bytes, stream);
    cudaEventRecord(stop, stream);
    float elapsed_ms = 0.f;
    if (ran.ok() && cudaEventSynchronize(stop) == cudaSuccess &&
        cudaEventElapsedTime(&elapsed_ms, start, stop) == cudaSuccess &&
        (best < 0 || elapsed_ms < best_ms)) {
      best = idx;
      best_ms = elapsed_ms;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (best < 0)
    return last_error.ok() ? internal_error("sm90 GEMM: no schedule could be timed") : last_error;
  {
    std::lock_guard<std::mutex> lock(g_choice_mutex);
    g_choices[key] = best;
  }
  // The output holds the last timed schedule's result; the chosen one writes it again, so a caller
  // always sees the chosen kernel's bits.
  return schedules[best](args, workspace, workspace_bytes, stream);
}

}  // namespace

std::vector<TunedSm90> sm90_tuned_schedules(int device) {
  std::vector<TunedSm90> entries;
  std::lock_guard<std::mutex> lock(g_choice_mutex);
  for (const auto& [key, schedule] : g_choices) {
    if (std::get<4>(key) != device) continue;
    entries.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key), schedule});
  }
  return entries;
}

void sm90_reuse_tuned_schedules(const std::vector<TunedSm90>& entries, int device) {
  std::lock_guard<std::mutex> lock(g_choice_mutex);
  for (const TunedSm90& entry : entries) {
    if (entry.schedule != 0 && entry.schedule != 1) continue;
    g_choices.emplace(TuneKey{entry.row_class, entry.cols, entry.depth, entry.kind, device}, entry.schedule);
  }
}

bool sm90_gemm_device_supported() {
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  cudaGetLastError();
  return major == 9 && minor == 0;
}

bool sm90_gemm_shape_supported(int64_t cols, int64_t depth) {
  return cols > 0 && depth > 0 && cols % 16 == 0 && depth % 16 == 0 && cols < (1ll << 31) &&
         depth < (1ll << 31);
}

Status launch_sm90_scaled_gemm(const Sm90ScaledGemmArgs& args, void* workspace,
                               size_t workspace_bytes, cudaStream_t stream, bool autotune) {
  JN_RETURN_IF_ERROR(check_common(args.rows, args.cols, args.depth, args.input_codes,
                                  args.weight_codes, args.out, "sm90 scaled GEMM"));
  if (!args.row_scales || !args.col_scales)
    return invalid_argument("sm90 scaled GEMM: row and column scales are required");
  if (args.rows == 0) return ok_status();
  if (args.codes == Sm90Codes::kFp8E4M3)
    return run_chosen<Sm90ScaledGemmArgs>(args, {sm90::run_fp8_cooperative, sm90::run_fp8_pingpong},
                                          0, autotune, workspace, workspace_bytes, stream);
  return run_chosen<Sm90ScaledGemmArgs>(args, {sm90::run_int8_cooperative, sm90::run_int8_pingpong},
                                        1, autotune, workspace, workspace_bytes, stream);
}

}  // namespace justnews::cuda
