// The one CUTLASS 3 kernel template behind gemm_sm90.h: a TMA warp-specialised GEMM (A [M, K]
// row-major, B given as [N, K], both K-major as wgmma wants) whose epilogue is an epilogue visitor
// tree written once: for the FP8 / INT8 code GEMMs acc * col_scale[n] * row_scale[m] + bias[n] in
// fp16 (acc * col_scale[n] + bias[n] when the input's calibrated scale is folded into col_scale;
// or, when the successor's input has a calibrated scale too, the GELU of that as the successor's
// codes); for fp16 / bf16 GEMMs acc + bias[n], or gelu_erf(acc + bias[n]) for the FFN-in layers of
// erf-GELU models. Three schedules (gemm_sm90.h says when each pays): cooperative, ping-pong,
// small. Each instantiation lives in its own .cu file (CUTLASS kernels compile slowly; separate
// files build in parallel). The fp16 / bf16 GEMMs are timed, per shape class, against the caller's
// cuBLASLt path (gemm_sm90.cc); their GELU is the cheaper erf of element_types.cuh.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "core/status.h"
#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"
#include "engine/cuda/dependent_launch.h"
#include "engine/cuda/element_types.cuh"
#include "engine/cuda/sm90/gemm_sm90.h"
#include "quant/int8_quant.h"

namespace justnews::cuda::sm90 {

using namespace cute;

struct Cooperative {
  template <class ElementAB>
  using Tile = cute::Shape<_256, _128, Int<128 / sizeof(ElementAB)>>;
  using Cluster = cute::Shape<_1, _2, _1>;
  template <bool kFp8>
  using Mainloop =
      std::conditional_t<kFp8, cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum,
                         cutlass::gemm::KernelTmaWarpSpecializedCooperative>;
  using Epilogue = cutlass::epilogue::TmaWarpSpecializedCooperative;
};

struct Pingpong {
  template <class ElementAB>
  using Tile = cute::Shape<_128, _128, Int<128 / sizeof(ElementAB)>>;
  using Cluster = cute::Shape<_2, _1, _1>;
  template <bool kFp8>
  using Mainloop =
      std::conditional_t<kFp8, cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum,
                         cutlass::gemm::KernelTmaWarpSpecializedPingpong>;
  using Epilogue = cutlass::epilogue::TmaWarpSpecialized;
};

// Ping-pong with 64 x 64 tiles, for a few hundred rows: at 128 rows the 768-wide layers make 24 tiles
// (6 of 128 x 128), so more SMs stream the weights; the pair of row tiles shares each weight tile.
struct Small {
  template <class ElementAB>
  using Tile = cute::Shape<_64, _64, Int<128 / sizeof(ElementAB)>>;
  using Cluster = cute::Shape<_2, _1, _1>;
  template <bool kFp8>
  using Mainloop = typename Pingpong::template Mainloop<kFp8>;
  using Epilogue = cutlass::epilogue::TmaWarpSpecialized;
};

// A TMA warp-specialised GEMM whose epilogue is the visitor tree `TreeFor<TileShape>`, writing
// ElementD once: A [m, k] row-major, B [n, k] (column-major as wgmma's K-major operand), D [m, n].
// ElementB differs from ElementAB (A's type) only for unsigned activation codes (uint8 x int8).
template <class ElementAB, class ElementAccumulator, class ElementD, class Schedule,
          template <class> class TreeFor, class ElementB = ElementAB>
struct TmaGemm {
  static_assert(sizeof(ElementB) == sizeof(ElementAB), "A and B codes share one tile depth");
  using TileShape = typename Schedule::template Tile<ElementAB>;
  using ClusterShape = typename Schedule::Cluster;
  using MainloopSchedule =
      typename Schedule::template Mainloop<std::is_same_v<ElementAB, cutlass::float_e4m3_t>>;
  using ElementCompute = float;
  static constexpr int kAlignAB = 16 / sizeof(ElementAB);
  static constexpr int kAlignD = 16 / sizeof(ElementD);
  using Tree = TreeFor<TileShape>;

  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, ElementAccumulator, ElementCompute, void,
      cutlass::layout::RowMajor, kAlignD, ElementD, cutlass::layout::RowMajor, kAlignD,
      typename Schedule::Epilogue, Tree>::CollectiveOp;
  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementAB, cutlass::layout::RowMajor,
      kAlignAB, ElementB, cutlass::layout::ColumnMajor, kAlignAB, ElementAccumulator, TileShape,
      ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      MainloopSchedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, CollectiveMainloop,
                                                      CollectiveEpilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static Status run(int64_t rows, int64_t cols, int64_t depth, const void* a, const void* b,
                    void* out, typename Tree::Arguments tree, void* workspace,
                    size_t workspace_bytes, cudaStream_t stream) {
    const int m = static_cast<int>(rows), n = static_cast<int>(cols), k = static_cast<int>(depth);
    using StrideA = typename Kernel::StrideA;
    using StrideB = typename Kernel::StrideB;
    using StrideD = typename Kernel::StrideD;
    typename Gemm::Arguments arguments{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {m, n, k, 1},
        {static_cast<const ElementAB*>(a),
         cutlass::make_cute_packed_stride(StrideA{}, make_shape(m, k, 1)),
         static_cast<const ElementB*>(b),
         cutlass::make_cute_packed_stride(StrideB{}, make_shape(n, k, 1))},
        {tree,
         nullptr,
         cutlass::make_cute_packed_stride(StrideD{}, make_shape(m, n, 1)),
         static_cast<ElementD*>(out),
         cutlass::make_cute_packed_stride(StrideD{}, make_shape(m, n, 1))}};
    arguments.hw_info.sm_count = multiprocessor_count();
    Gemm gemm;
    const std::string shape =
        std::to_string(rows) + "x" + std::to_string(cols) + "x" + std::to_string(depth);
    if (gemm.can_implement(arguments) != cutlass::Status::kSuccess)
      return unsupported("sm90 GEMM: the kernel cannot take the problem " + shape);
    const size_t needed = Gemm::get_workspace_size(arguments);
    if (needed > workspace_bytes)
      return internal_error("sm90 GEMM: needs " + std::to_string(needed) +
                            " bytes of workspace, has " + std::to_string(workspace_bytes));
    if (gemm.initialize(arguments, workspace, stream) != cutlass::Status::kSuccess)
      return internal_error("sm90 GEMM: initialising the kernel for " + shape + " failed");
    // As a dependent launch (dependent_launch.h), the kernel's producer warps wait for the previous
    // kernel before their first load (CUTLASS_ENABLE_GDC_FOR_SM90).
    if (gemm.run(stream, /*cuda_adapter=*/nullptr, dependent_launch_on(stream)) !=
        cutlass::Status::kSuccess)
      return internal_error("sm90 GEMM: launching the kernel for " + shape +
                            " failed: " + cudaGetErrorString(cudaGetLastError()));
    return ok_status();
  }

