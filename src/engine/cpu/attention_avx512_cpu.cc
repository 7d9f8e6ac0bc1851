#include "engine/cpu/attention_avx512_cpu.h"

// GCC 12 warns inside its own AVX-512 intrinsics (the undefined pass-through operand of
// _mm512_max_ps and others, GCC bug 105593, fixed in 13) wherever they inline.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "engine/cpu/fast_math_cpu.h"

namespace justnews {
namespace {

#define JN_AVX512 __attribute__((target("avx512f")))

constexpr int64_t kLanes = 16;

// exp_fast (fast_math_cpu.h) sixteen lanes at a time, with 2^n applied by vscalefps.
JN_AVX512 inline __m512 exp_avx512(__m512 x) {
  using namespace exp_cephes;
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kMin)), _mm512_set1_ps(kMax));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kPoly[0]);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[1]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[2]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[3]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[4]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[5]));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// Horizontal max / sum through memory (GCC 12's _mm512_reduce_* intrinsics trip -Wuninitialized).
JN_AVX512 inline float lanes_max(__m512 value) {
  alignas(64) float lanes[kLanes];
  _mm512_store_ps(lanes, value);
  return *std::max_element(lanes, lanes + kLanes);
}

JN_AVX512 inline float lanes_sum(__m512 value) {
  alignas(64) float lanes[kLanes];
  _mm512_store_ps(lanes, value);
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  return sum;
}

JN_AVX512 inline __mmask16 tail_mask(int64_t count) {
  return static_cast<__mmask16>(count >= kLanes ? 0xFFFF : (1u << count) - 1);
}

// scores[r][key_begin + 16c ...] = scale · q_r · kᵀ for 4 query rows and kChunks x 16 keys:
// 4·kChunks accumulators, one broadcast of q[r][d] feeding kChunks FMAs.
template <int kHeadDim, int kChunks>
JN_AVX512 void score_rows(const float* const (&q_rows)[4], const float* kt, int64_t ld_kt,
                          int64_t key_begin, float scale, float* scores, int64_t ld_scores) {
  __m512 acc[4][kChunks];
  for (auto& row : acc)
    for (auto& value : row) value = _mm512_setzero_ps();
  for (int d = 0; d < kHeadDim; ++d) {
    __m512 keys[kChunks];
    for (int c = 0; c < kChunks; ++c)
      keys[c] = _mm512_loadu_ps(kt + d * ld_kt + key_begin + c * kLanes);
    for (int r = 0; r < 4; ++r) {
      const __m512 q = _mm512_set1_ps(q_rows[r][d]);
      for (int c = 0; c < kChunks; ++c) acc[r][c] = _mm512_fmadd_ps(q, keys[c], acc[r][c]);
    }
  }
  const __m512 scale_vec = _mm512_set1_ps(scale);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < kChunks; ++c)
      _mm512_storeu_ps(scores + r * ld_scores + key_begin + c * kLanes,
                       _mm512_mul_ps(acc[r][c], scale_vec));
}

template <int kHeadDim>
JN_AVX512 void score_all_keys(const float* const (&q_rows)[4], const float* kt, int64_t padded,
                              float scale, float* scores, int64_t ld_scores) {
  int64_t key = 0;
  for (; key + 4 * kLanes <= padded; key += 4 * kLanes)
    score_rows<kHeadDim, 4>(q_rows, kt, padded, key, scale, scores, ld_scores);
  switch ((padded - key) / kLanes) {
    case 3:
      score_rows<kHeadDim, 3>(q_rows, kt, padded, key, scale, scores, ld_scores);
      break;
    case 2:
      score_rows<kHeadDim, 2>(q_rows, kt, padded, key, scale, scores, ld_scores);
      break;
    case 1:
      score_rows<kHeadDim, 1>(q_rows, kt, padded, key, scale, scores, ld_scores);
      break;
    default:
      break;
  }
}

// row[0, length) = exp(row - max(row)) in place; returns their sum (the division comes later, on
// the head_dim outputs).
JN_AVX512 float exponentiate_row(float* row, int64_t length) {
  __m512 max_vec = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < length; j += kLanes)
    max_vec = _mm512_max_ps(max_vec, _mm512_mask_loadu_ps(max_vec, tail_mask(length - j), row + j));
  const __m512 row_max = _mm512_set1_ps(lanes_max(max_vec));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < length; j += kLanes) {
    const __mmask16 mask = tail_mask(length - j);
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, row + j), row_max));
    _mm512_mask_storeu_ps(row + j, mask, e);
    sum = _mm512_mask_add_ps(sum, mask, sum, e);
  }
  return lanes_sum(sum);
}

