#!/usr/bin/env python3
"""Peer figures for the CUDA engine benchmark: Hugging Face transformers on the same random-weight
BERT-base- and MiniLM-L6-shaped encoders and the same batch x sequence shapes as
bench/engine_cuda/cuda_encoder_bench.cc, plus a cuBLAS GEMM-only floor (the model's matmuls alone,
replayed from a CUDA graph: no attention, no element-wise work, no launch gaps).

Variants: eager attention, SDPA, torch.compile(mode="max-autotune") and
torch.compile(mode="reduce-overhead"), all FP16. Times are CUDA-event medians of whole forward
calls on device-resident inputs. --budget-s stops starting new (slow-to-compile) variants once
the budget is spent, so the script fits one device call.

--news-mix FILE (from bench/peers/make_news_mix.py) also times every variant on the same batches of
real Reuters token ids that cuda_encoder_bench --news-mix runs packed; torch must pad each batch to
its longest sequence (attention mask for the padding). Reported per pass over all batches, with
throughput in real (unpadded) tokens. --shapes "" skips the synthetic shapes.

Usage: python3 bench/peers/torch_peer.py [--models bert-base,minilm-l6] [--variants eager,sdpa,...]
                                         [--iterations 100] [--budget-s 420] [--news-mix FILE]
"""
import argparse
import struct
import time

import torch
import transformers as tf

SHAPES = [(1, 128), (32, 128), (128, 128), (32, 512)]
MODELS = {
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
}


def time_ms(fn, iterations):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.9)], times[min(len(times) - 1, int(len(times) * 0.99))]


def read_news_mix(path):
    """Batches of id lists, as written by make_news_mix.py."""
    with open(path, "rb") as source:
        data = source.read()
    assert data[:8] == b"JNIDS1\0\0", f"{path}: not a news-mix file"
    count, batch = struct.unpack_from("<II", data, 8)
    lengths = struct.unpack_from(f"<{count}I", data, 16)
    offset, sequences = 16 + 4 * count, []
    for length in lengths:
        sequences.append(list(struct.unpack_from(f"<{length}i", data, offset)))
        offset += 4 * length
    return [sequences[start:start + batch] for start in range(0, count, batch)]


def padded(batch):
    """Device tensors of one batch padded to its longest sequence, and its real token count."""
    longest = max(len(ids) for ids in batch)
    ids = torch.zeros(len(batch), longest, dtype=torch.long)
    mask = torch.zeros(len(batch), longest, dtype=torch.long)
    for row, sequence in enumerate(batch):
        ids[row, :len(sequence)] = torch.tensor(sequence)
        mask[row, :len(sequence)] = 1
    return ids.cuda(), mask.cuda(), sum(len(sequence) for sequence in batch)


def make_model(name, attn):
    config = tf.BertConfig(vocab_size=30522, max_position_embeddings=512, **MODELS[name])
    config._attn_implementation = attn
    return tf.BertModel(config).eval().cuda().half()


def gemm_floor(name, batch, seq, iterations):
    """The encoder's GEMMs only (QKV, out, FFN in, FFN out per layer), captured in a CUDA graph."""
    cfg = MODELS[name]
    hidden, ffn, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    tokens = batch * seq
    x = torch.randn(tokens, hidden, device="cuda", dtype=torch.half)
    h = torch.randn(tokens, ffn, device="cuda", dtype=torch.half)
    weights = [torch.randn(o, i, device="cuda", dtype=torch.half) * 0.02
               for o, i in ((3 * hidden, hidden), (hidden, hidden), (ffn, hidden), (hidden, ffn))]
    def body():
        for _ in range(layers):
            torch.matmul(x, weights[0].t())
            torch.matmul(x, weights[1].t())
            torch.matmul(x, weights[2].t())
            torch.matmul(h, weights[3].t())
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        body()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return time_ms(graph.replay, iterations)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="bert-base,minilm-l6")
    parser.add_argument("--variants", default="gemm_floor,eager,sdpa,compile_reduce_overhead,compile_max_autotune")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--budget-s", type=float, default=420.0)
    parser.add_argument("--news-mix", default="")
    parser.add_argument("--shapes", default="1x128,32x128,128x128,32x512")
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in item.split("x")) for item in args.shapes.split(",") if item]
    news_mix = [padded(batch) for batch in read_news_mix(args.news_mix)] if args.news_mix else []
    began = time.time()
    torch.manual_seed(0)
    print(f"torch {torch.__version__} transformers {tf.__version__} {torch.cuda.get_device_name()}")
    print(f"{'model':<10} {'variant':<24} {'shape':<8} {'p50_ms':>9} {'p90_ms':>9} {'p99_ms':>9} {'peak_MiB':>9}")
    for name in args.models.split(","):
        for variant in args.variants.split(","):
            if time.time() - began > args.budget_s:
                print(f"{name:<10} {variant:<24} skipped: budget of {args.budget_s:.0f} s spent")
                continue
            model = None
            if variant != "gemm_floor":
                model = make_model(name, "eager" if variant == "eager" else "sdpa")
                if variant.startswith("compile"):
                    mode = "max-autotune" if variant.endswith("max_autotune") else "reduce-overhead"
                    model = torch.compile(model, mode=mode)
            for batch, seq in shapes:
                torch.cuda.reset_peak_memory_stats()
                try:
                    if variant == "gemm_floor":
                        p50, p90, p99 = gemm_floor(name, batch, seq, args.iterations)
                    else:
                        ids = torch.randint(0, 30522, (batch, seq), device="cuda")
                        mask = torch.ones_like(ids)
                        with torch.inference_mode():
                            p50, p90, p99 = time_ms(lambda: model(input_ids=ids, attention_mask=mask), args.iterations)
                except Exception as error:  # a failed variant must not stop the others
                    print(f"{name:<10} {variant:<24} {batch}x{seq:<5} failed: {type(error).__name__}: {error}"[:300])
                    continue
                peak = torch.cuda.max_memory_allocated() / 2**20
                print(f"{name:<10} {variant:<24} {batch}x{seq:<5} {p50:9.3f} {p90:9.3f} {p99:9.3f} {peak:9.1f}", flush=True)
            if news_mix and variant != "gemm_floor":
                # Sum of per-batch medians = one pass over the corpus batches.
                torch.cuda.reset_peak_memory_stats()
                try:
                    total_ms, tokens = 0.0, 0
                    with torch.inference_mode():
                        for ids, mask, real_tokens in news_mix:
                            p50, _, _ = time_ms(lambda: model(input_ids=ids, attention_mask=mask), max(5, args.iterations // 5))
                            total_ms += p50
                            tokens += real_tokens
                    peak = torch.cuda.max_memory_allocated() / 2**20
                    label = f"newsmix{len(news_mix)}"
                    print(f"{name:<10} {variant:<24} {label:<8} {total_ms:9.3f} {'':>9} {'':>9} {peak:9.1f}"
                          f"  {tokens * 1000.0 / total_ms:,.0f} real tokens/s", flush=True)
                except Exception as error:
                    print(f"{name:<10} {variant:<24} newsmix failed: {type(error).__name__}: {error}"[:300])
            del model
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
