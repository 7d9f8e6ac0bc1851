// Fused multi-head self-attention for packed variable-length batches (no padding, no mask tensor):
// each block owns one (query tile, head, sequence) and streams the sequence's keys and values
// through shared memory with an online softmax, so the score matrix never reaches device memory.
// Three kernels: v3 (raw mma.sync m16n8k16 with S, P and O in registers, K/V double-buffered;
// the default for fp16/bf16 and head_dim 32/64/128; v4 is the same with 8 warps, 128 queries a
// block), v2 (wmma 16x16x16 with the softmax through
// shared memory; kept for comparison) and a scalar FP32 one (every precision, head_dim 8..128)
// used for fp32 and for the small head dims of test models. v3 / v4 can also write the context as
// FP8 / INT8 codes for the next GEMM (launch_attention_codes).
#include <cuda_fp8.h>
#include <mma.h>

#include <string>
#include <type_traits>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/dependent_launch.cuh"
#include "engine/cuda/element_types.cuh"
#include "engine/cuda/mma_sm80.cuh"

namespace justnews::cuda {

namespace {

constexpr float kLog2e = 1.4426950408889634f;

// ---- tensor-core kernel ----------------------------------------------------------------------

constexpr int kTcQueryTile = 64;   // 4 warps x 16 query rows
constexpr int kTcKeyTile = 64;
constexpr int kTcWarps = 4;
constexpr int kTcThreads = kTcWarps * 32;

template <typename T, int kHeadDim>
struct TcLayout {
  // Rows are padded so that consecutive rows start in different shared-memory banks; every
  // fragment origin stays 32-byte aligned as wmma requires.
  static constexpr int kLdTile = kHeadDim + 8;      // Q, K, V tiles (T)
  static constexpr int kLdScores = kTcKeyTile + 4;  // per-warp scores (float)
  static constexpr int kLdProbs = kTcKeyTile + 8;   // per-warp probabilities (T)
  static constexpr int kLdOut = kHeadDim + 4;       // per-warp output accumulator (float)
  static constexpr size_t kQBytes = sizeof(T) * kTcQueryTile * kLdTile;
  static constexpr size_t kKBytes = sizeof(T) * kTcKeyTile * kLdTile;
  static constexpr size_t kScoresBytes = sizeof(float) * kTcWarps * 16 * kLdScores;
  static constexpr size_t kProbsBytes = sizeof(T) * kTcWarps * 16 * kLdProbs;
  static constexpr size_t kOutBytes = sizeof(float) * kTcWarps * 16 * kLdOut;
  static constexpr size_t kTotalBytes = kQBytes + 2 * kKBytes + kScoresBytes + kProbsBytes + kOutBytes;
};

// Starts asynchronous copies (cp.async, 16 bytes each, L2 only) of `rows` rows of one head
// (kHeadDim values at column `column`) into a shared tile; rows at or past `valid_rows` are
// zero-filled by the copy engine so that padding contributes nothing (and never NaN) to the
// products. All of a thread's copies are in flight together; wait_async_copies() completes them.
// (v1 copied through registers one pack at a time: each load waited for the previous one.)
template <typename T, int kHeadDim, int kRows>
__device__ __forceinline__ void load_tile_async(T* tile, int ld_tile, const T* qkv, int64_t row_stride,
                                                int first_token, int valid_rows, int column) {
  constexpr int kPack = Pack<T>::kSize;
  constexpr int kPacksPerRow = kHeadDim / kPack;
  for (int idx = threadIdx.x; idx < kRows * kPacksPerRow; idx += blockDim.x) {
    const int row = idx / kPacksPerRow;
    const int pack_col = (idx % kPacksPerRow) * kPack;
    const bool valid = row < valid_rows;
    const T* source = valid ? qkv + static_cast<int64_t>(first_token + row) * row_stride + column + pack_col : qkv;
    const unsigned int destination =
        static_cast<unsigned int>(__cvta_generic_to_shared(tile + row * ld_tile + pack_col));
    const int source_bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(destination), "l"(source),
                 "r"(source_bytes));
  }
}

__device__ __forceinline__ void wait_async_copies() {
  asm volatile("cp.async.commit_group;\n" ::);
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kTcThreads)
attention_tensor_core_kernel(const T* qkv, const int32_t* seq_offsets, int num_heads,
                             float scale_log2, T* out) {
  wait_for_previous_kernel();
  using namespace nvcuda;
  using Layout = TcLayout<T, kHeadDim>;
  const int seq = blockIdx.z;
  const int head = blockIdx.y;
  const int first_token = seq_offsets[seq];
  const int length = seq_offsets[seq + 1] - first_token;
  const int query_start = blockIdx.x * kTcQueryTile;
  if (query_start >= length) return;

  extern __shared__ __align__(128) unsigned char shared_bytes[];
  T* q_tile = reinterpret_cast<T*>(shared_bytes);
  T* k_tile = reinterpret_cast<T*>(shared_bytes + Layout::kQBytes);
  T* v_tile = reinterpret_cast<T*>(shared_bytes + Layout::kQBytes + Layout::kKBytes);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  float* scores = reinterpret_cast<float*>(shared_bytes + Layout::kQBytes + 2 * Layout::kKBytes) +
                  warp * 16 * Layout::kLdScores;
  T* probs = reinterpret_cast<T*>(shared_bytes + Layout::kQBytes + 2 * Layout::kKBytes +
                                  Layout::kScoresBytes) + warp * 16 * Layout::kLdProbs;
  float* out_acc = reinterpret_cast<float*>(shared_bytes + Layout::kQBytes + 2 * Layout::kKBytes +
                                            Layout::kScoresBytes + Layout::kProbsBytes) +
                   warp * 16 * Layout::kLdOut;

  const int hidden = num_heads * kHeadDim;
  const int64_t row_stride = 3 * static_cast<int64_t>(hidden);
  load_tile_async<T, kHeadDim, kTcQueryTile>(q_tile, Layout::kLdTile, qkv, row_stride,
                                             first_token + query_start, length - query_start,
                                             head * kHeadDim);
  for (int idx = lane; idx < 16 * Layout::kLdOut; idx += 32) out_acc[idx] = 0.f;

  // Lane pair (2r, 2r+1) owns query row r of this warp; each lane covers half of the key tile and
  // half of the head dimension.
  const int my_row = lane / 2;
  const int my_half = lane % 2;
  float row_max = -INFINITY;
  float row_sum = 0.f;

  for (int key_start = 0; key_start < length; key_start += kTcKeyTile) {
    __syncthreads();  // every warp is done with the previous K/V tiles
    const int valid_keys = min(kTcKeyTile, length - key_start);
    load_tile_async<T, kHeadDim, kTcKeyTile>(k_tile, Layout::kLdTile, qkv, row_stride,
                                             first_token + key_start, valid_keys,
                                             hidden + head * kHeadDim);
    load_tile_async<T, kHeadDim, kTcKeyTile>(v_tile, Layout::kLdTile, qkv, row_stride,
                                             first_token + key_start, valid_keys,
                                             2 * hidden + head * kHeadDim);
    wait_async_copies();  // also completes the Q tile on the first pass
    __syncthreads();

    // scores = Q_warp . K^T
#pragma unroll
    for (int key_block = 0; key_block < kTcKeyTile / 16; ++key_block) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int dim_block = 0; dim_block < kHeadDim / 16; ++dim_block) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
        wmma::load_matrix_sync(a, q_tile + warp * 16 * Layout::kLdTile + dim_block * 16, Layout::kLdTile);
        wmma::load_matrix_sync(b, k_tile + key_block * 16 * Layout::kLdTile + dim_block * 16,
                               Layout::kLdTile);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(scores + key_block * 16, acc, Layout::kLdScores, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over this key tile, in base 2 with the 1/sqrt(d) scale folded in.
    constexpr int kColsPerLane = kTcKeyTile / 2;
    const float* score_row = scores + my_row * Layout::kLdScores + my_half * kColsPerLane;
    T* prob_row = probs + my_row * Layout::kLdProbs + my_half * kColsPerLane;
    const int my_valid = valid_keys - my_half * kColsPerLane;
    float tile_max = -INFINITY;
#pragma unroll
    for (int col = 0; col < kColsPerLane; ++col)
      if (col < my_valid) tile_max = fmaxf(tile_max, score_row[col] * scale_log2);
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float new_max = fmaxf(row_max, tile_max);
    const float correction = exp2f(row_max - new_max);
    float tile_sum = 0.f;
#pragma unroll
    for (int col = 0; col < kColsPerLane; ++col) {
      const float p = col < my_valid ? exp2f(score_row[col] * scale_log2 - new_max) : 0.f;
      prob_row[col] = from_float<T>(p);
      tile_sum += p;
    }
    tile_sum += __shfl_xor_sync(0xffffffffu, tile_sum, 1);
    row_sum = row_sum * correction + tile_sum;
    row_max = new_max;
    float* out_row = out_acc + my_row * Layout::kLdOut + my_half * (kHeadDim / 2);
#pragma unroll
    for (int col = 0; col < kHeadDim / 2; ++col) out_row[col] *= correction;
    __syncwarp();

    // out_acc += P . V
#pragma unroll
    for (int dim_block = 0; dim_block < kHeadDim / 16; ++dim_block) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, out_acc + dim_block * 16, Layout::kLdOut, wmma::mem_row_major);
#pragma unroll
      for (int key_block = 0; key_block < kTcKeyTile / 16; ++key_block) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
        wmma::load_matrix_sync(a, probs + key_block * 16, Layout::kLdProbs);
        wmma::load_matrix_sync(b, v_tile + key_block * 16 * Layout::kLdTile + dim_block * 16,
                               Layout::kLdTile);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(out_acc + dim_block * 16, acc, Layout::kLdOut, wmma::mem_row_major);
    }
    __syncwarp();
  }

  const int query = query_start + warp * 16 + my_row;
  if (query >= length) return;
  const float inv_sum = 1.f / row_sum;
  const float* out_row = out_acc + my_row * Layout::kLdOut + my_half * (kHeadDim / 2);
  T* destination = out + static_cast<int64_t>(first_token + query) * hidden + head * kHeadDim +
                   my_half * (kHeadDim / 2);
  constexpr int kPack = Pack<T>::kSize;
