// The rows `justnews quantize --device cuda` and `justnews compile --precision auto` measure: the
// FP32 CPU encoder as the reference, then one CUDA encoder per precision name. Needs a CUDA build.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/cuda/cuda_encoder.h"
#include "model/model_dir.h"
#include "quant/accuracy_report.h"

namespace justnews::cli {

// The CUDA precisions a report covers when none are named.
const std::vector<std::string>& all_cuda_precision_names();

// Rows for `names` (fp16, bf16, fp32, fp8, int8, int8-weight-only, int4, nf4), each `base` with that precision and
// batch limits from `eval_options`. With `calibration`, the calibrated variants follow their plain
// row: fp8-static, int8-smooth, int8-static, int8-static-sym (symmetric FFN-out codes) and (with
// Gram statistics) the -gptq rows.
// `model`, `pool` and `calibration` must outlive the rows. With `row_options`, each CUDA row's
// options are kept there by row name, before the report's batch limits (what a compile of that row
// would use).
Result<std::vector<EncoderVariant>> cuda_report_variants(
    const LoadedModel& model, ThreadPool* pool, const std::vector<std::string>& names,
    const CudaEncoderOptions& base, const ActivationCalibration* calibration,
    const QuantEvalOptions& eval_options,
    std::map<std::string, CudaEncoderOptions>* row_options = nullptr);

}  // namespace justnews::cli
