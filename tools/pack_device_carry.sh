#!/usr/bin/env bash
# Packs what the H200 device calls carry: the device has no package registry and a call carries at
# most 64 MiB, so binaries built here (CUDA on, sm_90) travel xz-packed with the shared libraries
# `ldd` lists (not glibc, not cuBLAS, which the device has).
#   .carry/pack/carry.tar.xz  GPU tests, benchmarks, justnews + libraries (bench/run_device_suite.sh)
#   .carry/minipack.tar.xz    justnews + libraries (bench/run_minilm_device.sh report)
#   .carry/paritypack.tar.xz  the MiniLM parity test + libraries (bench/run_minilm_device.sh parity);
#                             since the sm90 kernels the two no longer fit one call beside the model
#   .carry/cpupack.tar.xz     the CPU encoder benchmark + libraries (bench/engine/run_quant_cpu_bench.sh
#                             .carry THREADS python3 on the device's idle cores, beside its torch / ORT)
#   .carry/minilm16.tar.xz    all-MiniLM-L6-v2 as float16 safetensors (needs PYTHON with numpy,
#                             safetensors and tokenizers, which the news mix needs too)
#   .carry/news/              ../shared/data/news/*.jsonl (../shared does not travel)
#   .carry/news_tiny/         the first 1,000 AG News test + 700 Reuters lines (the MiniLM calls)
#   .carry/news_mix.ids       512 Reuters bodies tokenised for the engine benchmark
# Usage: tools/pack_device_carry.sh BUILD_DIR [PYTHON]   (from the repository root)
set -euo pipefail
build=${1:?usage: tools/pack_device_carry.sh BUILD_DIR [PYTHON]}
python=${2:-/work/venv-ref/bin/python}
news=../shared/data/news
mkdir -p .carry

pack() {  # pack OUTPUT BINARY...  (XZ_LEVEL overrides the compression level)
  local out=$1; shift
  local stage; stage=$(mktemp -d)
  mkdir -p "$stage/.carry/bin" "$stage/.carry/lib"
  for binary in "$@"; do
    [ -x "$binary" ] || { echo "missing $binary" >&2; continue; }
    cp "$binary" "$stage/.carry/bin/" && strip "$stage/.carry/bin/$(basename "$binary")"
    ldd "$binary" | awk '/=> \//{print $3}' | grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libcublas[^/]*|libcuda)\.so' \
      | while read -r lib; do cp -L "$lib" "$stage/.carry/lib/"; done
  done
  mkdir -p "$(dirname "$out")"
  (cd "$stage" && tar -cf - .carry/bin .carry/lib) | xz -T2 "${XZ_LEVEL:--6}" > "$out"
  rm -rf "$stage"
  echo "$out: $(du -h "$out" | cut -f1)"
}

gpu_tests=$(find "$build/tests" -maxdepth 2 -type f -executable \( -name 'engine_cuda_*_test' -o -name 'memory_cuda_test' -o -name 'runtime_three_agents_memory_test' -o -name 'runtime_plan_cache_agent_test' \))
pack .carry/pack/carry.tar.xz $gpu_tests "$build/apps/justnews/justnews" \
  "$build/bench/engine_cuda/cuda_encoder_bench" "$build/bench/engine_cuda/cuda_ops_bench" \
  $(ls "$build"/bench/engine_cuda/int4_linear_bench 2>/dev/null) \
  "$build/bench/micro/bench_tokenizer" $(ls "$build"/bench/pipeline/bench_postprocess 2>/dev/null) \
  $(ls .carry/bin/attention_forward 2>/dev/null)
XZ_LEVEL=-9e pack .carry/minipack.tar.xz "$build/apps/justnews/justnews"
XZ_LEVEL=-9e pack .carry/paritypack.tar.xz "$build/tests/engine_cuda/engine_cuda_minilm_parity_test"
pack .carry/cpupack.tar.xz "$build/bench/engine/bench_quant_cpu"

mkdir -p .carry/news .carry/news_tiny
cp $news/*.jsonl .carry/news/
head -n 1000 $news/agnews_test.jsonl > .carry/news_tiny/agnews_test.jsonl
head -n 700 $news/reuters21578.jsonl > .carry/news_tiny/reuters21578.jsonl
[ -f .carry/news_mix.ids ] || "$python" bench/peers/make_news_mix.py \
  --tokenizer models/all-MiniLM-L6-v2/tokenizer.json --corpus $news/reuters21578.jsonl --out .carry/news_mix.ids

if [ ! -f .carry/minilm16.tar.xz ]; then
  stage=$(mktemp -d)/minilm16
  mkdir -p "$stage"
  "$python" - "$stage" <<'PY'
import sys, numpy
from safetensors.numpy import load_file, save_file
weights = load_file("models/all-MiniLM-L6-v2/model.safetensors")
save_file({k: numpy.ascontiguousarray(v.astype(numpy.float16)) for k, v in weights.items()},
          sys.argv[1] + "/model.safetensors", metadata={"format": "pt"})
PY
  (cd models/all-MiniLM-L6-v2 && cp -r config.json config_sentence_transformers.json modules.json \
     sentence_bert_config.json special_tokens_map.json tokenizer.json tokenizer_config.json vocab.txt \
     1_Pooling "$stage/")
  tar -C "$(dirname "$stage")" -cf - minilm16 | xz -T2 -9 > .carry/minilm16.tar.xz
fi
du -sh .carry/pack .carry/minipack.tar.xz .carry/minilm16.tar.xz .carry/news .carry/news_tiny
