#!/usr/bin/env bash
# Dumps Hugging Face `tokenizers` outputs for every corpus text into BUILD_DIR/tokenizer_reference/,
# where the tokenizer parity tests read them. The dumps derive from ../shared/data, so they are
# made on each machine rather than committed. Skips dumps that are already newer than their input.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${1:-build}"
python_bin="${PYTHON:-$root/.venv/bin/python}"
out_dir="$root/$build_dir/tokenizer_reference"
mkdir -p "$out_dir"
for pair in minilm:tests/fixtures/tokenizers/minilm_wordpiece/tokenizer.json \
            roberta_bpe:tests/fixtures/tokenizers/roberta_bpe/tokenizer.json \
            regex_bpe:tests/fixtures/tokenizers/regex_bpe/tokenizer.json; do
  name="${pair%%:*}"
  tokenizer="$root/${pair#*:}"
  dump="$out_dir/$name.bin"
  if [ -f "$dump" ] && [ "$dump" -nt "$tokenizer" ] && [ "$dump" -nt "$root/tools/dump_tokenizer_reference.py" ]; then
    continue
  fi
  echo "dumping tokenizer reference $name -> $dump"
  "$python_bin" "$root/tools/dump_tokenizer_reference.py" "$tokenizer" "$dump"
done