  static int multiprocessor_count() {
    int device = 0;
    cudaGetDevice(&device);
    return cutlass::KernelHardwareInfo::query_device_multiprocessor_count(device);
  }
};

using cutlass::epilogue::fusion::Sm90AccFetch;
using cutlass::epilogue::fusion::Sm90Compute;
using cutlass::epilogue::fusion::Sm90EVT;
constexpr auto kRound = cutlass::FloatRoundStyle::round_to_nearest;

// Per-column vector (bias, weight scales) and per-row vector (token scales) of the output tile.
template <class TileShape, class Element>
using ColumnVector =
    cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, Element, float, Stride<_0, _1, _0>>;
template <class TileShape, class Element>
using RowVector =
    cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, Element, float, Stride<_1, _0, _0>>;

// acc * row_scale[m] * col_scale[n] + bias[n], rounded once to fp16.
template <class TileShape>
using ScaledTree = Sm90EVT<
    Sm90Compute<cutlass::multiply_add, cutlass::half_t, float, kRound>,
    RowVector<TileShape, float>,
    Sm90EVT<Sm90Compute<cutlass::multiplies, float, float, kRound>, Sm90AccFetch,
            ColumnVector<TileShape, float>>,
    ColumnVector<TileShape, cutlass::half_t>>;

// acc * col_scale[n] + bias[n], rounded once to fp16: an input with a calibrated per-tensor scale,
// which the caller folds into col_scale. One FMA per value and no row vector: at depth 768 the
// GEMMs' epilogues are not hidden behind the other warpgroup's MMAs, so each instruction counts.
template <class TileShape>
using FoldedScaledTree =
    Sm90EVT<Sm90Compute<cutlass::multiply_add, cutlass::half_t, float, kRound>, Sm90AccFetch,
            ColumnVector<TileShape, float>, ColumnVector<TileShape, cutlass::half_t>>;

// The INT8 codes of GeluCodesTree, from the GELU (in its cheaper form for values that become
// codes, element_types.cuh) and the column's multiplier (1 / (scale x SmoothQuant divisor[n])).
// Signed: +-127 of gelu * multiplier, rounded half away from zero and clamped here, as the row
// epilogue and the CPU quantiser do (the conversion's round-to-nearest then has nothing to round).
struct SignedGeluCode {
  CUTLASS_DEVICE static float of(float gelu, float multiplier) {
    return int8_code(gelu * multiplier);
  }
};
// Unsigned: the FFN-out input's asymmetric codes, 0..255 of (gelu - kGeluFloor) * multiplier (about
// twice the resolution of +-127 codes; quant/int8_quant.h), rounded to nearest and clamped.
struct UnsignedGeluCode {
  CUTLASS_DEVICE static float of(float gelu, float multiplier) {
    return fminf(fmaxf(rintf((gelu - kGeluFloor) * multiplier), 0.f),
                 static_cast<float>(kInt8AsymmetricMaxCode));
  }
};
template <class GeluCode>
struct GeluTimesMultiplier {
  template <class T>
  struct Op {};  // only arrays of floats are visited
  template <int N>
  struct Op<cutlass::Array<float, N>> {
    CUTLASS_DEVICE cutlass::Array<float, N> operator()(
        cutlass::Array<float, N> const& x, cutlass::Array<float, N> const& multiplier) const {
      cutlass::Array<float, N> out;
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < N; ++i) out[i] = GeluCode::of(gelu_erf_for_codes(x[i]), multiplier[i]);
      return out;
    }
  };
};

