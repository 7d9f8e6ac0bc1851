// Report rows for the CUDA precisions (see cuda_report_variants.h).
#include "cuda_report_variants.h"

#include "engine/cpu/cpu_encoder.h"

namespace justnews::cli {

const std::vector<std::string>& all_cuda_precision_names() {
  static const std::vector<std::string> kNames = {"fp16", "bf16", "fp8", "int8", "int8-weight-only",
                                                   "int4", "nf4"};
  return kNames;
}

Result<std::vector<EncoderVariant>> cuda_report_variants(
    const LoadedModel& model, ThreadPool* pool, const std::vector<std::string>& names,
    const CudaEncoderOptions& base, const ActivationCalibration* calibration,
    const QuantEvalOptions& eval_options, std::map<std::string, CudaEncoderOptions>* row_options) {
  std::vector<EncoderVariant> variants;
  variants.push_back({"fp32 (cpu)", Precision::kFp32, false,
                      [&model, pool]() { return make_cpu_encoder(model, pool); }});
  const auto add = [&](const std::string& row, const std::string& name,
                       const CudaEncoderOptions& from) -> Status {
    CudaEncoderOptions options = from;
    JN_RETURN_IF_ERROR(apply_precision_name(name, options));
    if (row_options) (*row_options)[row] = options;
    options.max_batch_tokens = eval_options.batch_size * eval_options.max_length;
    options.max_batch_sequences = eval_options.batch_size;
    // The weight memory column: what each precision stores per weight (fp16 / bf16: 2 bytes).
    const Precision memory = name == "fp8"                ? Precision::kFp8
                             : name == "int8"             ? Precision::kInt8
                             : name == "int8-weight-only" ? Precision::kInt8WeightOnly
                             : name == "int4" ? Precision::kInt4
                             : name == "nf4"  ? Precision::kNf4
                             : name == "fp32" ? Precision::kFp32
                                              : Precision::kBf16;
    variants.push_back(
        {row, memory, false, [&model, options]() { return make_cuda_encoder(model, options); }});
    return ok_status();
  };
  const auto calibrated = [&](bool static_scales, float alpha, bool gptq,
                              bool asymmetric_ffn_codes = true) {
    CudaEncoderOptions options = base;
    options.calibration = calibration;
    options.gptq = gptq;
    options.static_activation_scales = static_scales;
    options.smoothquant_alpha = alpha;
    options.int8_asymmetric_ffn_codes = asymmetric_ffn_codes;
    return options;
  };
  const bool has_gram = calibration && !calibration->layers.empty() &&
                        !calibration->site(0, LinearSite::kQkv).gram.empty();
  // Rows with calibration: the scale choices round-to-nearest, then (with Gram statistics) the
  // 8-bit ones again and the 4-bit formats with GPTQ weights.
  const float alpha = eval_options.smoothquant_alpha;
  for (const std::string& name : names) {
    JN_RETURN_IF_ERROR(add(name, name, base));
    if (!calibration) continue;
    if (name == "fp8") {
      JN_RETURN_IF_ERROR(add("fp8-static", name, calibrated(true, 0.0f, false)));
      if (has_gram) {
        JN_RETURN_IF_ERROR(add("fp8-gptq", name, calibrated(false, 0.0f, true)));
        JN_RETURN_IF_ERROR(add("fp8-static-gptq", name, calibrated(true, 0.0f, true)));
      }
    }
    if (name == "int8") {
      JN_RETURN_IF_ERROR(add("int8-smooth", name, calibrated(false, alpha, false)));
      JN_RETURN_IF_ERROR(add("int8-static", name, calibrated(true, alpha, false)));
      // Symmetric FFN-out codes, for comparison with the default asymmetric ones.
      JN_RETURN_IF_ERROR(add("int8-static-sym", name, calibrated(true, alpha, false, false)));
      if (has_gram) {
        JN_RETURN_IF_ERROR(add("int8-smooth-gptq", name, calibrated(false, alpha, true)));
        JN_RETURN_IF_ERROR(add("int8-static-gptq", name, calibrated(true, alpha, true)));
      }
    }
    if ((name == "int4" || name == "nf4" || name == "int8-weight-only") && has_gram)
      JN_RETURN_IF_ERROR(add(name + "-gptq", name, calibrated(false, 0.0f, true)));
  }
  return variants;
}

}  // namespace justnews::cli
