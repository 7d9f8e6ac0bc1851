#!/usr/bin/env python3
"""CPU peers for bench/engine/bench_quant_cpu.cc: PyTorch (eager FP32, SDPA attention; plus its
dynamic INT8 quantisation, torch.ao.quantization.quantize_dynamic on nn.Linear) and ONNX Runtime
(FP32 with all graph optimisations, plus its dynamic INT8 quantisation) on the same random-weight
BERT-base- and MiniLM-L6-shaped encoders and the same batch x sequence shape, at the same thread
count. Times are medians of whole forward passes (last hidden state) on full-length sequences
(no padding, like the packed batch our benchmark runs).

Usage: python3 bench/peers/cpu_peer.py [--threads 2] [--batch 32] [--seq 128] [--iterations 5]
                                       [--models bert-base,minilm-l6] [--skip-int8]
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import transformers as tf

MODELS = {
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
}


def median_ms(fn, iterations):
    fn()  # warm-up
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


class LastHiddenState(torch.nn.Module):
    """Keyword-only call into the BertModel (its positional signature changes between versions)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def export_onnx(model, ids, path):
    torch.onnx.export(LastHiddenState(model), (ids, torch.ones_like(ids)), path, input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], opset_version=17,
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
                      dynamo=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--models", default="bert-base,minilm-l6")
    parser.add_argument("--skip-int8", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, threads {args.threads}, "
          f"batch {args.batch} x seq {args.seq}, median of {args.iterations}")
    print("| model | peer | ms/batch | tokens/s |")
    print("|---|---|---|---|")
    tokens = args.batch * args.seq
    for name in args.models.split(","):
        torch.manual_seed(0)
        config = tf.BertConfig(vocab_size=30522, max_position_embeddings=512, attn_implementation="sdpa", **MODELS[name])
        model = tf.BertModel(config, add_pooling_layer=False).eval()
        ids = torch.randint(0, 30522, (args.batch, args.seq))
        rows = []
        with torch.inference_mode():
            rows.append(("pytorch fp32 (sdpa)", median_ms(lambda: model(input_ids=ids), args.iterations)))
            if not args.skip_int8:
                qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
                rows.append(("pytorch dynamic int8", median_ms(lambda: qmodel(input_ids=ids), args.iterations)))
        with tempfile.TemporaryDirectory() as tmp:
            fp32_path = os.path.join(tmp, "model.onnx")
            export_onnx(model, ids, fp32_path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            feeds = {"input_ids": ids.numpy().astype(np.int64), "attention_mask": np.ones_like(ids.numpy(), dtype=np.int64)}
            session = ort.InferenceSession(fp32_path, options, providers=["CPUExecutionProvider"])
            rows.append(("onnxruntime fp32 (ORT_ENABLE_ALL)", median_ms(lambda: session.run(None, feeds), args.iterations)))
            if not args.skip_int8:
                int8_path = os.path.join(tmp, "model.int8.onnx")
                quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8)
                qsession = ort.InferenceSession(int8_path, options, providers=["CPUExecutionProvider"])
                rows.append(("onnxruntime dynamic int8", median_ms(lambda: qsession.run(None, feeds), args.iterations)))
        for peer, ms in rows:
            print(f"| {name} | {peer} | {ms:.1f} | {tokens / ms * 1e3:.0f} |", flush=True)


if __name__ == "__main__":
    main()
