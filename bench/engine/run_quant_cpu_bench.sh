#!/usr/bin/env bash
# One side-by-side run for docs/benchmarks.md "Quantization (CPU)": our CPU encoder at every
# precision (bench_quant_cpu), then the PyTorch / ONNX Runtime CPU peers (bench/peers/cpu_peer.py)
# on the same random-weight shapes, batch x sequence and thread count, one after the other.
#
# Usage (repository root): bench/engine/run_quant_cpu_bench.sh [BUILD_DIR] [THREADS] [PYTHON]
set -euo pipefail
build_dir=${1:-build-quant}
threads=${2:-2}
python=${3:-/work/venv-ref/bin/python}
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) load: $(cut -d' ' -f1-3 /proc/loadavg)"
OPENBLAS_CORETYPE=SkylakeX "$build_dir/bench/engine/bench_quant_cpu" --threads "$threads" --iterations 5
echo
OMP_NUM_THREADS=$threads "$python" bench/peers/cpu_peer.py --threads "$threads" --iterations 5 2>/dev/null
echo "# done $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