// context rows = (P · V) / sums for kRows query rows (kRows · kHeadDim / 16 = 16 accumulators);
// rows at or past `valid_rows` are computed but not stored.
template <int kHeadDim, int kRows>
JN_AVX512 void weigh_values(const float* probabilities, int64_t ld_probabilities,
                            const float* values, int64_t value_stride, int64_t length,
                            const float* sums, int64_t valid_rows, float* out, int64_t out_stride) {
  constexpr int kVectors = kHeadDim / kLanes;
  __m512 acc[kRows][kVectors];
  for (auto& row : acc)
    for (auto& value : row) value = _mm512_setzero_ps();
  for (int64_t key = 0; key < length; ++key) {
    __m512 v[kVectors];
    for (int c = 0; c < kVectors; ++c)
      v[c] = _mm512_loadu_ps(values + key * value_stride + c * kLanes);
    for (int r = 0; r < kRows; ++r) {
      const __m512 p = _mm512_set1_ps(probabilities[r * ld_probabilities + key]);
      for (int c = 0; c < kVectors; ++c) acc[r][c] = _mm512_fmadd_ps(p, v[c], acc[r][c]);
    }
  }
  for (int r = 0; r < kRows && r < valid_rows; ++r) {
    const __m512 inverse = _mm512_set1_ps(1.0f / sums[r]);
    for (int c = 0; c < kVectors; ++c)
      _mm512_storeu_ps(out + r * out_stride + c * kLanes, _mm512_mul_ps(acc[r][c], inverse));
  }
}

template <int kHeadDim>
JN_AVX512 void attend_head(const float* qkv, int64_t qkv_stride, int64_t hidden,
                           int64_t token_begin, int64_t length, int64_t q_column, float scale,
                           float* context, std::vector<float>& scratch) {
  constexpr int kRows = 256 / kHeadDim;  // query rows a block: 16 P·V accumulators
  const int64_t padded = (length + kLanes - 1) / kLanes * kLanes;
  const size_t needed = static_cast<size_t>((kHeadDim + kRows) * padded);
  if (scratch.size() < needed) scratch.resize(needed);
  float* kt = scratch.data();              // [kHeadDim][padded], keys past `length` are 0
  float* scores = kt + kHeadDim * padded;  // [kRows][padded]
  const float* first_row = qkv + token_begin * qkv_stride;
  for (int64_t key = 0; key < padded; ++key) {
    const float* k = first_row + key * qkv_stride + hidden + q_column;
    for (int d = 0; d < kHeadDim; ++d) kt[d * padded + key] = key < length ? k[d] : 0.0f;
  }
  const float* values = first_row + 2 * hidden + q_column;
  for (int64_t query = 0; query < length; query += kRows) {
    float sums[kRows];
    for (int block = 0; block < kRows; block += 4) {
      const float* q_rows[4];
      for (int r = 0; r < 4; ++r)  // rows past the end repeat the last one (computed, never stored)
        q_rows[r] = first_row + std::min(query + block + r, length - 1) * qkv_stride + q_column;
      score_all_keys<kHeadDim>(q_rows, kt, padded, scale, scores + block * padded, padded);
    }
    for (int r = 0; r < kRows; ++r) sums[r] = exponentiate_row(scores + r * padded, length);
    weigh_values<kHeadDim, kRows>(scores, padded, values, qkv_stride, length, sums, length - query,
                                  context + (token_begin + query) * hidden + q_column, hidden);
  }
}

}  // namespace

bool attention_avx512_supported(int64_t head_dim) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512 && (head_dim == 32 || head_dim == 64);
}

void attend_head_avx512(const float* qkv, int64_t qkv_stride, int64_t hidden, int64_t token_begin,
                        int64_t length, int64_t q_column, int64_t head_dim, float scale,
                        float* context, std::vector<float>& scratch) {
  if (head_dim == 32)
    attend_head<32>(qkv, qkv_stride, hidden, token_begin, length, q_column, scale, context,
                    scratch);
  else
    attend_head<64>(qkv, qkv_stride, hidden, token_begin, length, q_column, scale, context,
                    scratch);
}

}  // namespace justnews
