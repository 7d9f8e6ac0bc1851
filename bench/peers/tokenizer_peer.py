#!/usr/bin/env python3
"""Side by side: HF `tokenizers` encode_batch vs JustNews bench_tokenizer on Reuters bodies.

usage (from the repository root, after building bench_tokenizer):
  python3 bench/peers/tokenizer_peer.py [--bench build/bench/micro/bench_tokenizer] [--repeats 3]

HF runs single-thread (RAYON_NUM_THREADS=1, set before import) and on all cores in separate
processes; both sides add special tokens and disable truncation and padding. Prints tokens/s,
texts/s and the ratio ours / HF for each tokenizer and thread setting.
"""
import argparse
import json
import os
import subprocess
import sys
import time

TOKENIZERS = {
    "minilm_wordpiece": "tests/fixtures/tokenizers/minilm_wordpiece/tokenizer.json",
    "roberta_bpe": "tests/fixtures/tokenizers/roberta_bpe/tokenizer.json",
}
DATA = "../shared/data/news/reuters21578.jsonl"


def hf_worker(path, repeats):
    from tokenizers import Tokenizer  # imported after RAYON_NUM_THREADS is set

    with open(DATA, encoding="utf-8") as f:
        bodies = [a["body"] for a in map(json.loads, f) if a.get("body")]
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    tokenizer.encode_batch(bodies[:500])  # warm-up
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        encodings = tokenizer.encode_batch(bodies)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    tokens = sum(len(e.ids) for e in encodings)
    print(json.dumps({"tokens_per_s": tokens / best, "texts_per_s": len(bodies) / best}))


def run_hf(path, threads, repeats):
    env = dict(os.environ)
    if threads == 1:
        env["RAYON_NUM_THREADS"] = "1"
        env["TOKENIZERS_PARALLELISM"] = "false"
    else:
        env.pop("RAYON_NUM_THREADS", None)
        env["TOKENIZERS_PARALLELISM"] = "true"
    out = subprocess.run([sys.executable, __file__, "--worker", path, "--repeats", str(repeats)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_ours(bench, repeats):
    out = subprocess.run([bench, "--benchmark_format=json", f"--benchmark_repetitions={repeats}",
                          "--benchmark_report_aggregates_only=false"],
                         check=True, capture_output=True, text=True).stdout
    results = {}
    for entry in json.loads(out)["benchmarks"]:
        if entry.get("run_type") != "iteration":
            continue
        name = entry["run_name"]
        best = results.get(name)
        if best is None or entry["tokens_per_s"] > best["tokens_per_s"]:
            results[name] = {"tokens_per_s": entry["tokens_per_s"], "texts_per_s": entry["texts_per_s"]}
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="build/bench/micro/bench_tokenizer")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        hf_worker(args.worker, args.repeats)
        return

    ours = run_ours(args.bench, args.repeats)
    print(f"machine: {os.cpu_count()} hardware threads; corpus: Reuters-21578 bodies ({DATA})")
    print(f"{'tokenizer':18} {'threads':>7} {'HF tok/s':>12} {'ours tok/s':>12} {'HF texts/s':>11} "
          f"{'ours texts/s':>12} {'ratio':>6}")
    for index, (name, path) in enumerate(TOKENIZERS.items()):
        for threads, our_name in ((1, f"BM_EncodeSingleThread/model:{index}/real_time"),
                                  (os.cpu_count(), f"BM_EncodeBatch/model:{index}/threads:0/real_time")):
            hf = run_hf(path, threads, args.repeats)
            mine = ours[our_name]
            print(f"{name:18} {threads:>7} {hf['tokens_per_s']:>12,.0f} {mine['tokens_per_s']:>12,.0f} "
                  f"{hf['texts_per_s']:>11,.0f} {mine['texts_per_s']:>12,.0f} "
                  f"{mine['tokens_per_s'] / hf['tokens_per_s']:>5.2f}x")


if __name__ == "__main__":
    main()
