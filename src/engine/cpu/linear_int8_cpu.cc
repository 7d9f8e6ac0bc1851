// INT8 W8A8 linear layers: weight packing, activation quantisation, VNNI and scalar kernels.
#include "engine/cpu/linear_int8_cpu.h"

// GCC 12's AVX-512 headers build masked/maskz intrinsics from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports inside every caller (GCC bug 105593); the values are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/cpu/amx_cpu.h"
#include "engine/cpu/linear_cpu.h"
#include "quant/gptq.h"
#include "quant/int8_quant.h"

namespace justnews {
namespace {

constexpr int64_t kTileColumns = kPackedTileColumns;  // four 16-lane int32 accumulators per row
constexpr int64_t kTileRows = 6;        // 24 accumulators + 4 weight registers + 1 broadcast
constexpr int64_t kQuadsPerBlock = 96;  // K block of 384: a 24 KB weight panel that stays in L1
constexpr int64_t kRowChunk = 192;      // rows whose activations stay in L2 while tiles sweep them
constexpr uint8_t kActivationShift = 128;
constexpr float kAsymmetricMaxCode = kInt8AsymmetricMaxCode;

// Byte offset of weight (column, k) in the packed layout (vpdpbusd multiplies quads of k).
int64_t packed_index(int64_t column, int64_t k, int64_t padded_in) {
  return packed_weight_index(column, k, padded_in, 4);
}

// The per-token scale of a row whose largest value is `absmax`: symmetric codes span +-127,
// asymmetric ones (non-negative values) 0..255.
float row_scale(float absmax, bool asymmetric) {
  return asymmetric ? absmax / kAsymmetricMaxCode : int8_scale_for_absmax(absmax);
}

// Quantises rows [row_begin, row_end) to uint8 codes (symmetric: +128 shift; asymmetric: the
// offset values themselves) and their scales.
void quantize_rows_scalar(const float* input, int64_t row_begin, int64_t row_end,
                          const Int8LinearWeights& weights, uint8_t* codes, float* scales) {
  const int64_t in = weights.in_features;
  const bool smooth = !weights.inv_smoothing.empty();
  const bool asymmetric = !weights.input_offset.empty();
  std::vector<float> row_values(static_cast<size_t>(in));
  for (int64_t row_idx = row_begin; row_idx < row_end; ++row_idx) {
    const float* row = input + row_idx * in;
    float absmax = 0.0f;
    for (int64_t k = 0; k < in; ++k) {
      float value = smooth ? row[k] * weights.inv_smoothing[static_cast<size_t>(k)] : row[k];
      if (asymmetric) value = std::max(0.0f, value + weights.input_offset[static_cast<size_t>(k)]);
      row_values[static_cast<size_t>(k)] = value;
      absmax = std::max(absmax, std::fabs(value));
    }
    float scale = weights.static_activation_scale > 0.0f ? weights.static_activation_scale
                                                         : row_scale(absmax, asymmetric);
    if (scale <= 0.0f) scale = 1.0f;  // an all-zero row: any scale gives zero codes
    const float inv_scale = 1.0f / scale;
    uint8_t* out = codes + row_idx * weights.padded_in;
    for (int64_t k = 0; k < in; ++k) {
      const float scaled = std::nearbyint(row_values[static_cast<size_t>(k)] * inv_scale);
      out[k] = asymmetric ? static_cast<uint8_t>(std::min(scaled, kAsymmetricMaxCode))
                          : static_cast<uint8_t>(static_cast<int>(std::clamp(scaled, -127.0f,
                                                                             127.0f)) +
                                                 kActivationShift);
    }
    std::fill(out + in, out + weights.padded_in, asymmetric ? 0 : kActivationShift);
    scales[row_idx] = scale;
  }
}

void gemm_rows_scalar(const uint8_t* codes, const float* scales, int64_t row_begin, int64_t row_end,
                      const Int8LinearWeights& weights, int64_t col_begin, int64_t col_end,
                      const float* bias, float* output) {
  for (int64_t row_idx = row_begin; row_idx < row_end; ++row_idx) {
    const uint8_t* row = codes + row_idx * weights.padded_in;
    for (int64_t col = col_begin; col < col_end; ++col) {
      int32_t sum = 0;
      for (int64_t k = 0; k < weights.padded_in; ++k)
        sum += static_cast<int32_t>(row[k]) *
               static_cast<int32_t>(
                   weights.packed[static_cast<size_t>(packed_index(col, k, weights.padded_in))]);
      sum -= weights.shift_correction[static_cast<size_t>(col)];
      output[row_idx * weights.out_features + col] =
          static_cast<float>(sum) * scales[row_idx] *
              weights.weight_scales[static_cast<size_t>(col)] +
          (bias ? bias[col] : 0.0f);
    }
  }
}

// Sixteen values the codes are of (from column k, `mask` for a short tail): smoothed when
// inv_smoothing is given, and offset (never below zero) when input_offset is.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 code_values_avx512(
    const float* row, int64_t k, __mmask16 mask, const float* inv_smoothing,
    const float* input_offset) {
  __m512 values = _mm512_maskz_loadu_ps(mask, row + k);
  if (inv_smoothing)
    values = _mm512_mul_ps(values, _mm512_maskz_loadu_ps(mask, inv_smoothing + k));
  if (input_offset)
    values = _mm512_max_ps(_mm512_setzero_ps(),
                           _mm512_add_ps(values, _mm512_maskz_loadu_ps(mask, input_offset + k)));
  return values;
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void quantize_rows_avx512(
    const float* input, int64_t row_begin, int64_t row_end, const Int8LinearWeights& weights,
    uint8_t* codes, float* scales) {
  const int64_t in = weights.in_features;
  const bool smooth = !weights.inv_smoothing.empty();
  const bool asymmetric = !weights.input_offset.empty();
  const float* inv_smoothing = smooth ? weights.inv_smoothing.data() : nullptr;
  const float* input_offset = asymmetric ? weights.input_offset.data() : nullptr;
  for (int64_t row_idx = row_begin; row_idx < row_end; ++row_idx) {
    const float* row = input + row_idx * in;
    __m512 absmax = _mm512_setzero_ps();
    for (int64_t k = 0; k < in; k += 16) {
      const __mmask16 mask = static_cast<__mmask16>(in - k >= 16 ? 0xFFFF : (1u << (in - k)) - 1);
      const __m512 values = code_values_avx512(row, k, mask, inv_smoothing, input_offset);
      absmax = _mm512_max_ps(absmax, _mm512_abs_ps(values));
    }
    float scale = weights.static_activation_scale > 0.0f
                      ? weights.static_activation_scale
                      : row_scale(_mm512_reduce_max_ps(absmax), asymmetric);
    if (scale <= 0.0f) scale = 1.0f;
    const __m512 inv_scale = _mm512_set1_ps(1.0f / scale);
    const __m512i low = _mm512_set1_epi32(asymmetric ? 0 : -127);
    const __m512i high = _mm512_set1_epi32(asymmetric ? 255 : 127);
    const __m512i shift = _mm512_set1_epi32(asymmetric ? 0 : kActivationShift);
    uint8_t* out = codes + row_idx * weights.padded_in;
    for (int64_t k = 0; k < in; k += 16) {
      const __mmask16 mask = static_cast<__mmask16>(in - k >= 16 ? 0xFFFF : (1u << (in - k)) - 1);
      const __m512 values = code_values_avx512(row, k, mask, inv_smoothing, input_offset);
      // nearest, ties even; the low 8 bits of 0..255 are the unsigned code
      __m512i ints = _mm512_cvtps_epi32(_mm512_mul_ps(values, inv_scale));
      ints = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(ints, low), high), shift);
      _mm_mask_storeu_epi8(out + k, mask, _mm512_cvtepi32_epi8(ints));
    }
    std::fill(out + in, out + weights.padded_in, asymmetric ? 0 : kActivationShift);
    scales[row_idx] = scale;
  }
}

