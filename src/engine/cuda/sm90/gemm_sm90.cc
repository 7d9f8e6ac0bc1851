// Argument checks, and the choice among each sm90 GEMM's candidates (its schedules, and for the
// fp16 / bf16 GEMMs the caller's cuBLASLt path): timed on the call's own operands the first time
// a shape (rows bucketed by powers of two) is seen outside a graph capture, as GemmRunner does for
// cuBLASLt's algorithms, but replayed as a CUDA graph (see time_candidate).
#include "engine/cuda/sm90/gemm_sm90.h"

#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "core/function_ref.h"
#include "core/logging.h"
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

// Shape class, kernel kind, device -> index of the fastest candidate.
using TuneKey = std::tuple<int64_t, int64_t, int64_t, int, int>;

std::mutex g_choice_mutex;
std::map<TuneKey, int> g_choices;

// Runs candidate `index` of a kernel kind (a schedule, or the caller's unfused path).
using RunCandidate = FunctionRef<Status(int index)>;

// The time of `runs` calls of `candidate` on `stream`, in ms; negative when a call failed. Timed
// as a CUDA graph replay, which is how the encoder runs them: at small shapes, eager timing measures
// the host's launch work (CUTLASS sets its kernel up per call) and picked a fused kernel that was
// slower in the graph. The legacy default stream cannot be captured: eager timing there.
float time_candidate(FunctionRef<Status()> candidate, int runs, cudaStream_t stream,
                     cudaEvent_t start, cudaEvent_t stop) {
  const auto elapsed = [&]() -> float {
    float ms = 0.f;
    if (cudaEventSynchronize(stop) != cudaSuccess ||
        cudaEventElapsedTime(&ms, start, stop) != cudaSuccess)
      return -1.f;
    return ms;
  };
  if (stream == nullptr || stream == cudaStreamLegacy) {
    Status ran = ok_status();
    cudaEventRecord(start, stream);
    for (int run = 0; run < runs && ran.ok(); ++run) ran = candidate();
    cudaEventRecord(stop, stream);
    return ran.ok() ? elapsed() : -1.f;
  }
  cudaGraph_t graph = nullptr;
  if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) return -1.f;
  Status ran = ok_status();
  for (int run = 0; run < runs && ran.ok(); ++run) ran = candidate();
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  cudaGraphExec_t exec = nullptr;
  float ms = -1.f;
  if (ran.ok() && ended == cudaSuccess && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess &&
      cudaGraphLaunch(exec, stream) == cudaSuccess) {  // the first launch uploads the graph
    cudaEventRecord(start, stream);
    const cudaError_t launched = cudaGraphLaunch(exec, stream);
    cudaEventRecord(stop, stream);
    if (launched == cudaSuccess) ms = elapsed();
  }
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // a failed capture or launch must not linger for the next check
  return ms;
}

