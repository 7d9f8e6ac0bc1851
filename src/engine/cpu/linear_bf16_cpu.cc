// BF16 linear layers: packing, activation rounding, vdpbf16ps and scalar kernels.
#include "engine/cpu/linear_bf16_cpu.h"

// GCC 12's AVX-512 headers build masked/maskz intrinsics from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports inside every caller (GCC bug 105593); the values are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/cpu/amx_cpu.h"
#include "engine/cpu/linear_cpu.h"
#include "tensor/dtype.h"

namespace justnews {
namespace {

constexpr int64_t kTileColumns = kPackedTileColumns;
constexpr int64_t kTileRows = 4;
constexpr int64_t kRowChunk = 192;
constexpr int64_t kPair = 2;  // vdpbf16ps multiplies pairs of k

int64_t packed_index(int64_t column, int64_t k, int64_t padded_in) {
  return packed_weight_index(column, k, padded_in, kPair);
}

void round_rows_scalar(const float* input, int64_t row_begin, int64_t row_end,
                       const Bf16LinearWeights& weights, uint16_t* rounded) {
  for (int64_t row_idx = row_begin; row_idx < row_end; ++row_idx) {
    uint16_t* out = rounded + row_idx * weights.padded_in;
    for (int64_t k = 0; k < weights.in_features; ++k)
      out[k] = f32_to_bf16(input[row_idx * weights.in_features + k]);
    std::fill(out + weights.in_features, out + weights.padded_in, uint16_t{0});
  }
}

void gemm_rows_scalar(const uint16_t* rounded, int64_t row_begin, int64_t row_end,
                      const Bf16LinearWeights& weights, int64_t col_begin, int64_t col_end,
                      const float* bias, float* output) {
  for (int64_t row_idx = row_begin; row_idx < row_end; ++row_idx) {
    const uint16_t* row = rounded + row_idx * weights.padded_in;
    for (int64_t col = col_begin; col < col_end; ++col) {
      float sum = 0.0f;
      for (int64_t k = 0; k < weights.in_features; ++k)
        sum += bf16_to_f32(row[k]) *
               bf16_to_f32(
                   weights.packed[static_cast<size_t>(packed_index(col, k, weights.padded_in))]);
      output[row_idx * weights.out_features + col] = sum + (bias ? bias[col] : 0.0f);
    }
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void round_rows_avx512(
    const float* input, int64_t row_begin, int64_t row_end, const Bf16LinearWeights& weights,
    uint16_t* rounded) {
  const int64_t in = weights.in_features;
  for (int64_t row_idx = row_begin; row_idx < row_end; ++row_idx) {
    const float* row = input + row_idx * in;
    uint16_t* out = rounded + row_idx * weights.padded_in;
    int64_t k = 0;
    for (; k + 32 <= in; k += 32) {
      const __m512bh pairs =
          _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + k + 16), _mm512_loadu_ps(row + k));
      _mm512_storeu_si512(out + k, reinterpret_cast<const __m512i&>(pairs));
    }
    for (; k < in; ++k) out[k] = f32_to_bf16(row[k]);
    std::fill(out + in, out + weights.padded_in, uint16_t{0});
  }
}

template <int kRows>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void bf16_tile(
    const uint16_t* rounded, int64_t row_begin, int64_t tile, const Bf16LinearWeights& weights,
    const float* bias, float* output) {
  const int64_t pairs = weights.padded_in / 2;
  const uint16_t* packed = weights.packed.data() + tile * pairs * 128;
  __m512 acc[kRows][4];
  for (int row = 0; row < kRows; ++row)
    for (int block = 0; block < 4; ++block) acc[row][block] = _mm512_setzero_ps();
  const uint16_t* rows[kRows];
  for (int row = 0; row < kRows; ++row) rows[row] = rounded + (row_begin + row) * weights.padded_in;
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const uint16_t* step = packed + pair * 128;
    const __m512i w0 = _mm512_loadu_si512(step), w1 = _mm512_loadu_si512(step + 32);
    const __m512i w2 = _mm512_loadu_si512(step + 64), w3 = _mm512_loadu_si512(step + 96);
    for (int row = 0; row < kRows; ++row) {
      int32_t two;
      std::memcpy(&two, rows[row] + pair * 2, 4);
      const __m512i a = _mm512_set1_epi32(two);
      const __m512bh a_bh = reinterpret_cast<const __m512bh&>(a);
      acc[row][0] = _mm512_dpbf16_ps(acc[row][0], a_bh, reinterpret_cast<const __m512bh&>(w0));
      acc[row][1] = _mm512_dpbf16_ps(acc[row][1], a_bh, reinterpret_cast<const __m512bh&>(w1));
      acc[row][2] = _mm512_dpbf16_ps(acc[row][2], a_bh, reinterpret_cast<const __m512bh&>(w2));
      acc[row][3] = _mm512_dpbf16_ps(acc[row][3], a_bh, reinterpret_cast<const __m512bh&>(w3));
    }
  }
  const int64_t col0 = tile * kTileColumns;
  for (int block = 0; block < 4; ++block) {
    const int64_t col = col0 + block * 16;
    if (col >= weights.out_features) break;
    const int64_t valid = std::min<int64_t>(16, weights.out_features - col);
    const __mmask16 mask = static_cast<__mmask16>(valid == 16 ? 0xFFFF : (1u << valid) - 1);
    const __m512 bias_vec = bias ? _mm512_maskz_loadu_ps(mask, bias + col) : _mm512_setzero_ps();
    for (int row = 0; row < kRows; ++row)
      _mm512_mask_storeu_ps(output + (row_begin + row) * weights.out_features + col, mask,
                            _mm512_add_ps(acc[row][block], bias_vec));
  }
}

// AMX: rows [row_begin, row_begin + 32) × the 32 columns of lane blocks 2·half, 2·half + 1 of
// the tile whose weights start at `panel`, over all of K, into `partial` ([32][32] float).
__attribute__((target("amx-tile,amx-bf16"))) void amx_block(const uint16_t* rounded,
                                                            int64_t padded_in, int64_t row_begin,
                                                            const uint16_t* panel, int half,
                                                            float* partial) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const uint16_t* rows = rounded + row_begin * padded_in;
  const int64_t row_bytes = padded_in * 2;
  for (int64_t k_block = 0; k_block < padded_in / 32; ++k_block) {
    _tile_loadd(4, rows + k_block * 32, row_bytes);
    _tile_loadd(5, rows + 16 * padded_in + k_block * 32, row_bytes);
    _tile_loadd(6, panel + (k_block * 64 + 2 * half) * 32, 256);
    _tile_loadd(7, panel + (k_block * 64 + 2 * half + 1) * 32, 256);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, partial, 128);
  _tile_stored(1, partial + 16, 128);
  _tile_stored(2, partial + 16 * 32, 128);
  _tile_stored(3, partial + 16 * 32 + 16, 128);
}