// Partial sums of one tile over quads [quad_begin, quad_end): rows [row_begin, row_begin + kRows)
// × the tile's 64 columns, added to (or, for the first K block, stored into) `partial`
// ([kRows][64] int32). The K block keeps the tile's weight panel in L1 across all row groups.
template <int kRows>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void vnni_tile(
    const uint8_t* codes, int64_t padded_in, int64_t row_begin, const int8_t* panel,
    int64_t quad_begin, int64_t quad_end, bool first_block, int32_t* partial) {
  __m512i acc[kRows][4];
  for (int row = 0; row < kRows; ++row)
    for (int block = 0; block < 4; ++block)
      acc[row][block] = first_block ? _mm512_setzero_si512()
                                    : _mm512_loadu_si512(partial + row * kTileColumns + block * 16);
  const uint8_t* rows[kRows];
  for (int row = 0; row < kRows; ++row) rows[row] = codes + (row_begin + row) * padded_in;
  for (int64_t quad = quad_begin; quad < quad_end; ++quad) {
    const int8_t* step = panel + quad * 256;
    const __m512i w0 = _mm512_loadu_si512(step), w1 = _mm512_loadu_si512(step + 64);
    const __m512i w2 = _mm512_loadu_si512(step + 128), w3 = _mm512_loadu_si512(step + 192);
    for (int row = 0; row < kRows; ++row) {
      int32_t four;
      std::memcpy(&four, rows[row] + quad * 4, 4);
      const __m512i a = _mm512_set1_epi32(four);
      acc[row][0] = _mm512_dpbusd_epi32(acc[row][0], a, w0);
      acc[row][1] = _mm512_dpbusd_epi32(acc[row][1], a, w1);
      acc[row][2] = _mm512_dpbusd_epi32(acc[row][2], a, w2);
      acc[row][3] = _mm512_dpbusd_epi32(acc[row][3], a, w3);
    }
  }
  for (int row = 0; row < kRows; ++row)
    for (int block = 0; block < 4; ++block)
      _mm512_storeu_si512(partial + row * kTileColumns + block * 16, acc[row][block]);
}