#pragma unroll
  for (int col = 0; col < kHeadDim / 2; col += kPack) {
    Pack<T> pack;
#pragma unroll
    for (int e = 0; e < kPack; ++e) pack.values[e] = from_float<T>(out_row[col + e] * inv_sum);
    store_pack(destination + col, pack);
  }
}

// ---- scalar kernel ---------------------------------------------------------------------------

constexpr int kScalarQueryTile = 64;  // one thread per query row
constexpr int kScalarKeyTile = 32;

template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kScalarQueryTile)
attention_scalar_kernel(const T* qkv, const int32_t* seq_offsets, int num_heads, float scale_log2,
                        T* out) {
  wait_for_previous_kernel();
  const int seq = blockIdx.z;
  const int head = blockIdx.y;
  const int first_token = seq_offsets[seq];
  const int length = seq_offsets[seq + 1] - first_token;
  const int query_start = blockIdx.x * kScalarQueryTile;
  if (query_start >= length) return;
  __shared__ float keys[kScalarKeyTile][kHeadDim];
  __shared__ float values[kScalarKeyTile][kHeadDim];

  const int hidden = num_heads * kHeadDim;
  const int64_t row_stride = 3 * static_cast<int64_t>(hidden);
  const int query = query_start + threadIdx.x;
  const bool active = query < length;
  float q[kHeadDim];
  float acc[kHeadDim];
#pragma unroll
  for (int d = 0; d < kHeadDim; ++d) {
    q[d] = active ? to_float(qkv[(first_token + query) * row_stride + head * kHeadDim + d]) * scale_log2
                  : 0.f;
    acc[d] = 0.f;
  }
  float row_max = -INFINITY;
  float row_sum = 0.f;
  for (int key_start = 0; key_start < length; key_start += kScalarKeyTile) {
    const int valid_keys = min(kScalarKeyTile, length - key_start);
    __syncthreads();
    for (int idx = threadIdx.x; idx < valid_keys * kHeadDim; idx += blockDim.x) {
      const int key = idx / kHeadDim;
      const int d = idx % kHeadDim;
      const int64_t row = (first_token + key_start + key) * row_stride;
      keys[key][d] = to_float(qkv[row + hidden + head * kHeadDim + d]);
      values[key][d] = to_float(qkv[row + 2 * hidden + head * kHeadDim + d]);
    }
    __syncthreads();
    for (int key = 0; key < valid_keys; ++key) {
      float score = 0.f;
#pragma unroll
      for (int d = 0; d < kHeadDim; ++d) score += q[d] * keys[key][d];
      const float new_max = fmaxf(row_max, score);
      const float correction = exp2f(row_max - new_max);
      const float p = exp2f(score - new_max);
      row_sum = row_sum * correction + p;
#pragma unroll
      for (int d = 0; d < kHeadDim; ++d) acc[d] = acc[d] * correction + p * values[key][d];
      row_max = new_max;
    }
  }
  if (!active) return;
  const float inv_sum = 1.f / row_sum;
#pragma unroll
  for (int d = 0; d < kHeadDim; ++d)
    out[static_cast<int64_t>(first_token + query) * hidden + head * kHeadDim + d] =
        from_float<T>(acc[d] * inv_sum);
}

