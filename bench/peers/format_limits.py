#!/usr/bin/env python3
"""What the number formats themselves cost all-MiniLM-L6-v2, measured in PyTorch (the peer), so that
our accuracy rows can be read against the formats' own limits rather than against our kernels.

For each variant, against the same model in float32 (TF32 off) on the same texts:
  - cosine of the sentence embedding (mean pooling, as sentence-transformers) per text: min, mean;
  - zero-shot topic top-1 agreement (cosine to the four topic descriptions that the runtime's
    TopicClassifier embeds, each variant embedding them itself), and how many flips had FP32 margins
    under 5e-3 (the near-ties);
  - 1-NN label agreement (the label of the nearest other text by cosine, as `justnews quantize
    --report` computes top-1 for embedding models) and the task accuracy of that label.
Variants: the whole model in float16 / bfloat16 (what any fp16 / bf16 engine must round), and
fake-quantised weights of every encoder linear computed in float32 (round to nearest, no GPTQ:
the format alone): INT8 per output channel, FP8 E4M3 per output channel, INT4 and NF4 in groups
of 64 along the input (scales kept in float32, i.e. without double quantisation: an upper bound);
and per-token dynamic 8-bit activations on top of the 8-bit weights (W8A8, each row scaled by its own
absmax and rounded to nearest: the plain reference for activation scaling, not a bound; clipped
calibrated scales with GPTQ weights can land above it).

Usage (GPU machine): python3 bench/peers/format_limits.py --model DIR --texts agnews_test.jsonl
                     [--field title] [--label-field label] [--limit 1000] [--device cuda]
"""
import argparse
import json

import torch
import transformers as tf

# The runtime's default topics (src/runtime/embedding_analysis.cc), in the same order (std::map).
TOPICS = {
    "Business": "Business news: companies, markets, stocks, trade, economy, earnings and finance.",
    "Sci/Tech": "Science and technology news: computers, software, the internet, space, research and gadgets.",
    "Sports": "Sports news: games, matches, teams, players, coaches, leagues and championships.",
    "World": "World news: international politics, governments, diplomacy, elections, war and conflict.",
}
NEAR_TIE = 5e-3
# bitsandbytes' NF4 levels (also src/quant/int4_quant.h).
NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
       -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
       0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
       0.7229568362236023, 1.0]
FP8_MAX = 448.0


def read_texts(path, field, label_field, limit):
    texts, labels = [], []
    with open(path) as source:
        for line in source:
            record = json.loads(line)
            text = record.get(field)
            if not isinstance(text, str) or not text.strip():
                continue
            texts.append(text)
            labels.append(str(record.get(label_field, "")))
            if len(texts) == limit:
                break
    return texts, labels


def per_channel(weight, levels_max, rounder):
    scale = weight.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / levels_max
    return rounder(weight / scale) * scale


def int8_round(x):
    return x.round().clamp(-127, 127)


def fp8_round(x):
    return x.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).to(torch.float32)