// int32 sums (`partial`, rows `partial_stride` int32 apart) of rows [row_begin, row_end) and
// columns [col_begin, col_begin + width) → scaled floats with bias, valid columns only.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void finish_columns(
    const int32_t* partial, int64_t partial_stride, const float* scales, int64_t row_begin,
    int64_t row_end, int64_t col_begin, int64_t width, const Int8LinearWeights& weights,
    const float* bias, float* output) {
  for (int64_t offset = 0; offset < width; offset += 16) {
    const int64_t col = col_begin + offset;
    if (col >= weights.out_features) break;
    const int64_t valid = std::min<int64_t>(16, weights.out_features - col);
    const __mmask16 mask = static_cast<__mmask16>(valid == 16 ? 0xFFFF : (1u << valid) - 1);
    const __m512i correction = _mm512_loadu_si512(weights.shift_correction.data() + col);
    const __m512 w_scale = _mm512_loadu_ps(weights.weight_scales.data() + col);
    const __m512 bias_vec = bias ? _mm512_maskz_loadu_ps(mask, bias + col) : _mm512_setzero_ps();
    for (int64_t row = row_begin; row < row_end; ++row) {
      const __m512i sums =
          _mm512_loadu_si512(partial + (row - row_begin) * partial_stride + offset);
      const __m512 sum = _mm512_cvtepi32_ps(_mm512_sub_epi32(sums, correction));
      const __m512 scaled =
          _mm512_fmadd_ps(sum, _mm512_mul_ps(w_scale, _mm512_set1_ps(scales[row])), bias_vec);
      _mm512_mask_storeu_ps(output + row * weights.out_features + col, mask, scaled);
    }
  }
}

// Requests ownership of the output lines of rows [row_begin, row_begin + 32) x kTileColumns columns
// from col_begin before the AMX products that precede their stores: each line is written once,
// in full, and its read-for-ownership from L3 otherwise stalled finish_columns (perf: 14% of a
// MiniLM INT8 forward at 2 threads, against 34% for the products themselves).
void prefetch_output_block(float* output, int64_t row_begin, int64_t col_begin,
                           int64_t out_features) {
  constexpr int64_t kFloatsPerLine = 64 / sizeof(float);
  const int64_t col_end = std::min(out_features, col_begin + kTileColumns);
  for (int64_t row = row_begin; row < row_begin + 32; ++row)
    for (int64_t col = col_begin; col < col_end; col += kFloatsPerLine)
      _mm_prefetch(reinterpret_cast<const char*>(output + row * out_features + col), _MM_HINT_ET0);
}

// AMX: rows [row_begin, row_begin + 32) × the 32 columns of lane blocks 2·half, 2·half + 1 of
// `tile`, over all of K, into `partial` ([32][32] int32).
__attribute__((target("amx-tile,amx-int8"))) void amx_block(const uint8_t* codes, int64_t padded_in,
                                                            int64_t row_begin, const int8_t* panel,
                                                            int half, int32_t* partial) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const uint8_t* rows = codes + row_begin * padded_in;
  for (int64_t k_block = 0; k_block < padded_in / 64; ++k_block) {
    _tile_loadd(4, rows + k_block * 64, padded_in);
    _tile_loadd(5, rows + 16 * padded_in + k_block * 64, padded_in);
    _tile_loadd(6, panel + (k_block * 16 * 4 + 2 * half) * 64, 256);
    _tile_loadd(7, panel + (k_block * 16 * 4 + 2 * half + 1) * 64, 256);
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  }
  _tile_stored(0, partial, 128);
  _tile_stored(1, partial + 16, 128);
  _tile_stored(2, partial + 16 * 32, 128);
  _tile_stored(3, partial + 16 * 32 + 16, 128);
}