// ---- v3: mma.sync flash attention (FlashAttention-2 style) ------------------------------------
// Each warp owns 16 query rows. Q stays in registers as mma A fragments for the whole block; the
// scores S = Q.K^T come back as m16n8 accumulator fragments whose layout (PTX ISA, "Matrix
// Fragments for mma.m16n8k16") is exactly that of the A operand of the next mma once converted to
// 16-bit, so P never leaves registers and neither does O. K and V tiles are double-buffered in
// shared memory with cp.async: the next tile loads while this one is multiplied.
// Per thread (lane = 4 * group + quad): accumulator elements (group, 2 * quad + {0, 1}) and
// (group + 8, 2 * quad + {0, 1}) of every 8-column tile.

constexpr int kMmaKeyTile = 64;

// kWarps warps of 16 query rows each: 4 (v3, 64 queries a block) or 8 (v4, 128 queries a block,
// so that a block reads each K/V tile for twice the queries).
template <typename T, int kHeadDim, int kWarps>
struct MmaLayout {
  static constexpr int kQueryTile = 16 * kWarps;
  static constexpr int kThreads = 32 * kWarps;
  // +8 elements (16 bytes) per row: the 8 row addresses of one ldmatrix fall in distinct banks.
  static constexpr int kLdTile = kHeadDim + 8;
  static constexpr size_t kTileBytes = sizeof(T) * kMmaKeyTile * kLdTile;
  static constexpr size_t kQBytes = sizeof(T) * kQueryTile * kLdTile;
  static constexpr size_t kTotalBytes = kQBytes + 4 * kTileBytes;  // Q, K x2, V x2
};

// 2^x on the special-function unit alone: exp2f adds range handling for results below 2^-126,
// which a softmax probability (flushed to 0 in fp16/bf16 anyway) does not need.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* address) {
  const unsigned int shared = static_cast<unsigned int>(__cvta_generic_to_shared(address));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* address) {
  const unsigned int shared = static_cast<unsigned int>(__cvta_generic_to_shared(address));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared));
}

__device__ __forceinline__ void commit_async_copies() { asm volatile("cp.async.commit_group;\n" ::); }