def grouped(weight, group, quantise_group):
    out_features, in_features = weight.shape
    groups = weight.reshape(out_features, in_features // group, group)
    return quantise_group(groups).reshape(out_features, in_features)


def int4_groups(groups):
    scale = groups.abs().amax(dim=2, keepdim=True).clamp_min(1e-12) / 7.0
    return (groups / scale).round().clamp(-7, 7) * scale


def nf4_groups(groups):
    levels = torch.tensor(NF4, device=groups.device)
    absmax = groups.abs().amax(dim=2, keepdim=True).clamp_min(1e-12)
    nearest = ((groups / absmax).unsqueeze(-1) - levels).abs().argmin(dim=-1)
    return levels[nearest] * absmax


WEIGHT_FORMATS = {
    "int8": lambda w: per_channel(w, 127.0, int8_round),
    "fp8": lambda w: per_channel(w, FP8_MAX, fp8_round),
    "int4-g64": lambda w: grouped(w, 64, int4_groups),
    "nf4-g64": lambda w: grouped(w, 64, nf4_groups),
}
ACTIVATION_FORMATS = {
    "int8": lambda x: per_channel(x.reshape(-1, x.shape[-1]), 127.0, int8_round).reshape(x.shape),
    "fp8": lambda x: per_channel(x.reshape(-1, x.shape[-1]), FP8_MAX, fp8_round).reshape(x.shape),
}


def encoder_linears(model):
    return [module for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and ".layer." in f".{name}"]


def load(model_dir, device, dtype=torch.float32, weights=None, activations=None):
    model = tf.AutoModel.from_pretrained(model_dir, torch_dtype=torch.float32).to(device).eval()
    for linear in encoder_linears(model):
        if weights:
            linear.weight.data = WEIGHT_FORMATS[weights](linear.weight.data.float())
        if activations:
            quantise = ACTIVATION_FORMATS[activations]
            linear.register_forward_pre_hook(lambda _module, args: (quantise(args[0]),))
    return model.to(dtype)


@torch.no_grad()
def embed(model, tokenizer, texts, device, batch=128):
    rows = []
    for start in range(0, len(texts), batch):
        encoded = tokenizer(texts[start:start + batch], padding=True, truncation=True, max_length=256,
                            return_tensors="pt").to(device)
        hidden = model(**encoded).last_hidden_state.float()
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
        rows.append(torch.nn.functional.normalize(pooled.double(), dim=1))
    return torch.cat(rows)


def nearest_labels(embeddings, labels):
    similarity = embeddings @ embeddings.T
    similarity.fill_diagonal_(-2.0)
    return [labels[idx] for idx in similarity.argmax(dim=1).tolist()]


def evaluate(name, model, tokenizer, texts, labels, device, reference):
    embeddings = embed(model, tokenizer, texts, device)
    topics = embed(model, tokenizer, list(TOPICS.values()), device)
    cosine = (embeddings * reference["embeddings"]).sum(1)
    picks = (embeddings @ topics.T).argmax(dim=1)
    flips = (picks != reference["topics"]).nonzero().flatten().tolist()
    near_ties = sum(1 for idx in flips if reference["margins"][idx] < NEAR_TIE)
    neighbours = nearest_labels(embeddings, labels)
    agree = sum(a == b for a, b in zip(neighbours, reference["neighbours"]))
    correct = sum(a == b for a, b in zip(neighbours, labels))
    count = len(texts)
    print(f"| {name} | {cosine.min().item():.5f} | {cosine.mean().item():.5f} | "
          f"{count - len(flips)}/{count} ({near_ties} of {len(flips)} flips near-ties) | "
          f"{100.0 * agree / count:.1f}% | {100.0 * correct / count:.1f}% |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--field", default="title")
    parser.add_argument("--label-field", default="label")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    texts, labels = read_texts(args.texts, args.field, args.label_field, args.limit)
    tokenizer = tf.AutoTokenizer.from_pretrained(args.model)
    fp32 = load(args.model, args.device)
    embeddings = embed(fp32, tokenizer, texts, args.device)
    topic_scores = embeddings @ embed(fp32, tokenizer, list(TOPICS.values()), args.device).T
    top2 = topic_scores.topk(2, dim=1).values
    neighbours = nearest_labels(embeddings, labels)
    reference = dict(embeddings=embeddings, topics=topic_scores.argmax(dim=1),
                     margins=(top2[:, 0] - top2[:, 1]).tolist(), neighbours=neighbours)
    correct = sum(a == b for a, b in zip(neighbours, labels))
    print(f"torch {torch.__version__}, transformers {tf.__version__}, {args.device}; {len(texts)} texts "
          f"from {args.texts}; FP32 1-NN task accuracy {100.0 * correct / len(texts):.1f}%")
    print("| variant (PyTorch) | cosine min | cosine mean | topic top-1 | 1-NN label agreement | 1-NN accuracy |")
    print("| --- | --- | --- | --- | --- | --- |")
    variants = [("fp16 (whole model)", dict(dtype=torch.float16)),
                ("bf16 (whole model)", dict(dtype=torch.bfloat16))]
    variants += [(f"{fmt} weights, fp32 compute", dict(weights=fmt)) for fmt in WEIGHT_FORMATS]
    variants += [(f"{fmt} weights + per-token {fmt} activations", dict(weights=fmt, activations=fmt))
                 for fmt in ACTIVATION_FORMATS]
    for name, options in variants:
        evaluate(name, load(args.model, args.device, **options), tokenizer, texts, labels, args.device,
                 reference)


if __name__ == "__main__":
    main()
