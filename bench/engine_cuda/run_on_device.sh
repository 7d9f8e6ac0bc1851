#!/usr/bin/env bash
# Runs the CUDA backend's GPU tests and benchmarks on the lent H200 from binaries built elsewhere
# and carried as .carry/pack/carry.tar.xz (bin/ and the non-CUDA shared libraries they need; packed
# because the carried tree is limited to 64 MiB) plus .carry/news_mix.ids. Logs go to $OUT.
# Usage (from the repo root, on the device):
#   bash bench/engine_cuda/run_on_device.sh [tests] [bench] [cli] [peer] [attention]
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
[ -f .carry/pack/carry.tar.xz ] && tar -xJf .carry/pack/carry.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.used --format=csv | tee "$OUT/device.txt"
news_mix=.carry/news_mix.ids
for step in "$@"; do
  case "$step" in
    tests)
      for test in engine_cuda_ops_test engine_cuda_encoder_test engine_cuda_plan_test; do
        .carry/bin/$test --gtest_brief=1 2>&1 | tee "$OUT/$test.log" | grep -v "^\[  *OK\|^\[ RUN" | tail -30
      done
      ;;
    bench)
      {
        .carry/bin/cuda_encoder_bench --precision fp16 --iterations 100 --news-mix $news_mix
        .carry/bin/cuda_encoder_bench --precision fp16 --iterations 50 --attention v2 --models bert-base --news-mix $news_mix
        .carry/bin/cuda_encoder_bench --precision fp16 --iterations 50 --gelu-tanh --models bert-base,minilm
        .carry/bin/cuda_encoder_bench --precision bf16 --iterations 50 --models bert-base
      } 2>&1 | tee "$OUT/bench.log"
      ;;
    cli)
      {
        cache=/tmp/jn_engine_cache
        rm -rf $cache
        for run in first second; do .carry/bin/justnews compile tests/fixtures/bert_base --cache-dir $cache; done
        plan=$(ls $cache/*.jnplan | head -1)
        truncate -s 5000 "$plan"
        .carry/bin/justnews compile tests/fixtures/bert_base --cache-dir $cache
        .carry/bin/justnews compile tests/fixtures/bert_base --precision bf16 --cache-dir $cache
        .carry/bin/justnews bench tests/fixtures/bert_base --shapes 1x64,32x64 --iterations 30 --cache-dir $cache
        .carry/bin/justnews bench tests/fixtures/bert_base --backend cpu --shapes 1x64,8x64 --iterations 5
      } 2>&1 | tee "$OUT/cli.log"
      ;;
    attention)
      .carry/bin/attention_forward 50 2>&1 | tee "$OUT/attention.log"
      ;;
    peer)
      PYTHONUNBUFFERED=1 timeout ${PEER_TIMEOUT_S:-300} python3 bench/peers/torch_peer.py --iterations 50 \
        --models ${PEER_MODELS:-bert-base,minilm-l6} --variants ${PEER_VARIANTS:-gemm_floor,sdpa,compile_reduce_overhead,compile_max_autotune} \
        --news-mix $news_mix --budget-s ${PEER_BUDGET_S:-200} 2>&1 | grep -v Warning | tee "$OUT/peer.log"
      ;;
  esac
done
