#!/usr/bin/env bash
# Session 14 call 7: attention v3 (kAuto's pick up to 128 tokens) against v4 in the forward,
# BERT-base and MiniLM fp16 and fp8 calibrated, interleaved rounds, shared timing cache.
set -u
tar -xJf .carry/pack/carry.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64"
B=.carry/bin/cuda_encoder_bench
for prec in "fp16" "fp8 --static-scales"; do
  for model in bert-base minilm; do
    rm -f /tmp/t_$model.txt
    $B --precision $prec --iterations 3 --models $model --shapes 1x128,32x128,128x128,64x64 --gemm-tuning /tmp/t_$model.txt > /dev/null 2>&1
    for round in 1 2 3; do
      for attention in v3 v4; do
        echo "## $prec $model round $round $attention"
        $B --precision $prec --iterations 200 --models $model --shapes 1x128,32x128,128x128,64x64 --no-autotune \
          --attention $attention --gemm-tuning /tmp/t_$model.txt 2>&1 | grep -E "^(bert-base|minilm) "
      done
    done
  done
done