// partial ([32][32]) + bias → output rows [row_begin, row_begin + 32), valid columns only.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void finish_block(
    const float* partial, int64_t row_begin, int64_t col_begin, const Bf16LinearWeights& weights,
    const float* bias, float* output) {
  for (int64_t offset = 0; offset < 32; offset += 16) {
    const int64_t col = col_begin + offset;
    if (col >= weights.out_features) break;
    const int64_t valid = std::min<int64_t>(16, weights.out_features - col);
    const __mmask16 mask = static_cast<__mmask16>(valid == 16 ? 0xFFFF : (1u << valid) - 1);
    const __m512 bias_vec = bias ? _mm512_maskz_loadu_ps(mask, bias + col) : _mm512_setzero_ps();
    for (int64_t row = 0; row < 32; ++row)
      _mm512_mask_storeu_ps(output + (row_begin + row) * weights.out_features + col, mask,
                            _mm512_add_ps(_mm512_loadu_ps(partial + row * 32 + offset), bias_vec));
  }
}

void gemm_rows_bf16(const uint16_t* rounded, int64_t row_begin, int64_t row_end,
                    const Bf16LinearWeights& weights, int64_t tile_begin, int64_t tile_end,
                    const float* bias, float* output) {
  // AMX takes whole blocks of 32 rows; the rest (and everything without AMX) uses vdpbf16ps.
  const bool amx = cpu_has_amx();
  const int64_t amx_end = amx ? row_begin + (row_end - row_begin) / 32 * 32 : row_begin;
  if (amx_end > row_begin) {
    configure_amx_tiles();
    alignas(64) float partial[32 * 32];
    const int64_t pairs = weights.padded_in / 2;
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const uint16_t* panel = weights.packed.data() + tile * pairs * 128;
      for (int64_t row = row_begin; row < amx_end; row += 32)
        for (int half = 0; half < 2; ++half) {
          amx_block(rounded, weights.padded_in, row, panel, half, partial);
          finish_block(partial, row, tile * kTileColumns + half * 32, weights, bias, output);
        }
    }
    release_amx_tiles();
  }
  for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
    int64_t row = amx_end;
    for (; row + kTileRows <= row_end; row += kTileRows)
      bf16_tile<kTileRows>(rounded, row, tile, weights, bias, output);
    switch (row_end - row) {
      case 3:
        bf16_tile<3>(rounded, row, tile, weights, bias, output);
        break;
      case 2:
        bf16_tile<2>(rounded, row, tile, weights, bias, output);
        break;
      case 1:
        bf16_tile<1>(rounded, row, tile, weights, bias, output);
        break;
      default:
        break;
    }
  }
}

}  // namespace