template <int kPending>
__device__ __forceinline__ void wait_async_copies_but() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// One key tile of one warp's 16 query rows: S = Q.K^T, the online-softmax update of row_max /
// row_sum / O, then O += P.V. `valid_keys` (>= 1) counts the tile's keys before the sequence's
// end; only the last tile of a sequence has fewer than kMmaKeyTile and pays for the mask. Maxima
// are taken on the raw scores (the scale is positive) and the scale is folded into one FMA per
// score: p = 2^(s * scale_log2 - max_scaled).
template <typename T, int kHeadDim>
__device__ __forceinline__ void attend_key_tile(const uint32_t (&q_frag)[kHeadDim / 16][4], const T* k_tile,
                                                const T* v_tile, int ld, int valid_keys, float scale_log2,
                                                int lane, float (&o_acc)[kHeadDim / 8][4],
                                                float (&row_max)[2], float (&row_sum)[2]) {
  constexpr int kDimChunks = kHeadDim / 16;  // k-steps of Q.K^T
  constexpr int kOutTiles = kHeadDim / 8;    // n-tiles of O
  constexpr int kKeyTiles = kMmaKeyTile / 8; // n-tiles of S
  const int quad = lane % 4;

  // S = Q . K^T: one x4 ldmatrix gives the B fragments of one key n-tile for two k-steps.
  float s_acc[kKeyTiles][4];
#pragma unroll
  for (int tile = 0; tile < kKeyTiles; ++tile) {
#pragma unroll
    for (int idx = 0; idx < 4; ++idx) s_acc[tile][idx] = 0.f;
#pragma unroll
    for (int chunk = 0; chunk < kDimChunks; chunk += 2) {
      uint32_t b[4];
      ldmatrix_x4(b, k_tile + (tile * 8 + (lane % 8)) * ld + chunk * 16 + (lane / 8) * 8);
      mma_16816<T>(s_acc[tile], q_frag[chunk], b[0], b[1]);
      if (chunk + 1 < kDimChunks) mma_16816<T>(s_acc[tile], q_frag[chunk + 1], b[2], b[3]);
    }
  }

  if (valid_keys < kMmaKeyTile) {
#pragma unroll
    for (int tile = 0; tile < kKeyTiles; ++tile)
#pragma unroll
      for (int idx = 0; idx < 4; ++idx)
        if (tile * 8 + quad * 2 + (idx & 1) >= valid_keys) s_acc[tile][idx] = -INFINITY;
  }
  float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int tile = 0; tile < kKeyTiles; ++tile) {
    tile_max[0] = fmaxf(tile_max[0], fmaxf(s_acc[tile][0], s_acc[tile][1]));
    tile_max[1] = fmaxf(tile_max[1], fmaxf(s_acc[tile][2], s_acc[tile][3]));
  }
  float correction[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    tile_max[half] = fmaxf(tile_max[half], __shfl_xor_sync(0xffffffffu, tile_max[half], 1));
    tile_max[half] = fmaxf(tile_max[half], __shfl_xor_sync(0xffffffffu, tile_max[half], 2));
    // Finite: key 0 of every tile is valid.
    const float new_max = fmaxf(row_max[half], tile_max[half] * scale_log2);
    correction[half] = fast_exp2(row_max[half] - new_max);  // 0 on the first tile (-inf)
    row_max[half] = new_max;
    row_sum[half] *= correction[half];
  }
#pragma unroll
  for (int tile = 0; tile < kOutTiles; ++tile) {
    o_acc[tile][0] *= correction[0];
    o_acc[tile][1] *= correction[0];
    o_acc[tile][2] *= correction[1];
    o_acc[tile][3] *= correction[1];
  }
  // P as A fragments: key n-tiles 2j and 2j+1 form the k-step j of O += P . V.
  uint32_t p_frag[kKeyTiles / 2][4];
#pragma unroll
  for (int tile = 0; tile < kKeyTiles; ++tile) {
    const float p0 = fast_exp2(fmaf(s_acc[tile][0], scale_log2, -row_max[0]));
    const float p1 = fast_exp2(fmaf(s_acc[tile][1], scale_log2, -row_max[0]));
    const float p2 = fast_exp2(fmaf(s_acc[tile][2], scale_log2, -row_max[1]));
    const float p3 = fast_exp2(fmaf(s_acc[tile][3], scale_log2, -row_max[1]));
    row_sum[0] += p0 + p1;
    row_sum[1] += p2 + p3;
    p_frag[tile / 2][(tile & 1) * 2 + 0] = pack_pair<T>(p0, p1);
    p_frag[tile / 2][(tile & 1) * 2 + 1] = pack_pair<T>(p2, p3);
  }
  // O += P . V: V rows are keys (the k dimension), so ldmatrix.trans yields the B fragments.
#pragma unroll
  for (int step = 0; step < kKeyTiles / 2; ++step) {
#pragma unroll
    for (int tile = 0; tile < kOutTiles; tile += 2) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, v_tile + (step * 16 + (lane % 16)) * ld + tile * 8 + (lane / 16) * 8);
      mma_16816<T>(o_acc[tile], p_frag[step], b[0], b[1]);
      mma_16816<T>(o_acc[tile + 1], p_frag[step], b[2], b[3]);
    }
  }
}

