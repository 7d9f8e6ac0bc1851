#!/usr/bin/env bash
# Builds the project and runs the test suite: the release build with every test that needs no
# GPU, then an ASan + UBSan build of the unit tests. GPU tests (label gpu) run where nvidia-smi
# finds a GPU. Run tools/setup.sh first on a fresh machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
jobs="$(nproc)"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"

if [ -x tools/make_test_references.sh ]; then
  tools/make_test_references.sh build
fi

label_filter=(-LE gpu)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  label_filter=()
fi
(cd build && ctest --output-on-failure -j"$jobs" "${label_filter[@]}")

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DJUSTNEWS_SANITIZE=ON -DJUSTNEWS_CUDA=OFF \
  -DJUSTNEWS_BENCH=OFF
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -L unit)
