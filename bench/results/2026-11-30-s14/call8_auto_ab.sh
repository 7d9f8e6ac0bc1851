#!/usr/bin/env bash
# Session 14 call 8: the ops test (kAuto's new pick), then the bench before (kAuto = v3 up to 128
# tokens) against after (v4 from 65 tokens when its blocks fill the SMs), interleaved, one timing cache.
set -u
tar -xJf .carry/pack/carry.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64"
.carry/bin/engine_cuda_ops_test --gtest_brief=1 2>&1 | tail -4
.carry/bin/engine_cuda_encoder_test --gtest_brief=1 2>&1 | tail -2
xz -dkf .carry/before14/cuda_encoder_bench.xz && chmod +x .carry/before14/cuda_encoder_bench
for prec in "fp16" "fp8 --static-scales"; do
  rm -f /tmp/t.txt
  .carry/bin/cuda_encoder_bench --precision $prec --iterations 3 --models bert-base --shapes 1x128,16x128,32x128,128x128 \
    --news-mix .carry/news_mix.ids --gemm-tuning /tmp/t.txt > /dev/null 2>&1
  for round in 1 2 3; do
    for b in .carry/before14/cuda_encoder_bench .carry/bin/cuda_encoder_bench; do
      echo "## $prec round $round $b"
      $b --precision $prec --iterations 200 --models bert-base --shapes 1x128,16x128,32x128,128x128 --no-autotune \
        --news-mix .carry/news_mix.ids --gemm-tuning /tmp/t.txt 2>&1 | grep -E "^bert-base "
    done
  done
done
