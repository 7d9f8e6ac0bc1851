#!/usr/bin/env bash
# Host-side throughput setup for `justnews analyze`: the two tiny test fixtures (hidden size 32) as
# a classify and an embed agent, each with a 99-token WordPiece vocab.txt, so the engines are cheap
# and the numbers show reading, tokenising, post-processing and storing. Usage (repo root):
#   bench/pipeline/make_tiny_setup.sh /tmp/jn_tiny
#   rm -f /tmp/jn_tiny/store.db*; ./build/apps/justnews/justnews analyze --config /tmp/jn_tiny/config.yaml \
#       --no-progress ../shared/data/news/reuters21578.jsonl
set -euo pipefail
target="${1:-/tmp/jn_tiny}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$target"
vocab() {
  printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]'
  for letter in {a..z}; do echo "$letter"; done
  for letter in {a..z}; do echo "##$letter"; done
  for digit in {0..9}; do echo "$digit"; done
  printf '%s\n' . , "'" '"' - '(' ')' : ';' '!' '?' '$' % '&' /
  printf '%s\n' the of and to in said for on it is at by mln dlrs pct year with
}
for fixture in bert_seqcls bert_base; do
  rm -rf "${target:?}/$fixture"
  cp -r "$repo/tests/fixtures/$fixture" "$target/$fixture"
  vocab > "$target/$fixture/vocab.txt"
done
cat > "$target/config.yaml" <<YAML
engine:
  backend: cpu
store:
  sqlite_path: $target/store.db
agents:
  - name: sentiment
    model_dir: $target/bert_seqcls
    task: classify
    max_batch_items: 64
  - name: embeddings
    model_dir: $target/bert_base
    task: embed
    max_batch_items: 64
YAML
echo "$target/config.yaml"
