#!/usr/bin/env bash
# Kernel time per forward of the CUDA encoder under Nsight Compute (device only; clocks left alone).
# Usage (after run_device_suite.sh has unpacked .carry/pack): profile_kernels.sh SHAPE PRECISION...
# e.g. profile_kernels.sh 128x128 fp16 fp8 int8. Writes $OUT/ncu_<precision>.csv and prints tables.
# BENCH_ARGS adds encoder options (e.g. BENCH_ARGS="--attention v4"; the files then end in _<tag>
# with TAG=...). KERNEL (a regex, KERNEL_SKIP launches skipped) profiles one launch of those kernels in
# detail instead. BENCH picks another build's bench (e.g. the before_after step's earlier one).
set -u
OUT=${OUT:-/tmp/out}
shape=$1
shift
bench=${BENCH:-.carry/bin/cuda_encoder_bench}
ncu_bin=$(command -v ncu || find / -name ncu -type f -perm -u+x -not -path '/proc/*' 2>/dev/null | head -1)
for precision in "$@"; do
  # Autotuning first, outside the profiler, into a timing cache; the profiled run reuses its choices
  # (so it runs the kernels a tuned encoder runs) without timing anything itself.
  tuning=$(mktemp)
  rm -f "$tuning"
  "$bench" --precision "$precision" --iterations 3 --models bert-base \
    --shapes "$shape" --gemm-tuning "$tuning" ${BENCH_ARGS:-} > /dev/null 2>&1
  if [ -n "${KERNEL:-}" ]; then
    # One launch of the kernels matching KERNEL (a regex) after KERNEL_SKIP others, in detail:
    # throughput, pipes, stall reasons, instruction mix.
    "$ncu_bin" --clock-control none --kernel-name "regex:$KERNEL" --launch-skip "${KERNEL_SKIP:-20}" \
      --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
      --section InstructionStats --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      "$bench" --precision "$precision" --iterations 3 --models bert-base \
      --shapes "$shape" --no-graphs --no-autotune --gemm-tuning "$tuning" ${BENCH_ARGS:-} 2>&1 \
      | grep -v "^==PROF==\|^ *-\+ *-*$"
    rm -f "$tuning"
    continue
  fi
  # No graphs (kernels profiled one by one), few iterations: every forward launches the same kernels.
  "$ncu_bin" --clock-control none --csv --metrics gpu__time_duration.sum \
    "$bench" --precision "$precision" --iterations 3 --models bert-base \
    --shapes "$shape" --no-graphs --no-autotune --gemm-tuning "$tuning" ${BENCH_ARGS:-} \
    > "$OUT/ncu_$precision${TAG:+_$TAG}.csv" \
    2> "$OUT/ncu_$precision${TAG:+_$TAG}.err"
  python3 bench/engine_cuda/kernel_summary.py "$OUT/ncu_$precision${TAG:+_$TAG}.csv" \
    "BERT-base $shape $precision ${BENCH_ARGS:-}"
  rm -f "$tuning"
done