// Blocks per SM the register cap is chosen for: 16 warps (128 registers a thread) up to head_dim
// 64, which the K/V buffers' shared memory allows too. Uncapped, ptxas took 134-149 registers at
// head_dim 64 and fewer blocks fitted (one of 8 warps, three of 4).
template <int kHeadDim, int kWarps>
constexpr int mma_min_blocks_per_sm() {
  return kHeadDim <= 64 ? 16 / kWarps : 1;
}

template <typename T, int kHeadDim, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, (mma_min_blocks_per_sm<kHeadDim, kWarps>()))
    attention_mma_kernel(const T* qkv, const int32_t* seq_offsets, int num_heads, float scale_log2,
                         T* out, uint8_t* codes, const float* code_multipliers, bool int8_codes) {
  wait_for_previous_kernel();
  using Layout = MmaLayout<T, kHeadDim, kWarps>;
  constexpr int kQueryTile = Layout::kQueryTile;
  constexpr int kLd = Layout::kLdTile;
  constexpr int kDimChunks = kHeadDim / 16;  // k-steps of Q.K^T
  constexpr int kOutTiles = kHeadDim / 8;    // n-tiles of O
  const int seq = blockIdx.z;
  const int head = blockIdx.y;
  const int first_token = seq_offsets[seq];
  const int length = seq_offsets[seq + 1] - first_token;
  const int query_start = blockIdx.x * kQueryTile;
  if (query_start >= length) return;

  extern __shared__ __align__(128) unsigned char shared_bytes[];
  T* q_tile = reinterpret_cast<T*>(shared_bytes);
  T* k_tiles = reinterpret_cast<T*>(shared_bytes + Layout::kQBytes);
  T* v_tiles = reinterpret_cast<T*>(shared_bytes + Layout::kQBytes + 2 * Layout::kTileBytes);
  constexpr int kTileElements = kMmaKeyTile * kLd;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int group = lane / 4;
  const int quad = lane % 4;
  // A warp whose 16 rows all lie past the sequence's end (short sequences, the last query tile)
  // still loads and meets every barrier but skips the math.
  const bool warp_has_rows = query_start + warp * 16 < length;

  const int hidden = num_heads * kHeadDim;
  const int64_t row_stride = 3 * static_cast<int64_t>(hidden);
  const int num_key_tiles = (length + kMmaKeyTile - 1) / kMmaKeyTile;
  load_tile_async<T, kHeadDim, kQueryTile>(q_tile, kLd, qkv, row_stride, first_token + query_start,
                                              length - query_start, head * kHeadDim);
  load_tile_async<T, kHeadDim, kMmaKeyTile>(k_tiles, kLd, qkv, row_stride, first_token,
                                            min(kMmaKeyTile, length), hidden + head * kHeadDim);
  load_tile_async<T, kHeadDim, kMmaKeyTile>(v_tiles, kLd, qkv, row_stride, first_token,
                                            min(kMmaKeyTile, length), 2 * hidden + head * kHeadDim);
  commit_async_copies();

  uint32_t q_frag[kDimChunks][4];
  float o_acc[kOutTiles][4];
#pragma unroll
  for (int tile = 0; tile < kOutTiles; ++tile)
#pragma unroll
    for (int idx = 0; idx < 4; ++idx) o_acc[tile][idx] = 0.f;
  // Rows `group` and `group + 8` of this warp's 16.
  float row_max[2] = {-INFINITY, -INFINITY};
  float row_sum[2] = {0.f, 0.f};

  for (int key_tile = 0; key_tile < num_key_tiles; ++key_tile) {
    const int key_start = key_tile * kMmaKeyTile;
    const int buffer = key_tile & 1;
    if (key_tile + 1 < num_key_tiles) {
      // The other buffer was released by the __syncthreads() that ended the previous iteration.
      const int next_start = key_start + kMmaKeyTile;
      const int next_valid = min(kMmaKeyTile, length - next_start);
      load_tile_async<T, kHeadDim, kMmaKeyTile>(k_tiles + (buffer ^ 1) * kTileElements, kLd, qkv,
                                                row_stride, first_token + next_start, next_valid,
                                                hidden + head * kHeadDim);
      load_tile_async<T, kHeadDim, kMmaKeyTile>(v_tiles + (buffer ^ 1) * kTileElements, kLd, qkv,
                                                row_stride, first_token + next_start, next_valid,
                                                2 * hidden + head * kHeadDim);
      commit_async_copies();
      wait_async_copies_but<1>();  // this tile (and Q) have landed; the next may still be in flight
    } else {
      wait_async_copies_but<0>();
    }
    __syncthreads();
    if (warp_has_rows) {
      if (key_tile == 0) {
#pragma unroll
        for (int chunk = 0; chunk < kDimChunks; ++chunk)
          ldmatrix_x4(q_frag[chunk], q_tile + (warp * 16 + (lane % 16)) * kLd + chunk * 16 + (lane / 16) * 8);
      }
      const T* k_tile = k_tiles + buffer * kTileElements;
      const T* v_tile = v_tiles + buffer * kTileElements;
      attend_key_tile<T, kHeadDim>(q_frag, k_tile, v_tile, kLd, length - key_start, scale_log2, lane,
                                   o_acc, row_max, row_sum);
    }
    __syncthreads();  // every warp is done with this buffer before it is refilled
  }

  // Row sums were accumulated per thread over its columns only: add the quad's partial sums.
  float inv_sum[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float total = row_sum[half];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    inv_sum[half] = 1.f / total;
  }
  // Codes for the next GEMM (a calibrated per-tensor scale, and SmoothQuant divisors for INT8):
  // the context never exists in fp16. A multiplier per column, 1 / (scale x divisor[c]); each
  // thread owns two adjacent columns of every n-tile. E4M3 saturates; INT8 rounds half away from
  // zero and clamps to +-127, as the row epilogue does.
  // The warp's 16 output rows are staged in its own rows of the Q tile (read into registers at the
  // first key tile, never again), so the global stores are whole 16-byte pieces of each row instead
  // of 4-byte (fp16) or 2-byte (codes) pieces spread over 8 rows: under Nsight Compute the codes
  // kernel ran 12% slower than the fp16 one with the scattered stores.
  float2 multiplier[kOutTiles];
  if (codes) {
#pragma unroll
    for (int tile = 0; tile < kOutTiles; ++tile)
      multiplier[tile] = *reinterpret_cast<const float2*>(code_multipliers + head * kHeadDim +
                                                          tile * 8 + quad * 2);
  }
  const int element_bytes = codes ? 1 : static_cast<int>(sizeof(T));
  constexpr int kStagedPitch = kLd * static_cast<int>(sizeof(T));  // bytes, a multiple of 16
  unsigned char* staged = reinterpret_cast<unsigned char*>(q_tile + warp * 16 * kLd);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    unsigned char* staged_row = staged + (group + half * 8) * kStagedPitch;
#pragma unroll
    for (int tile = 0; tile < kOutTiles; ++tile) {
      const float low = o_acc[tile][half * 2] * inv_sum[half];
      const float high = o_acc[tile][half * 2 + 1] * inv_sum[half];
      unsigned char* at = staged_row + (tile * 8 + quad * 2) * element_bytes;
      if (codes && int8_codes) {
        const auto code = [&](float value) {
          return static_cast<uint8_t>(static_cast<int8_t>(int8_code(value)));
        };
        *reinterpret_cast<uint16_t*>(at) = static_cast<uint16_t>(
            code(low * multiplier[tile].x) |
            (static_cast<uint16_t>(code(high * multiplier[tile].y)) << 8));
      } else if (codes) {
        *reinterpret_cast<__nv_fp8x2_storage_t*>(at) = __nv_cvt_float2_to_fp8x2(
            make_float2(low * multiplier[tile].x, high * multiplier[tile].y), __NV_SATFINITE,
            __NV_E4M3);
      } else {
        *reinterpret_cast<uint32_t*>(at) = pack_pair<T>(low, high);
      }
    }
  }
  __syncwarp();
  unsigned char* destination = codes ? codes : reinterpret_cast<unsigned char*>(out);
  const int chunks_per_row = kHeadDim * element_bytes / 16;
  for (int idx = lane; idx < 16 * chunks_per_row; idx += 32) {
    const int row = idx / chunks_per_row;
    const int chunk = idx % chunks_per_row;
    const int query = query_start + warp * 16 + row;
    if (query >= length) continue;
    const int64_t element = static_cast<int64_t>(first_token + query) * hidden + head * kHeadDim;
    *reinterpret_cast<uint4*>(destination + element * element_bytes + chunk * 16) =
        *reinterpret_cast<const uint4*>(staged + row * kStagedPitch + chunk * 16);
  }
}

