#!/usr/bin/env bash
# Session 14 call 10 (session 13 call 4 again, on the kAuto change): six interleaved rounds of fp16 / fp8s / int8s / int8s + SmoothQuant at
# BERT-base 128x128 (200 iterations each): how robust the FP8 1.5x and INT8 1.4x ratios are.
set -u
OUT0=$OUT; mkdir -p /tmp/logs4
tar -xJf .carry/pack/carry.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64"
for round in 1 2 3 4 5 6; do
  for args in "fp16" "fp8 --static-scales" "int8 --static-scales" "int8 --static-scales --smoothquant-alpha 0.7"; do
    echo "## round $round --precision $args"
    timeout 90 .carry/bin/cuda_encoder_bench --precision $args --iterations 200 --models bert-base --shapes 128x128 2>&1 | grep -v "\[info\]"
  done
done > /tmp/logs4/rounds.txt 2>&1
cp /tmp/logs4/rounds.txt $OUT0/rounds.txt
grep -E "^##|128x128" /tmp/logs4/rounds.txt
