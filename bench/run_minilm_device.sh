#!/usr/bin/env bash
# Device calls for the real all-MiniLM-L6-v2 on the GPU. The model travels as a float16 copy
# (tools/pack_device_carry.sh; the carried tree, repository included, is limited to 64 MiB), so the
# CPU FP32 reference runs on the same float16-rounded weights. Since the sm90 kernels grew the
# binaries, the parity test and the app no longer fit one call beside the model:
#   parity: carry .carry/paritypack.tar.xz .carry/minilm16.tar.xz .carry/news_tiny
#           the GPU fp16 / bf16 parity test (1,000 AG News titles, Reuters titles)
#   report: carry .carry/minipack.tar.xz .carry/minilm16.tar.xz .carry/news_tiny
#           the accuracy report of every CUDA precision on AG News titles (with labels) and on
#           Reuters titles, and `justnews compile --precision auto`
# Usage: bench/run_minilm_device.sh parity|report  (REPORT_ARGS: more `justnews quantize` flags)
set -u
mode=${1:?usage: bench/run_minilm_device.sh parity|report}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
case "$mode" in
  parity) tar -xJf .carry/paritypack.tar.xz ;;
  report) tar -xJf .carry/minipack.tar.xz ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
# The model may already be unpacked by an earlier call on the same (warm) machine: the binaries
# and the model together no longer fit one call's 64 MiB beside the repository.
[ -d .carry/minilm16 ] || tar -xJf .carry/minilm16.tar.xz -C .carry
cublas_dir=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.carry/lib:$cublas_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
mkdir -p ../shared/data/news && cp .carry/news_tiny/*.jsonl ../shared/data/news/
news=../shared/data/news
model=.carry/minilm16
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/device.txt"
if [ "$mode" = parity ]; then
  JUSTNEWS_MINILM_DIR=$model .carry/bin/engine_cuda_minilm_parity_test --gtest_brief=1 2>&1 \
    | tee "$OUT/minilm_parity.log" | grep -v "^\[  *OK\|^\[ RUN" | tail -20
  exit 0
fi
.carry/bin/justnews quantize $model --report --device cuda --eval $news/agnews_test.jsonl --field title \
  --label-field label --limit 1000 --calibrate $news/reuters21578.jsonl --calibrate-field body \
  --calibrate-limit 512 ${REPORT_ARGS:-} 2>&1 | tee "$OUT/quant_agnews.log"
.carry/bin/justnews quantize $model --report --device cuda --eval $news/reuters21578.jsonl --field title \
  --limit 1000 --calibrate $news/reuters21578.jsonl --calibrate-field body --calibrate-limit 512 \
  ${REPORT_ARGS:-} 2>&1 | tee "$OUT/quant_reuters.log"
.carry/bin/justnews compile $model --precision auto --calibrate $news/reuters21578.jsonl \
  --eval $news/agnews_test.jsonl --eval-field title --label-field label --max-accuracy-drop 0.005 \
  --max-batch-tokens 16384 --max-batch-sequences 128 --cache-dir /tmp/jn_cache 2>&1 | tee "$OUT/compile_auto.log"
# A looser bound: the calibrated per-tensor rows (fp8-static, int8-static) compete too.
.carry/bin/justnews compile $model --precision auto --calibrate $news/reuters21578.jsonl \
  --eval $news/agnews_test.jsonl --eval-field title --label-field label --max-accuracy-drop 0.05 \
  --max-batch-tokens 16384 --max-batch-sequences 128 --cache-dir /tmp/jn_cache 2>&1 | tee "$OUT/compile_auto_loose.log"