template <typename T, int kHeadDim>
Status launch_tensor_core(const T* qkv, const int32_t* seq_offsets, int64_t num_sequences,
                          int64_t max_sequence_length, int64_t num_heads, float scale_log2, T* out,
                          cudaStream_t stream) {
  constexpr size_t kSharedBytes = TcLayout<T, kHeadDim>::kTotalBytes;
  // The attribute must be raised once per kernel before the first launch that needs > 48 KB.
  static const cudaError_t attribute_error = cudaFuncSetAttribute(
      attention_tensor_core_kernel<T, kHeadDim>, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(kSharedBytes));
  JN_CUDA_CHECK(attribute_error);
  const dim3 grid(static_cast<unsigned int>((max_sequence_length + kTcQueryTile - 1) / kTcQueryTile),
                  static_cast<unsigned int>(num_heads), static_cast<unsigned int>(num_sequences));
  return launch_kernel("attention_tensor_core_kernel", attention_tensor_core_kernel<T, kHeadDim>,
                       grid, kTcThreads, kSharedBytes, stream, qkv, seq_offsets,
                       static_cast<int>(num_heads), scale_log2, out);
}

// The arguments every mma.sync launch takes; `codes` (with `code_multipliers`) replaces `out` when
// set.
template <typename T>
struct MmaLaunch {
  const T* qkv;
  const int32_t* seq_offsets;
  int64_t num_sequences;
  int64_t max_sequence_length;
  int64_t num_heads;
  float scale_log2;
  T* out;
  cudaStream_t stream;
  uint8_t* codes = nullptr;
  const float* code_multipliers = nullptr;
  bool int8_codes = false;
};