using VnniTileFn = void (*)(const uint8_t*, int64_t, int64_t, const int8_t*, int64_t, int64_t, bool,
                            int32_t*);
constexpr VnniTileFn kVnniTiles[kTileRows + 1] = {
    nullptr, vnni_tile<1>, vnni_tile<2>, vnni_tile<3>, vnni_tile<4>, vnni_tile<5>, vnni_tile<6>};

void gemm_rows_vnni(const uint8_t* codes, const float* scales, int64_t row_begin, int64_t row_end,
                    const Int8LinearWeights& weights, int64_t tile_begin, int64_t tile_end,
                    const float* bias, float* output) {
  thread_local std::vector<int32_t> partial;
  partial.resize(static_cast<size_t>(std::max<int64_t>(row_end - row_begin, 32) * kTileColumns));
  const int64_t quads = weights.padded_in / 4;
  // AMX takes whole blocks of 32 rows; the rest (and everything without AMX) goes through VNNI.
  const bool amx = cpu_has_amx();
  const int64_t amx_end = amx ? row_begin + (row_end - row_begin) / 32 * 32 : row_begin;
  if (amx && amx_end > row_begin) configure_amx_tiles();
  for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
    const int8_t* panel = weights.packed.data() + tile * quads * 256;
    for (int64_t row = row_begin; row < amx_end; row += 32) {
      prefetch_output_block(output, row, tile * kTileColumns, weights.out_features);
      for (int half = 0; half < 2; ++half) {
        amx_block(codes, weights.padded_in, row, panel, half, partial.data());
        finish_columns(partial.data(), 32, scales, row, row + 32, tile * kTileColumns + half * 32,
                       32, weights, bias, output);
      }
    }
    if (amx_end == row_end) continue;
    for (int64_t quad_begin = 0; quad_begin < quads; quad_begin += kQuadsPerBlock) {
      const int64_t quad_end = std::min(quads, quad_begin + kQuadsPerBlock);
      for (int64_t row = amx_end; row < row_end; row += kTileRows) {
        const int64_t count = std::min(kTileRows, row_end - row);
        kVnniTiles[count](codes, weights.padded_in, row, panel, quad_begin, quad_end,
                          quad_begin == 0, partial.data() + (row - amx_end) * kTileColumns);
      }
    }
    finish_columns(partial.data(), kTileColumns, scales, amx_end, row_end, tile * kTileColumns,
                   kTileColumns, weights, bias, output);
  }
  if (amx && amx_end > row_begin) release_amx_tiles();
}

}  // namespace

bool cpu_has_avx512_vnni() {
  static const bool supported = __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vnni");
  return supported;
}

int64_t Int8LinearWeights::memory_bytes() const {
  return static_cast<int64_t>(packed.size() + weight_scales.size() * sizeof(float) +
                              shift_correction.size() * sizeof(int32_t) +
                              (inv_smoothing.size() + input_offset.size() + offset_bias.size()) *
                                  sizeof(float));
}