bool cpu_has_avx512_bf16() {
  static const bool supported = __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512bf16");
  return supported;
}

Result<Bf16LinearWeights> prepare_bf16_linear(const float* weight, int64_t out_features,
                                              int64_t in_features, const std::string& name) {
  if (out_features <= 0 || in_features <= 0)
    return invalid_argument("bf16 preparation of " + name + ": shape [" +
                            std::to_string(out_features) + ", " + std::to_string(in_features) +
                            "] is empty; expected rows, columns > 0");
  Bf16LinearWeights prepared;
  prepared.out_features = out_features;
  prepared.in_features = in_features;
  prepared.padded_in = round_up_to(in_features, 32);
  prepared.padded_out = round_up_to(out_features, kTileColumns);
  prepared.packed.assign(static_cast<size_t>(prepared.padded_out * prepared.padded_in), 0);
  for (int64_t col = 0; col < out_features; ++col)
    for (int64_t k = 0; k < in_features; ++k)
      prepared.packed[static_cast<size_t>(packed_index(col, k, prepared.padded_in))] =
          f32_to_bf16(weight[col * in_features + k]);
  return prepared;
}

void linear_bf16_cpu(const float* input, int64_t rows, const Bf16LinearWeights& weights,
                     const float* bias, Epilogue epilogue, float* output, ThreadPool* pool,
                     bool use_simd) {
  if (rows <= 0 || weights.out_features <= 0) return;
  const bool simd = use_simd && cpu_has_avx512_bf16();
  thread_local std::vector<uint16_t> rounded;
  rounded.resize(static_cast<size_t>(rows * weights.padded_in));
  uint16_t* rounded_ptr = rounded.data();
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
          round_rows_avx512(input, row_begin, row_end, weights, rounded_ptr);
        else
          round_rows_scalar(input, row_begin, row_end, weights, rounded_ptr);
      },
      [&](int64_t row_begin, int64_t row_end, int64_t tile_begin, int64_t tile_end) {
        if (simd)
          gemm_rows_bf16(rounded_ptr, row_begin, row_end, weights, tile_begin, tile_end, bias,
                         output);
        else
          gemm_rows_scalar(rounded_ptr, row_begin, row_end, weights, tile_begin * kTileColumns,
                           std::min(weights.out_features, tile_end * kTileColumns), bias, output);
      });
}

}  // namespace justnews