template <typename T, int kHeadDim, int kWarps>
Status launch_mma(const MmaLaunch<T>& args) {
  using Layout = MmaLayout<T, kHeadDim, kWarps>;
  constexpr size_t kSharedBytes = Layout::kTotalBytes;
  static const cudaError_t attribute_error = cudaFuncSetAttribute(
      attention_mma_kernel<T, kHeadDim, kWarps>, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(kSharedBytes));
  JN_CUDA_CHECK(attribute_error);
  const dim3 grid(
      static_cast<unsigned int>((args.max_sequence_length + Layout::kQueryTile - 1) /
                                Layout::kQueryTile),
      static_cast<unsigned int>(args.num_heads), static_cast<unsigned int>(args.num_sequences));
  return launch_kernel("attention_mma_kernel", attention_mma_kernel<T, kHeadDim, kWarps>, grid,
                       Layout::kThreads, kSharedBytes, args.stream, args.qkv, args.seq_offsets,
                       static_cast<int>(args.num_heads), args.scale_log2, args.out, args.codes,
                       args.code_multipliers, args.int8_codes);
}

// Calls launch(std::integral_constant<int, D>{}) with the tensor-core head_dim D (32, 64, 128).
template <typename Launch>
Status with_tensor_core_head_dim(int64_t head_dim, Launch&& launch) {
  switch (head_dim) {
    case 32: return launch(std::integral_constant<int, 32>{});
    case 64: return launch(std::integral_constant<int, 64>{});
    case 128: return launch(std::integral_constant<int, 128>{});
    default: break;
  }
  return unsupported("attention: head_dim " + std::to_string(head_dim) +
                     " has no tensor-core kernel (supported: 32, 64, 128)");
}

template <typename T>
Status launch_mma_kernel(AttentionKernel kernel, int64_t head_dim, const MmaLaunch<T>& args) {
  return with_tensor_core_head_dim(head_dim, [&](auto dim) -> Status {
    constexpr int kHeadDim = decltype(dim)::value;
    switch (kernel) {
      case AttentionKernel::kMma: return launch_mma<T, kHeadDim, 4>(args);
      case AttentionKernel::kMmaWide: return launch_mma<T, kHeadDim, 8>(args);
      default: break;
    }
    return internal_error("attention: not an mma.sync kernel");
  });
}

template <typename T, int kHeadDim>
Status launch_scalar(const T* qkv, const int32_t* seq_offsets, int64_t num_sequences,
                     int64_t max_sequence_length, int64_t num_heads, float scale_log2, T* out,
                     cudaStream_t stream) {
  const dim3 grid(
      static_cast<unsigned int>((max_sequence_length + kScalarQueryTile - 1) / kScalarQueryTile),
      static_cast<unsigned int>(num_heads), static_cast<unsigned int>(num_sequences));
  return launch_kernel("attention_scalar_kernel", attention_scalar_kernel<T, kHeadDim>, grid,
                       kScalarQueryTile, 0, stream, qkv, seq_offsets, static_cast<int>(num_heads),
                       scale_log2, out);
}

// kAuto's pick for the current device.
AttentionKernel auto_mma_kernel(int64_t head_dim, int64_t max_sequence_length, int64_t num_sequences,
                                int64_t num_heads) {
  int device = 0, multiprocessors = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    multiprocessors = 0;  // unknown: v4's full-wave condition then holds for any batch
  return auto_attention_kernel(head_dim, max_sequence_length, num_sequences, num_heads,
                               multiprocessors);
}

template <typename T>
Status dispatch_kernel(AttentionKernel kernel, const T* qkv, const int32_t* seq_offsets,
                       int64_t num_sequences, int64_t max_sequence_length, int64_t num_heads,
                       int64_t head_dim, float scale_log2, T* out, cudaStream_t stream) {
  const bool tensor_core_dim = head_dim == 32 || head_dim == 64 || head_dim == 128;
  if constexpr (!std::is_same_v<T, float>) {
    if (kernel == AttentionKernel::kAuto && tensor_core_dim)
      kernel = auto_mma_kernel(head_dim, max_sequence_length, num_sequences, num_heads);
    if (kernel == AttentionKernel::kTensorCore)
      return with_tensor_core_head_dim(head_dim, [&](auto dim) {
        return launch_tensor_core<T, decltype(dim)::value>(
            qkv, seq_offsets, num_sequences, max_sequence_length, num_heads, scale_log2, out, stream);
      });
    if (kernel == AttentionKernel::kMma || kernel == AttentionKernel::kMmaWide)
      return launch_mma_kernel<T>(kernel, head_dim,
                                  {qkv, seq_offsets, num_sequences, max_sequence_length, num_heads,
                                   scale_log2, out, stream});
  }
  switch (head_dim) {
    case 8: return launch_scalar<T, 8>(qkv, seq_offsets, num_sequences, max_sequence_length, num_heads, scale_log2, out, stream);
    case 16: return launch_scalar<T, 16>(qkv, seq_offsets, num_sequences, max_sequence_length, num_heads, scale_log2, out, stream);
    case 32: return launch_scalar<T, 32>(qkv, seq_offsets, num_sequences, max_sequence_length, num_heads, scale_log2, out, stream);
    case 64: return launch_scalar<T, 64>(qkv, seq_offsets, num_sequences, max_sequence_length, num_heads, scale_log2, out, stream);
    case 128: return launch_scalar<T, 128>(qkv, seq_offsets, num_sequences, max_sequence_length, num_heads, scale_log2, out, stream);
    default: break;
  }
  return internal_error("attention: head_dim " + std::to_string(head_dim) + " passed the checks");
}

}  // namespace

