// The one CUTLASS 3 kernel template behind gemm_sm90.h: a TMA warp-specialised GEMM (A [M, K]
// row-major, B given as [N, K], both K-major as wgmma wants) whose epilogue is an epilogue visitor
// tree: acc * col_scale[n] * row_scale[m] + bias[n], rounded once to fp16. Two schedules:
// cooperative (two warpgroups share a 256-row tile) and ping-pong (each warpgroup owns a 128-row
// tile; one's epilogue overlaps the other's MMAs). Each instantiation lives in its own .cu file
// (CUTLASS kernels compile slowly; separate files build in parallel). GELU stays out of the
// epilogue: fused here (erff, session 3) it cost 60-190 us per BERT-base FFN GEMM on the H200, more
// than the separate pass it saved, because the epilogue runs on only two warpgroups per SM.
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
#include "engine/cuda/sm90/gemm_sm90.h"

namespace justnews::cuda::sm90 {

using namespace cute;

struct Cooperative {
  template <class ElementAB>
  using Tile = Shape<_256, _128, Int<128 / sizeof(ElementAB)>>;
  using Cluster = Shape<_1, _2, _1>;
  template <bool kFp8>
  using Mainloop =
      std::conditional_t<kFp8, cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum,
                         cutlass::gemm::KernelTmaWarpSpecializedCooperative>;
  using Epilogue = cutlass::epilogue::TmaWarpSpecializedCooperative;
};

struct Pingpong {
  template <class ElementAB>
  using Tile = Shape<_128, _128, Int<128 / sizeof(ElementAB)>>;
  using Cluster = Shape<_2, _1, _1>;
  template <bool kFp8>
  using Mainloop =
      std::conditional_t<kFp8, cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum,
                         cutlass::gemm::KernelTmaWarpSpecializedPingpong>;
  using Epilogue = cutlass::epilogue::TmaWarpSpecialized;
};

template <class ElementAB, class ElementAccumulator, class Schedule>
struct ScaledGemm {
  using TileShape = typename Schedule::template Tile<ElementAB>;
  using ClusterShape = typename Schedule::Cluster;
  using MainloopSchedule =
      typename Schedule::template Mainloop<std::is_same_v<ElementAB, cutlass::float_e4m3_t>>;
  using ElementD = cutlass::half_t;
  using ElementBias = cutlass::half_t;
  using ElementCompute = float;
  static constexpr auto kRound = cutlass::FloatRoundStyle::round_to_nearest;
  static constexpr int kAlignAB = 16 / sizeof(ElementAB);
  static constexpr int kAlignD = 16 / sizeof(ElementD);

  // Leaves of the tree.
  using Accumulator = cutlass::epilogue::fusion::Sm90AccFetch;
  using ColScale =
      cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, float, float, Stride<_0, _1, _0>>;
  using RowScale =
      cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, float, float, Stride<_1, _0, _0>>;
  using Bias = cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, ElementBias,
                                                           ElementCompute, Stride<_0, _1, _0>>;
  using ScaleByCol = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::multiplies, ElementCompute, ElementCompute,
                                             kRound>,
      Accumulator, ColScale>;
  using Tree = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::multiply_add, ElementD, ElementCompute,
                                             kRound>,
      RowScale, ScaleByCol, Bias>;

  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, ElementAccumulator, ElementCompute, void,
      cutlass::layout::RowMajor, kAlignD, ElementD, cutlass::layout::RowMajor, kAlignD,
      typename Schedule::Epilogue, Tree>::CollectiveOp;
  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementAB, cutlass::layout::RowMajor,
      kAlignAB, ElementAB, cutlass::layout::ColumnMajor, kAlignAB, ElementAccumulator, TileShape,
      ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      MainloopSchedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, CollectiveMainloop,
                                                      CollectiveEpilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static Status run(int64_t rows, int64_t cols, int64_t depth, const void* a, const void* b,
                    const float* row_scales, const float* col_scales, const void* bias, void* out,
                    void* workspace, size_t workspace_bytes, cudaStream_t stream) {
    const int m = static_cast<int>(rows), n = static_cast<int>(cols), k = static_cast<int>(depth);
    using StrideA = typename Kernel::StrideA;
    using StrideB = typename Kernel::StrideB;
    using StrideD = typename Kernel::StrideD;
    typename Gemm::Arguments arguments{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {m, n, k, 1},
        {static_cast<const ElementAB*>(a),
         cutlass::make_cute_packed_stride(StrideA{}, make_shape(m, k, 1)),
         static_cast<const ElementAB*>(b),
         cutlass::make_cute_packed_stride(StrideB{}, make_shape(n, k, 1))},
        {{{row_scales}, {{}, {col_scales}, {}}, {static_cast<const ElementBias*>(bias)}, {}},
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
    if (gemm.run(stream) != cutlass::Status::kSuccess)
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

}  // namespace justnews::cuda::sm90

namespace justnews::cuda::sm90 {

// The body of the per-file entry points (gemm_sm90_kernels.h).
template <class ElementAB, class ElementAccumulator, class Schedule>
Status run_scaled_gemm(const Sm90ScaledGemmArgs& args, void* workspace, size_t workspace_bytes,
                       cudaStream_t stream) {
  return ScaledGemm<ElementAB, ElementAccumulator, Schedule>::run(
      args.rows, args.cols, args.depth, args.input_codes, args.weight_codes, args.row_scales,
      args.col_scales, args.bias, args.out, workspace, workspace_bytes, stream);
}

}  // namespace justnews::cuda::sm90