// The E4M3 codes: GELU two values at a time in packed fp16 (gelu_for_codes_x2), returned as fp16
// for the packed, saturating fp16 -> E4M3 conversion.
struct GeluOverScaleFp16x2 {
  template <class T>
  struct Op {};  // only arrays of floats are visited
  template <int N>
  struct Op<cutlass::Array<float, N>> {
    static_assert(N % 2 == 0, "values are converted in pairs");
    CUTLASS_DEVICE cutlass::Array<cutlass::half_t, N> operator()(
        cutlass::Array<float, N> const& x, cutlass::Array<float, N> const& scale) const {
      const __half2 half_inverse = __float2half2_rn(0.5f / scale[0]);  // one scalar, broadcast
      cutlass::Array<cutlass::half_t, N> out;
      __half2* pairs = reinterpret_cast<__half2*>(out.data());
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < N / 2; ++i)
        pairs[i] = gelu_for_codes_x2(__floats2half2_rn(x[2 * i], x[2 * i + 1]), half_inverse);
      return out;
    }
  };
};

// Codes of gelu_erf(acc * col_scale[n] + bias[n]) for the next GEMM's input, which has a
// calibrated per-tensor scale: E4M3 codes of that / next_scale (a broadcast scalar; FP8 inputs have
// no SmoothQuant divisors), INT8 codes of that * multiplier[n] (1 / (next_scale x divisor[n])). The
// FFN-in GEMM writes the FFN-out GEMM's input this way, so no row pass (GELU, absmax, codes)
// follows it. Its own input has a calibrated per-tensor scale too, so the caller folds that into
// col_scale: one FMA per value before the GELU, no row vector.
// OutCodes uint8_t: the INT8 path's asymmetric codes (UnsignedGeluCode), multipliers as for INT8.
template <class OutCodes>
struct GeluCodesTree {
  static constexpr bool kFp8 = std::is_same_v<OutCodes, cutlass::float_e4m3_t>;
  template <class T>
  using Op = typename std::conditional_t<
      kFp8, GeluOverScaleFp16x2,
      GeluTimesMultiplier<std::conditional_t<std::is_same_v<OutCodes, uint8_t>, UnsignedGeluCode,
                                             SignedGeluCode>>>::template Op<T>;
  template <class TileShape>
  using For = Sm90EVT<
      Sm90Compute<Op, OutCodes, float, kRound>,
      Sm90EVT<Sm90Compute<cutlass::multiply_add, float, float, kRound>, Sm90AccFetch,
              ColumnVector<TileShape, float>, ColumnVector<TileShape, cutlass::half_t>>,
      std::conditional_t<kFp8, cutlass::epilogue::fusion::Sm90ScalarBroadcast<float>,
                         ColumnVector<TileShape, float>>>;
};

// gelu_erf(acc + bias): the two-input node of BiasGeluTree.
template <class T>
struct AddGeluErf {
  CUTLASS_DEVICE T operator()(T const& acc, T const& bias) const { return gelu_erf_fast(acc + bias); }
};
template <int N>
struct AddGeluErf<cutlass::Array<float, N>> {
  CUTLASS_DEVICE cutlass::Array<float, N> operator()(cutlass::Array<float, N> const& acc,
                                                     cutlass::Array<float, N> const& bias) const {
    cutlass::Array<float, N> out;
    CUTLASS_PRAGMA_UNROLL
    for (int i = 0; i < N; ++i) out[i] = gelu_erf_fast(acc[i] + bias[i]);
    return out;
  }
};

// gelu_erf(acc + bias[n]) in the activations' element type (fp16 / bf16).
template <class Element>
struct BiasGeluTree {
  template <class TileShape>
  using For = Sm90EVT<Sm90Compute<AddGeluErf, Element, float, kRound>, Sm90AccFetch,
                      ColumnVector<TileShape, Element>>;
};

