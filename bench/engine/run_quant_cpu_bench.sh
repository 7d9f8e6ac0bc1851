#!/usr/bin/env bash
# One side-by-side run for docs/benchmarks.md "Quantization (CPU)": our CPU encoder at every
# precision (bench_quant_cpu), then the PyTorch / ONNX Runtime CPU peers (bench/peers/cpu_peer.py)
# on the same random-weight shapes, batch x sequence and thread count, one after the other.
#
# Usage (repository root): bench/engine/run_quant_cpu_bench.sh [BUILD_DIR] [THREADS] [PYTHON]
# PRECISIONS (e.g. fp32,bf16,int8) narrows our side to those precisions, MODELS (e.g. minilm-l6)
# both sides to those models.
# BUILD_DIR may also be a carried pack's folder (.carry: bin/bench_quant_cpu, lib/), as on the
# H200 host (tools/pack_device_carry.sh packs .carry/cpupack.tar.xz).
set -euo pipefail
build_dir=${1:-build-quant}
threads=${2:-2}
python=${3:-/work/venv-ref/bin/python}
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) load: $(cut -d' ' -f1-3 /proc/loadavg)"
bench="$build_dir/bench/engine/bench_quant_cpu"
[ -x "$bench" ] || bench="$build_dir/bin/bench_quant_cpu"
# Debian's OpenBLAS does not recognise every CPU (the shared VM's fell back to SSE3 kernels): name
# the kernels the CPU can run (docs/benchmarks.md, "What matters for CPU throughput").
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
"$bench" --threads "$threads" --iterations 5 ${PRECISIONS:+--precisions "$PRECISIONS"} \
  ${MODELS:+--models "$MODELS"}
echo
OMP_NUM_THREADS=$threads "$python" bench/peers/cpu_peer.py --threads "$threads" --iterations 5 \
  ${MODELS:+--models "$MODELS"} 2>/dev/null
echo "# done $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
