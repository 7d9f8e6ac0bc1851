#!/usr/bin/env bash
# One device call for the whole GPU suite: GPU tests, the encoder in every precision beside the
# torch peers, tokenizer scaling on the device's cores (side by side with HF tokenizers), and the
# 3-agent CUDA pipeline on Reuters (fp16, and fp8 classifiers). Expects, carried:
# .carry/pack/carry.tar.xz (bin/ + lib/, see docs/benchmarks.md) and .carry/news/*.jsonl (a copy
# of ../shared/data/news, which does not travel) and .carry/news_mix.ids (bench/peers/make_news_mix.py).
# Logs go to $OUT. Steps: tests ops engine peer side_by_side launch_ab bias_ab attention_ab quantized
# weight_only weight_only_ab smooth_ab before_after profile attention attention_profile tokenizer pipeline pipeline_fp8.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
tar -xJf .carry/pack/carry.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
mkdir -p ../shared/data/news && cp .carry/news/*.jsonl ../shared/data/news/
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv | tee "$OUT/device.txt"
nproc | tee -a "$OUT/device.txt"
# The torch peers on BERT-base (bench/peers/torch_peer.py), into $OUT/peer.log.
run_peers() {
  PYTHONUNBUFFERED=1 timeout ${PEER_TIMEOUT_S:-240} python3 bench/peers/torch_peer.py --iterations 50 \
    --models bert-base --variants gemm_floor,sdpa,compile_reduce_overhead --news-mix .carry/news_mix.ids \
    --budget-s ${PEER_BUDGET_S:-200} 2>&1 | grep -v Warning | tee "$OUT/peer.log"
}
for step in "$@"; do
  case "$step" in
    tests)
      for test in engine_cuda_ops_test engine_cuda_encoder_test engine_cuda_plan_test memory_cuda_test \
                  engine_cuda_quantized_test engine_cuda_int4_linear_test runtime_three_agents_memory_test \
                  runtime_plan_cache_agent_test; do
        [ -x .carry/bin/$test ] || { echo "missing $test"; continue; }
        .carry/bin/$test --gtest_brief=1 2>&1 | tee "$OUT/$test.log" | grep -v "^\[  *OK\|^\[ RUN" | tail -12
      done
      ;;
    ops)
      # Memory-bound kernels alone, GB/s beside a device-to-device copy.
      .carry/bin/cuda_ops_bench 2>&1 | tee "$OUT/ops.log"
      ;;
    profile)
      # Kernel time per forward under Nsight Compute (kernel_summary.py tables): PROFILE_SHAPES
      # (default 128x128) x PROFILE_PRECISIONS (default fp16 fp8); BENCH_ARGS, BENCH and TAG as in
      # profile_kernels.sh.
      for shape in ${PROFILE_SHAPES:-128x128}; do
        TAG=${TAG:-}${TAG:+_}$shape bash bench/engine_cuda/profile_kernels.sh $shape ${PROFILE_PRECISIONS:-fp16 fp8}
      done 2>&1 | tee -a "$OUT/profile.log"
      ;;
    attention_profile)
      # The attention kernels alone under Nsight Compute (throughput, occupancy, stall reasons):
      # BERT-base fp16, one layer's launch after the warm-up forwards, v3 and v4 at 128 tokens.
      ncu_bin=$(command -v ncu || find / -name ncu -type f -perm -u+x -not -path '/proc/*' 2>/dev/null | head -1)
      for shape in 32x128 128x128; do
        for attention in v3 v4; do
          echo "## $shape --attention $attention"
          "$ncu_bin" --clock-control none --kernel-name regex:attention_mma --launch-skip 30 --launch-count 1 \
            --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
            --section MemoryWorkloadAnalysis --section LaunchStats \
            .carry/bin/cuda_encoder_bench --precision fp16 --iterations 3 --models bert-base \
            --shapes $shape --no-graphs --attention $attention 2>&1 | grep -v "^==PROF==\|^  *-\+$"
        done
      done 2>&1 | tee "$OUT/attention_profile.log"
      ;;
    engine)
      # Our encoder in every precision and the torch peers, in one call (ratios in docs/benchmarks.md).
      news_mix=.carry/news_mix.ids
      {
        for precision in fp16 fp8 int8 int4 nf4; do
          .carry/bin/cuda_encoder_bench --precision $precision --iterations 100 --models bert-base,minilm \
            --news-mix $news_mix
        done
        # fp8 with calibrated per-tensor scales (codes written by attention and the FFN-in GEMM), and
        # fp16 without the fused bias + GELU GEMM, for the A/B.
        .carry/bin/cuda_encoder_bench --precision fp8 --static-scales --iterations 100 --models bert-base,minilm \
          --news-mix $news_mix
        .carry/bin/cuda_encoder_bench --precision fp16 --no-fused-gelu --iterations 100 --models bert-base
        .carry/bin/cuda_encoder_bench --precision fp16 --iterations 100 --models bert-base --gelu-tanh
      } 2>&1 | tee "$OUT/engine.log"
      [ -x .carry/bin/int4_linear_bench ] && .carry/bin/int4_linear_bench 2>&1 | tee "$OUT/int4_linear.log" | tail -30
      run_peers
      ;;
    peer)
      # The torch peers alone (after `quantized` they make the session's side-by-side table).
      run_peers
      ;;
    launch_ab)
      # Dependent launches (PDL) on and off, interleaved, BERT-base in the precisions that matter.
      news_mix=.carry/news_mix.ids
      for args in "fp16" "fp8 --static-scales" "int8" "int8 --static-scales"; do
        for launch in "" "--no-dependent-launch"; do
          echo "## --precision $args $launch"
          .carry/bin/cuda_encoder_bench --precision $args $launch --iterations 100 --models bert-base \
            --news-mix $news_mix
        done
      done 2>&1 | tee "$OUT/launch_ab.log"
      ;;
    bias_ab)
      # fp16 / bf16 bias GEMMs through the sm90 candidates (tuned against cuBLASLt) or always
      # cuBLASLt (--no-sm90-bias), interleaved AB_REPEATS times (default 1); the tuning log lines name
      # each candidate's time. AB_PRECISIONS (default "fp16 bf16"), AB_ARGS (default: both models,
      # the default shapes and the news mix).
      for repeat in $(seq ${AB_REPEATS:-1}); do
        for args in ${AB_PRECISIONS:-fp16 bf16}; do
          for bias in "" "--no-sm90-bias"; do
            echo "## repeat $repeat --precision $args $bias"
            .carry/bin/cuda_encoder_bench --precision $args $bias --iterations 100 \
              ${AB_ARGS:---models bert-base,minilm --news-mix .carry/news_mix.ids}
          done
        done
      done 2>&1 | tee "$OUT/bias_ab.log"
      ;;
    attention_ab)
      # Attention kernels through the whole encoder, interleaved AB_REPEATS times (default 1):
      # ATTENTION_KERNELS (default "v3 v4") x AB_PRECISIONS (default "fp16" and fp8 with
      # calibrated scales, whose attention writes codes), both models, default shapes + news mix.
      for repeat in $(seq ${AB_REPEATS:-1}); do
        for args in ${AB_PRECISIONS:-fp16 fp8_static}; do
          for attention in ${ATTENTION_KERNELS:-v3 v4}; do
            echo "## repeat $repeat --precision $args --attention $attention"
            .carry/bin/cuda_encoder_bench --precision ${args/_static/ --static-scales} --attention $attention \
              --iterations 100 ${AB_ARGS:---models bert-base,minilm --news-mix .carry/news_mix.ids}
          done
        done
      done 2>&1 | tee "$OUT/attention_ab.log"
      ;;
    attention)
      # The attention kernels alone (dev/cuda/attention_forward.cu, built by hand into .carry/bin).
      .carry/bin/attention_forward 50 2>&1 | tee "$OUT/attention.log"
      ;;
    side_by_side)
      # Our fp16 BERT-base, the torch peers, ours again, in one call: the session's ratios.
      news_mix=.carry/news_mix.ids
      .carry/bin/cuda_encoder_bench --precision fp16 --iterations 100 --models bert-base \
        --news-mix $news_mix 2>&1 | tee "$OUT/ours_before_peer.log"
      run_peers
      .carry/bin/cuda_encoder_bench --precision fp16 --iterations 100 --models bert-base \
        --news-mix $news_mix 2>&1 | tee "$OUT/ours_after_peer.log"
      ;;
    quantized)
      # The 8-bit precisions against our fp16 in one call (fp16 first and last: the drift between).
      news_mix=.carry/news_mix.ids
      for args in "fp16" "fp8" "fp8 --static-scales" "int8" "int8 --static-scales" "fp16"; do
        .carry/bin/cuda_encoder_bench --precision $args --iterations 100 --models bert-base,minilm \
          --news-mix $news_mix
      done 2>&1 | tee "$OUT/quantized.log"
      ;;
    weight_only)
      # The weight-only formats (memory, not speed) against our fp16, fp16 first and last.
      for args in "fp16" "int8-weight-only" "int4" "nf4" "fp16"; do
        .carry/bin/cuda_encoder_bench --precision $args --iterations 100 --models bert-base,minilm
      done 2>&1 | tee "$OUT/weight_only.log"
      ;;
    weight_only_ab)
      # int8-weight-only with its decoded weights through our sm90 bias GEMMs (the default) and
      # through cuBLASLt only (--no-sm90-bias), interleaved twice.
      for round in 1 2; do
        for args in "int8-weight-only" "int8-weight-only --no-sm90-bias"; do
          echo "## round $round: --precision $args"
          .carry/bin/cuda_encoder_bench --precision $args --iterations 100 --models bert-base,minilm
        done
      done 2>&1 | tee "$OUT/weight_only_ab.log"
      ;;
    smooth_ab)
      # INT8 with calibrated per-tensor scales, without and with SmoothQuant divisors (alpha 0.7,
      # the accurate variant) and with symmetric FFN-out codes, calibrated FP8, the per-token paths
      # (whose FFN codes come from a row pass) and fp16 beside them.
      for round in 1 2; do
        for args in "int8 --static-scales" "int8 --static-scales --smoothquant-alpha 0.7" \
                    "int8 --static-scales --smoothquant-alpha 0.7 --symmetric-ffn-codes" \
                    "fp8 --static-scales" "int8" "fp8" "fp16"; do
          echo "## round $round: --precision $args"
          .carry/bin/cuda_encoder_bench --precision $args --iterations 100 --models bert-base,minilm
        done
      done 2>&1 | tee "$OUT/smooth_ab.log"
      ;;
    before_after)
      # This build's bench against an earlier build's (.carry/before/cuda_encoder_bench.xz, linked
      # against the same libraries), interleaved, for a change no run-time switch can undo.
      xz -dkf .carry/before/cuda_encoder_bench.xz && chmod +x .carry/before/cuda_encoder_bench
      news_mix=.carry/news_mix.ids
      for args in "fp16" "fp8 --static-scales" "int8 --static-scales" \
                  "int8 --static-scales --smoothquant-alpha 0.7"; do
        for bench in .carry/before/cuda_encoder_bench .carry/bin/cuda_encoder_bench; do
          echo "## $bench --precision $args"
          $bench --precision $args --iterations 100 --models bert-base,minilm --news-mix $news_mix
        done
      done 2>&1 | tee "$OUT/before_after.log"
      ;;
    tokenizer)
      PYTHONUNBUFFERED=1 python3 bench/peers/tokenizer_peer.py --bench .carry/bin/bench_tokenizer --repeats 3 \
        2>&1 | tee "$OUT/tokenizer.log"
      .carry/bin/bench_tokenizer --benchmark_filter=BM_EncodeBatch 2>&1 | tee -a "$OUT/tokenizer.log"
      ;;
    pipeline|pipeline_fp8)
      config=bench/pipeline/gpu_three_agents.yaml
      [ "$step" = pipeline_fp8 ] && config=bench/pipeline/gpu_three_agents_fp8.yaml
      [ -d /tmp/jn_models ] || python3 tools/make_random_checkpoints.py /tmp/jn_models 2>&1 | grep -v Warning | tail -2
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/gpu_memory_mib.txt" &
      sampler=$!
      # Two runs into fresh stores: the spread between them is the noise of the figure.
      for run in 1 2; do
        rm -f /tmp/jn_gpu_pipeline.db*
        /usr/bin/time -v .carry/bin/justnews analyze --config $config --no-progress \
          ../shared/data/news/reuters21578.jsonl > "$OUT/$step.log" 2> "$OUT/$step.err"
        echo "run $run exit $? (1 = some lines had no text)"
        grep -v "skipped:" "$OUT/$step.err" | grep -v "^	" | tail -8
        grep -E "Maximum resident|Elapsed" "$OUT/$step.err"
      done
      kill $sampler
      echo "peak GPU memory in use (MiB, whole device): $(sort -n "$OUT/gpu_memory_mib.txt" | tail -1)"
      # A second run finds everything stored (resumability) and must be fast.
      .carry/bin/justnews analyze --config $config --no-progress \
        ../shared/data/news/reuters21578.jsonl 2>&1 | grep -E "summary" | tee -a "$OUT/$step.log"
      nvidia-smi --query-gpu=memory.used --format=csv
      ;;
  esac
done