// acc + bias[n] in the activations' element type.
template <class Element>
struct BiasTree {
  template <class TileShape>
  using For = Sm90EVT<Sm90Compute<cutlass::plus, Element, float, kRound>, Sm90AccFetch,
                      ColumnVector<TileShape, Element>>;
};

}  // namespace justnews::cuda::sm90

namespace justnews::cuda::sm90 {

// The bodies of the per-file entry points (gemm_sm90_kernels.h). Without row scales the input's
// scale is folded into the column scales (FoldedScaledTree).
template <class ElementAB, class ElementAccumulator, class Schedule>
Status run_scaled_gemm(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                       cudaStream_t stream) {
  const auto* bias = static_cast<const cutlass::half_t*>(args.bias);
  if (!args.row_scales) {
    using Gemm =
        TmaGemm<ElementAB, ElementAccumulator, cutlass::half_t, Schedule, FoldedScaledTree>;
    typename Gemm::Tree::Arguments tree{{}, {args.col_scales}, {bias}, {}};
    return Gemm::run(args.rows, args.cols, args.depth, args.input_codes, args.weight_codes,
                     args.out, tree, workspace, workspace_bytes, stream);
  }
  using Gemm = TmaGemm<ElementAB, ElementAccumulator, cutlass::half_t, Schedule, ScaledTree>;
  typename Gemm::Tree::Arguments tree{{args.row_scales}, {{}, {args.col_scales}, {}}, {bias}, {}};
  return Gemm::run(args.rows, args.cols, args.depth, args.input_codes, args.weight_codes, args.out,
                   tree, workspace, workspace_bytes, stream);
}

// Codes: cutlass::float_e4m3_t (fp32 accumulation) or int8_t (int32) in; the same out, or for
// int8_t in, uint8_t (asymmetric) codes out.
template <class Codes, class Schedule, class OutCodes = Codes>
Status run_gelu_codes_gemm(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  using Accumulator = std::conditional_t<std::is_same_v<Codes, int8_t>, int32_t, float>;
  using Gemm =
      TmaGemm<Codes, Accumulator, OutCodes, Schedule, GeluCodesTree<OutCodes>::template For>;
  const auto* bias = static_cast<const cutlass::half_t*>(args.bias);
  if constexpr (std::is_same_v<Codes, int8_t>) {
    typename Gemm::Tree::Arguments tree{
        {{}, {args.col_scales}, {bias}, {}}, {args.gelu_code_multipliers}, {}};
    return Gemm::run(args.rows, args.cols, args.depth, args.input_codes, args.weight_codes,
                     args.out, tree, workspace, workspace_bytes, stream);
  } else {
    typename Gemm::Tree::Arguments tree{
        {{}, {args.col_scales}, {bias}, {}}, {{}, {args.gelu_codes_scale}, {}}, {}};
    return Gemm::run(args.rows, args.cols, args.depth, args.input_codes, args.weight_codes,
                     args.out, tree, workspace, workspace_bytes, stream);
  }
}

// uint8 activation codes (asymmetric, quant/int8_quant.h) times int8 weights: acc * col_scale[n]
// + bias[n] in fp16, the input's calibrated scale folded into col_scale and the offset's share into
// the bias by the caller.
template <class Schedule>
Status run_unsigned_scaled_gemm(const Sm90ScaledGemmArgs& args, void* workspace,
                                size_t workspace_bytes, cudaStream_t stream) {
  using Gemm =
      TmaGemm<uint8_t, int32_t, cutlass::half_t, Schedule, FoldedScaledTree, int8_t>;
  typename Gemm::Tree::Arguments tree{
      {}, {args.col_scales}, {static_cast<const cutlass::half_t*>(args.bias)}, {}};
  return Gemm::run(args.rows, args.cols, args.depth, args.input_codes, args.weight_codes, args.out,
                   tree, workspace, workspace_bytes, stream);
}

// gelu_erf(acc + bias) with kGelu, acc + bias without.
template <class Element, class Schedule, bool kGelu>
Status run_bias_gemm(const Sm90BiasGemmArgs& args, void* workspace, size_t workspace_bytes,
                     cudaStream_t stream) {
  using Tree = std::conditional_t<kGelu, BiasGeluTree<Element>, BiasTree<Element>>;
  using Gemm = TmaGemm<Element, float, Element, Schedule, Tree::template For>;
  typename Gemm::Tree::Arguments tree{{}, {static_cast<const Element*>(args.bias)}, {}};
  return Gemm::run(args.rows, args.cols, args.depth, args.input, args.weight, args.out, tree,
                   workspace, workspace_bytes, stream);
}

}  // namespace justnews::cuda::sm90