AttentionKernel auto_attention_kernel(int64_t head_dim, int64_t max_sequence_length,
                                      int64_t num_sequences, int64_t num_heads, int multiprocessors) {
  // v4 at head_dim 64 beyond 128 tokens (BERT-base 32x512 forward 7.38 vs 7.63 ms), and from 65 to
  // 128 tokens once its blocks (one per sequence and head) fill every SM: session 14, BERT-base
  // forwards in interleaved rounds, 32x128 and 128x128 1-1.7% faster in fp16 and fp8, while 1x128
  // (12 blocks) ran 1% slower. v3 elsewhere: few sequences, 64 tokens and below (half of v4's
  // 128-query block idle), head_dims 32 (MiniLM: v4 3-5% slower) and 128 (one v4 block an SM).
  if (head_dim != 64) return AttentionKernel::kMma;
  if (max_sequence_length > 128) return AttentionKernel::kMmaWide;
  const bool fills_device = num_sequences * num_heads >= multiprocessors;
  return max_sequence_length > 64 && fills_device ? AttentionKernel::kMmaWide : AttentionKernel::kMma;
}

std::optional<AttentionKernel> attention_kernel_from_name(std::string_view name) {
  if (name == "auto") return AttentionKernel::kAuto;
  if (name == "v4") return AttentionKernel::kMmaWide;
  if (name == "v3") return AttentionKernel::kMma;
  if (name == "v2") return AttentionKernel::kTensorCore;
  if (name == "scalar") return AttentionKernel::kScalar;
  return std::nullopt;
}

bool attention_kernel_writes_codes(AttentionKernel kernel) {
  return kernel == AttentionKernel::kAuto || kernel == AttentionKernel::kMma ||
         kernel == AttentionKernel::kMmaWide;
}

Status launch_attention_codes(const void* qkv, const int32_t* seq_offsets, int64_t num_sequences,
                              int64_t max_sequence_length, int64_t num_heads, int64_t head_dim,
                              CodeFormat format, uint8_t* codes, const float* code_multipliers,
                              cudaStream_t stream, AttentionKernel kernel) {
  if (!codes || !code_multipliers)
    return invalid_argument("attention (codes): codes and their multipliers are required");
  if (num_heads <= 0) return invalid_argument("attention: num_heads must be positive");
  if (!attention_kernel_writes_codes(kernel))
    return unsupported("attention (codes): only the mma.sync kernels write codes");
  if (num_sequences <= 0 || max_sequence_length <= 0) return ok_status();
  const float scale_log2 = kLog2e / std::sqrt(static_cast<float>(head_dim));
  if (kernel == AttentionKernel::kAuto)
    kernel = auto_mma_kernel(head_dim, max_sequence_length, num_sequences, num_heads);
  MmaLaunch<__half> args{static_cast<const __half*>(qkv), seq_offsets, num_sequences,
                         max_sequence_length, num_heads, scale_log2, nullptr, stream};
  args.codes = codes;
  args.code_multipliers = code_multipliers;
  args.int8_codes = format == CodeFormat::kInt8;
  return launch_mma_kernel<__half>(kernel, head_dim, args);
}

Status launch_attention(Precision precision, const void* qkv, const int32_t* seq_offsets,
                        int64_t num_sequences, int64_t max_sequence_length, int64_t num_heads,
                        int64_t head_dim, void* out, cudaStream_t stream, AttentionKernel kernel) {
  const bool tensor_core_dim = head_dim == 32 || head_dim == 64 || head_dim == 128;
  const bool scalar_dim = tensor_core_dim || head_dim == 8 || head_dim == 16;
  if (!scalar_dim)
    return unsupported("attention: head_dim " + std::to_string(head_dim) +
                       " is not supported (supported: 8, 16, 32, 64, 128)");
  if ((kernel == AttentionKernel::kTensorCore || kernel == AttentionKernel::kMma ||
       kernel == AttentionKernel::kMmaWide) &&
      (precision == Precision::kFp32 || !tensor_core_dim))
    return unsupported(std::string("attention: the tensor-core kernels need fp16/bf16 and head_dim "
                                   "32/64/128, got ") + precision_name(precision) + " and head_dim " +
                       std::to_string(head_dim));
  if (num_heads <= 0) return invalid_argument("attention: num_heads must be positive");
  if (num_sequences <= 0 || max_sequence_length <= 0) return ok_status();
  const float scale_log2 = kLog2e / std::sqrt(static_cast<float>(head_dim));
  return JN_DISPATCH_PRECISION(precision, [&]() -> Status {
    return dispatch_kernel<T>(kernel, static_cast<const T*>(qkv), seq_offsets,
                                num_sequences, max_sequence_length, num_heads, head_dim, scale_log2,
                                static_cast<T*>(out), stream);
  });
}

}  // namespace justnews::cuda