// Runs the chosen one of `key`'s `count` candidates; times them all first when the class is new,
// autotune is on and `stream` is not being captured (`fallback` runs until then). Once a class is
// tuned, a call is a map lookup and the launch: nothing is allocated.
Status run_chosen(const TuneKey& key, int count, RunCandidate run, int fallback, bool autotune,
                  cudaStream_t stream) {
  int chosen = -1;
  {
    std::lock_guard<std::mutex> lock(g_choice_mutex);
    if (auto found = g_choices.find(key); found != g_choices.end()) chosen = found->second;
  }
  if (chosen >= 0) return run(chosen);
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  cudaStreamIsCapturing(stream, &capture);
  if (!autotune || capture != cudaStreamCaptureStatusNone) return run(fallback);
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  int best = -1;
  float best_ms = 0.f;
  std::string timings;  // per call, for the log line
  Status last_error = ok_status();
  for (int idx = 0; idx < count; ++idx) {
    const Status ran = run(idx);  // warm-up, and the check
    if (!ran.ok()) {
      last_error = ran;
      continue;
    }
    constexpr int kRuns = 5;
    const float ms = time_candidate([&] { return run(idx); }, kRuns, stream, start, stop);
    timings += (timings.empty() ? "" : ", ") +
               (ms < 0.f ? std::string("failed") : std::to_string(ms * 1000.f / kRuns) + " us");
    if (ms >= 0.f && (best < 0 || ms < best_ms)) {
      best = idx;
      best_ms = ms;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (best < 0)
    return last_error.ok() ? internal_error("sm90 GEMM: no candidate could be timed") : last_error;
  JN_LOG_INFO("sm90 GEMM tuned: kind {}, rows <= {}, {} x {}: candidate {} of {} ({})",
              std::get<3>(key), std::get<0>(key), std::get<1>(key), std::get<2>(key), best, count,
              timings);
  {
    std::lock_guard<std::mutex> lock(g_choice_mutex);
    g_choices[key] = best;
  }
  // The output holds the last timed candidate's result; the chosen one writes it again, so a caller
  // always sees the chosen kernel's bits.
  return run(best);
}

// Each kind's candidates in timing-cache index order (gemm_tuning.h): new ones are appended, so an
// index read from an older cache keeps its meaning.
constexpr Sm90Schedule kScaledCandidates[] = {Sm90Schedule::kCooperative, Sm90Schedule::kPingpong,
                                              Sm90Schedule::kSmall};
constexpr Sm90Schedule kBiasGeluCandidates[] = {Sm90Schedule::kCooperative, Sm90Schedule::kPingpong,
                                                Sm90Schedule::kAlternative, Sm90Schedule::kSmall};
constexpr Sm90Schedule kBiasCandidates[] = {Sm90Schedule::kAlternative, Sm90Schedule::kSmall,
                                            Sm90Schedule::kPingpong};
constexpr int kBiasGeluAlternativeIndex = 2;
constexpr int kBiasAlternativeIndex = 0;
static_assert(std::size(kScaledCandidates) == 3 && std::size(kBiasGeluCandidates) == 4 &&
              std::size(kBiasCandidates) == 3,
              "sm90_candidate_count (gemm_tuning.h) must match the candidate lists");

std::string schedule_name(Sm90Schedule schedule) {
  switch (schedule) {
    case Sm90Schedule::kTuned: return "tuned";
    case Sm90Schedule::kCooperative: return "cooperative";
    case Sm90Schedule::kPingpong: return "ping-pong";
    case Sm90Schedule::kSmall: return "small";
    case Sm90Schedule::kAlternative: return "alternative";
  }
  return "unknown";
}

// The scaled GEMM variants (Sm90ScaledGemmArgs): their kernels and timing-cache kinds.
enum class ScaledVariant { kFp8, kInt8, kUint8, kFp8GeluCodes, kInt8GeluCodes, kInt8GeluUnsignedCodes };

int scaled_kind(ScaledVariant variant) {
  switch (variant) {
    case ScaledVariant::kFp8: return kSm90Fp8Scaled;
    case ScaledVariant::kInt8: return kSm90Int8Scaled;
    case ScaledVariant::kUint8: return kSm90Uint8Scaled;
    case ScaledVariant::kFp8GeluCodes: return kSm90Fp8GeluCodes;
    case ScaledVariant::kInt8GeluCodes: return kSm90Int8GeluCodes;
    case ScaledVariant::kInt8GeluUnsignedCodes: return kSm90Int8GeluUnsignedCodes;
  }
  return -1;
}

// The kernel of a schedule, or null where that schedule was not instantiated.
sm90::ScaledRunner scaled_runner(ScaledVariant variant, Sm90Schedule schedule) {
  using namespace sm90;
  // Cooperative, ping-pong, small.
  static constexpr ScaledRunner kRunners[][3] = {
      {run_fp8_cooperative, run_fp8_pingpong, run_fp8_small},
      {run_int8_cooperative, run_int8_pingpong, run_int8_small},
      {run_uint8_cooperative, run_uint8_pingpong, run_uint8_small},
      {run_fp8_gelu_codes_cooperative, run_fp8_gelu_codes_pingpong, run_fp8_gelu_codes_small},
      {run_int8_gelu_codes_cooperative, run_int8_gelu_codes_pingpong, run_int8_gelu_codes_small},
      {run_int8_gelu_ucodes_cooperative, run_int8_gelu_ucodes_pingpong,
       run_int8_gelu_ucodes_small}};
  const auto* row = kRunners[static_cast<int>(variant)];
  switch (schedule) {
    case Sm90Schedule::kCooperative: return row[0];
    case Sm90Schedule::kPingpong: return row[1];
    case Sm90Schedule::kSmall: return row[2];
    default: return nullptr;
  }
}

sm90::BiasRunner bias_runner(bool fp16, bool gelu, Sm90Schedule schedule) {
  using namespace sm90;
  switch (schedule) {
    case Sm90Schedule::kCooperative:
      return gelu ? (fp16 ? run_bias_gelu_fp16_cooperative : run_bias_gelu_bf16_cooperative) : nullptr;
    case Sm90Schedule::kPingpong:
      return gelu ? (fp16 ? run_bias_gelu_fp16_pingpong : run_bias_gelu_bf16_pingpong)
                  : (fp16 ? run_bias_fp16_pingpong : run_bias_bf16_pingpong);
    case Sm90Schedule::kSmall:
      return gelu ? (fp16 ? run_bias_gelu_fp16_small : run_bias_gelu_bf16_small)
                  : (fp16 ? run_bias_fp16_small : run_bias_bf16_small);
    default:
      return nullptr;
  }
}

TuneKey tune_key(int64_t rows, int64_t cols, int64_t depth, int kind) {
  int device = 0;
  cudaGetDevice(&device);
  return {gemm_row_class(rows), cols, depth, kind, device};
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
    if (entry.schedule < 0 || entry.schedule >= sm90_candidate_count(entry.kind)) continue;
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
  const bool fp8 = args.codes == Sm90Codes::kFp8E4M3;
  if (fp8 ? args.gelu_code_multipliers != nullptr : args.gelu_codes_scale != nullptr)
    return invalid_argument(fp8 ? "sm90 scaled GEMM: E4M3 GELU codes take gelu_codes_scale, not "
                                  "per-column multipliers"
                                : "sm90 scaled GEMM: INT8 GELU codes take gelu_code_multipliers, "
                                  "not gelu_codes_scale");
  const bool gelu_codes = (fp8 ? args.gelu_codes_scale : args.gelu_code_multipliers) != nullptr;
  if (!args.col_scales) return invalid_argument("sm90 scaled GEMM: column scales are required");
  if (gelu_codes && args.row_scales)
    return invalid_argument(
        "sm90 scaled GEMM: the GELU-codes GEMM takes no row scales (fold the input's calibrated "
        "scale into the column scales)");
  if (args.codes == Sm90Codes::kUint8 && (args.row_scales || gelu_codes))
    return invalid_argument(
        "sm90 scaled GEMM: unsigned codes come from calibrated scales only (folded into the "
        "column scales: no row scales) and write fp16");
  if (args.gelu_codes_unsigned && (!gelu_codes || args.codes != Sm90Codes::kInt8))
    return invalid_argument(
        "sm90 scaled GEMM: unsigned GELU codes need INT8 input codes and gelu_code_multipliers");
  if (args.rows == 0) return ok_status();
  ScaledVariant variant = fp8 ? ScaledVariant::kFp8 : ScaledVariant::kInt8;
  if (args.codes == Sm90Codes::kUint8) variant = ScaledVariant::kUint8;
  if (gelu_codes)
    variant = fp8                       ? ScaledVariant::kFp8GeluCodes
              : args.gelu_codes_unsigned ? ScaledVariant::kInt8GeluUnsignedCodes
                                         : ScaledVariant::kInt8GeluCodes;
  const auto run_schedule = [&](Sm90Schedule schedule) -> Status {
    const sm90::ScaledRunner runner = scaled_runner(variant, schedule);
    if (!runner)
      return invalid_argument("sm90 scaled GEMM: schedule " + schedule_name(schedule) +
                              " does not exist for this kernel");
    return runner(args, workspace, workspace_bytes, stream);
  };
  if (args.schedule != Sm90Schedule::kTuned) return run_schedule(args.schedule);
  const int kind = scaled_kind(variant);
  // Without a measurement the ping-pong schedule runs (faster or equal on every BERT-base shape of
  // the first H200 run).
  constexpr int kPingpongIndex = 1;
  return run_chosen(
      tune_key(args.rows, args.cols, args.depth, kind), sm90_candidate_count(kind),
      [&](int index) { return run_schedule(kScaledCandidates[index]); }, kPingpongIndex, autotune,
      stream);
}

Status launch_sm90_bias_gemm(const Sm90BiasGemmArgs& args, FunctionRef<Status()> alternative,
                             void* workspace, size_t workspace_bytes, cudaStream_t stream,
                             bool autotune) {
  JN_RETURN_IF_ERROR(check_common(args.rows, args.cols, args.depth, args.input, args.weight,
                                  args.out, "sm90 bias GEMM"));
  if (!args.bias) return invalid_argument("sm90 bias GEMM: the bias is required");
  if (args.rows == 0) return ok_status();
  const bool fp16 = args.element == Sm90Element::kFp16;
  const auto run_schedule = [&](Sm90Schedule schedule) -> Status {
    if (schedule == Sm90Schedule::kAlternative) {
      if (!alternative)
        return invalid_argument("sm90 bias GEMM: the alternative path was asked for but not given");
      return alternative();
    }
    const sm90::BiasRunner runner = bias_runner(fp16, args.gelu_erf, schedule);
    if (!runner)
      return invalid_argument("sm90 bias GEMM: schedule " + schedule_name(schedule) +
                              " does not exist " + (args.gelu_erf ? "with" : "without") + " GELU");
    return runner(args, workspace, workspace_bytes, stream);
  };
  if (args.schedule != Sm90Schedule::kTuned) return run_schedule(args.schedule);
  if (!alternative)
    return invalid_argument("sm90 bias GEMM: a tuned call needs the caller's alternative path");
  const int kind = args.gelu_erf ? (fp16 ? kSm90Fp16BiasGelu : kSm90Bf16BiasGelu)
                                 : (fp16 ? kSm90Fp16Bias : kSm90Bf16Bias);
  const Sm90Schedule* candidates = args.gelu_erf ? kBiasGeluCandidates : kBiasCandidates;
  // Untimed, the alternative runs: it is the one path that is never slow at any shape.
  const int fallback = args.gelu_erf ? kBiasGeluAlternativeIndex : kBiasAlternativeIndex;
  return run_chosen(
      tune_key(args.rows, args.cols, args.depth, kind), sm90_candidate_count(kind),
      [&](int index) { return run_schedule(candidates[index]); }, fallback, autotune, stream);
}

}  // namespace justnews::cuda
