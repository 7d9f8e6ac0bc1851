#!/usr/bin/env bash
# One device call for the real all-MiniLM-L6-v2 on the GPU. The model travels as a float16 copy
# (tools/pack_minilm_for_device.sh: the carried tree is limited to 64 MiB), so the CPU FP32
# reference runs on the same float16-rounded weights. Runs: the GPU fp16 / bf16 parity test (1,000
# AG News titles, Reuters titles), the accuracy report of every CUDA precision on AG News titles
# (with labels) and on Reuters titles, and `justnews compile --precision auto`.
# Expects .carry/minipack.tar.xz (bin/ + lib/), .carry/minilm16.tar.xz and .carry/news_small/.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
tar -xJf .carry/minipack.tar.xz
tar -xJf .carry/minilm16.tar.xz -C .carry
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
mkdir -p ../shared/data/news && cp .carry/news_small/*.jsonl ../shared/data/news/
news=../shared/data/news
model=.carry/minilm16
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/device.txt"
JUSTNEWS_MINILM_DIR=$model .carry/bin/engine_cuda_minilm_parity_test --gtest_brief=1 2>&1 \
  | tee "$OUT/minilm_parity.log" | grep -v "^\[  *OK\|^\[ RUN" | tail -20
.carry/bin/justnews quantize $model --report --device cuda --eval $news/agnews_test.jsonl --field title \
  --label-field label --limit 1000 --calibrate $news/reuters21578.jsonl --calibrate-field body \
  --calibrate-limit 512 2>&1 | tee "$OUT/quant_agnews.log"
.carry/bin/justnews quantize $model --report --device cuda --eval $news/reuters21578.jsonl --field title \
  --limit 1000 --calibrate $news/reuters21578.jsonl --calibrate-field body --calibrate-limit 512 2>&1 \
  | tee "$OUT/quant_reuters.log"
.carry/bin/justnews compile $model --precision auto --calibrate $news/reuters21578.jsonl \
  --eval $news/agnews_test.jsonl --eval-field title --label-field label --max-accuracy-drop 0.005 \
  --max-batch-tokens 16384 --max-batch-sequences 128 --cache-dir /tmp/jn_cache 2>&1 | tee "$OUT/compile_auto.log"
# FP8 / INT8 / 4-bit speed beside fp16 on a random BERT-base-shaped checkpoint (the same call).
python3 tools/make_random_checkpoints.py /tmp/jn_models 2>&1 | grep -v Warning | tail -1
for precision in fp16 fp8 int8 int4 nf4; do
  .carry/bin/justnews bench /tmp/jn_models/toxicity --precision $precision --shapes 1x128,32x128,128x128,32x512 \
    --iterations 50 --cache-dir /tmp/jn_cache 2>&1 | tail -6
done | tee "$OUT/bench_precisions.log"
