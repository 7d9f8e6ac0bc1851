#!/usr/bin/env bash
# Session 14 call 6: at BERT-base 32x128, force our PDL-launched sm90 GEMMs where cuBLASLt won the
# isolated timing (O-projection 768x768, FFN-out 768x3072), via the timing cache; interleaved rounds.
set -u
tar -xJf .carry/pack/carry.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64"
B=.carry/bin/cuda_encoder_bench
$B --precision fp16 --iterations 3 --models bert-base --shapes 32x128,128x128 --gemm-tuning /tmp/base.txt > /dev/null 2>&1
cat /tmp/base.txt | grep -v "^cublaslt"
force() {  # force FILE_OUT COLS DEPTH KIND SCHEDULE (every row class)
  awk -v c=$2 -v d=$3 -v k=$4 -v s=$5 '$1=="sm90" && $3==c && $4==d && $5==k {$6=s} {print}' "$1" > "$1.tmp" && mv "$1.tmp" "$1"
}
cp /tmp/base.txt /tmp/o.txt; force /tmp/o.txt 768 768 6 2
cp /tmp/base.txt /tmp/of.txt; force /tmp/of.txt 768 768 6 2; force /tmp/of.txt 768 3072 6 2
grep "^sm90" /tmp/o.txt /tmp/of.txt
for round in 1 2 3; do
  for variant in base o of; do
    cp /tmp/$variant.txt /tmp/run.txt
    echo "## round $round $variant"
    $B --precision fp16 --iterations 200 --models bert-base --shapes 32x128,128x128 --no-autotune \
      --gemm-tuning /tmp/run.txt 2>&1 | grep "bert-base"
  done
  echo "## round $round base --attention v4"
  cp /tmp/base.txt /tmp/run.txt
  $B --precision fp16 --iterations 200 --models bert-base --shapes 32x128 --no-autotune --attention v4 \
    --gemm-tuning /tmp/run.txt 2>&1 | grep "bert-base"
done