Result<Int8LinearWeights> prepare_int8_linear(const float* weight, int64_t out_features,
                                              int64_t in_features, const float* smoothing,
                                              float static_activation_absmax,
                                              const std::string& name, const float* gram,
                                              float input_floor) {
  if (!std::isnan(input_floor) && !(input_floor <= 0.0f && std::isfinite(input_floor)))
    return invalid_argument("int8 linear " + name + ": input floor must be finite and <= 0, got " +
                            std::to_string(input_floor));
  const bool asymmetric = !std::isnan(input_floor);
  std::vector<float> smoothed, smoothed_gram;
  if (smoothing) {
    smoothed.assign(weight, weight + out_features * in_features);
    for (int64_t out_idx = 0; out_idx < out_features; ++out_idx)
      for (int64_t k = 0; k < in_features; ++k)
        smoothed[static_cast<size_t>(out_idx * in_features + k)] *= smoothing[k];
    weight = smoothed.data();
    if (gram) {  // the kernel's input is x / s
      smoothed_gram = gram_after_smoothing(gram, smoothing, in_features);
      gram = smoothed_gram.data();
    }
  }
  JN_ASSIGN_OR_RETURN(Int8Matrix matrix,
                      quantize_int8_per_row(weight, out_features, in_features, name, gram));
  Int8LinearWeights prepared;
  prepared.out_features = out_features;
  prepared.in_features = in_features;
  prepared.padded_in = round_up_to(in_features, 64);
  prepared.padded_out = round_up_to(out_features, kTileColumns);
  prepared.packed.assign(static_cast<size_t>(prepared.padded_out * prepared.padded_in), 0);
  prepared.weight_scales.assign(static_cast<size_t>(prepared.padded_out), 0.0f);
  prepared.shift_correction.assign(static_cast<size_t>(prepared.padded_out), 0);
  for (int64_t col = 0; col < out_features; ++col) {
    int32_t code_sum = 0;
    for (int64_t k = 0; k < in_features; ++k) {
      const int8_t code = matrix.codes[static_cast<size_t>(col * in_features + k)];
      prepared.packed[static_cast<size_t>(packed_index(col, k, prepared.padded_in))] = code;
      code_sum += code;
    }
    prepared.shift_correction[static_cast<size_t>(col)] = asymmetric ? 0 : kActivationShift * code_sum;
    prepared.weight_scales[static_cast<size_t>(col)] = matrix.scales[static_cast<size_t>(col)];
  }
  if (smoothing) {
    prepared.inv_smoothing.resize(static_cast<size_t>(in_features));
    for (int64_t k = 0; k < in_features; ++k)
      prepared.inv_smoothing[static_cast<size_t>(k)] = 1.0f / smoothing[k];
  }
  if (asymmetric) {
    // The kernel's input is x / s; its floor is input_floor / s per channel.
    prepared.input_offset = asymmetric_input_offsets(
        input_floor,
        smoothing ? std::vector<float>(smoothing, smoothing + in_features) : std::vector<float>{},
        in_features);
    prepared.offset_bias = asymmetric_offset_bias(matrix.codes.data(), matrix.scales.data(),
                                                  out_features, in_features, prepared.input_offset);
  }
  if (static_activation_absmax > 0.0f)
    prepared.static_activation_scale =
        asymmetric ? int8_asymmetric_scale(static_activation_absmax, prepared.input_offset)
                   : int8_scale_for_absmax(static_activation_absmax);
  return prepared;
}

void linear_int8_cpu(const float* input, int64_t rows, const Int8LinearWeights& weights,
                     const float* bias, Epilogue epilogue, float* output, ThreadPool* pool,
                     bool use_simd) {
  if (rows <= 0 || weights.out_features <= 0) return;
  const bool simd = use_simd && cpu_has_avx512_vnni();
  thread_local std::vector<uint8_t> codes;
  thread_local std::vector<float> scales;
  codes.resize(static_cast<size_t>(rows * weights.padded_in));
  scales.resize(static_cast<size_t>(rows));
  uint8_t* codes_ptr = codes.data();
  float* scales_ptr = scales.data();
  if (!weights.offset_bias.empty()) {  // asymmetric codes: the offset's share joins the bias
    thread_local std::vector<float> offset_bias;
    offset_bias = weights.offset_bias;
    if (bias)
      for (int64_t col = 0; col < weights.out_features; ++col) offset_bias[col] += bias[col];
    bias = offset_bias.data();
  }
  const TiledLinearShape shape{.rows = rows,
                               .out_features = weights.out_features,
                               .tile_columns = kTileColumns,
                               .num_tiles = weights.padded_out / kTileColumns,
                               .row_chunk = kRowChunk,
                               .row_grain = kTileRows * 4};
  run_tiled_linear(
      shape, epilogue, output, pool,
      [&](int64_t row_begin, int64_t row_end) {
        if (simd)
          quantize_rows_avx512(input, row_begin, row_end, weights, codes_ptr, scales_ptr);
        else
          quantize_rows_scalar(input, row_begin, row_end, weights, codes_ptr, scales_ptr);
      },
      [&](int64_t row_begin, int64_t row_end, int64_t tile_begin, int64_t tile_end) {
        if (simd)
          gemm_rows_vnni(codes_ptr, scales_ptr, row_begin, row_end, weights, tile_begin, tile_end,
                         bias, output);
        else
          gemm_rows_scalar(codes_ptr, scales_ptr, row_begin, row_end, weights,
                           tile_begin * kTileColumns,
                           std::min(weights.out_features, tile_end * kTileColumns), bias, output);
      });
}

}  // namespace justnews
