#!/usr/bin/env python3
"""Builds the parity fixtures the C++ tests compare against (run where torch + transformers exist).

For each tiny random-weight model (BERT, RoBERTa, DistilBERT; base, sequence / multi-label / token
classification heads) it writes tests/fixtures/<name>/ with config.json, model.safetensors,
pytorch_model.bin and reference.safetensors: packed inputs (input_ids, type_ids, seq_offsets) and
what transformers computes for them (hidden_states, logits, embeddings), all float32 on the CPU.

With --minilm DIR it also embeds 64 news titles with sentence-transformers/all-MiniLM-L6-v2 and writes
tests/fixtures/minilm/{titles.json,reference.safetensors}. titles.json names the titles by corpus,
id and line only: the text stays in ../shared/data/news, never in the repository.

Usage: python3 tools/make_fixtures.py [--out tests/fixtures] [--minilm models/all-MiniLM-L6-v2]
"""
import argparse
import json
import os
import random

import torch
from safetensors.torch import save_file
import transformers as tf

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=64)
LENGTHS = [1, 5, 17, 40, 2]  # includes a single-token and a near-maximum sequence


def bert_config(**extra):
    return tf.BertConfig(**TINY, type_vocab_size=2, layer_norm_eps=1e-12, **extra)


def roberta_config(**extra):
    tiny = dict(TINY, max_position_embeddings=TINY["max_position_embeddings"] + 2)
    return tf.RobertaConfig(**tiny, type_vocab_size=1, pad_token_id=1, bos_token_id=0,
                            eos_token_id=2, layer_norm_eps=1e-5, **extra)


def distilbert_config(**extra):
    return tf.DistilBertConfig(vocab_size=TINY["vocab_size"], dim=TINY["hidden_size"],
                               n_layers=TINY["num_hidden_layers"], n_heads=TINY["num_attention_heads"],
                               hidden_dim=TINY["intermediate_size"],
                               max_position_embeddings=TINY["max_position_embeddings"], **extra)


def labels(count):
    return dict(id2label={i: f"label_{i}" for i in range(count)},
                label2id={f"label_{i}": i for i in range(count)})


# name -> (model class, config factory, config extras, sentence-transformers pooling or None)
FIXTURES = {
    "bert_base": (tf.BertModel, bert_config, {}, ("mean", True)),
    "bert_cls_pooling": (tf.BertModel, bert_config, {}, ("cls", False)),
    "bert_gelu_tanh": (tf.BertModel, bert_config, {"hidden_act": "gelu_new"}, ("max", False)),
    "bert_seqcls": (tf.BertForSequenceClassification, bert_config, labels(3), None),
    "bert_multilabel": (tf.BertForSequenceClassification, bert_config,
                        dict(labels(6), problem_type="multi_label_classification"), None),
    "bert_tokcls": (tf.BertForTokenClassification, bert_config, labels(5), None),
    "roberta_base": (tf.RobertaModel, roberta_config, {}, ("mean", True)),
    "roberta_seqcls": (tf.RobertaForSequenceClassification, roberta_config, labels(3), None),
    "roberta_tokcls": (tf.RobertaForTokenClassification, roberta_config, labels(4), None),
    "distilbert_base": (tf.DistilBertModel, distilbert_config, {}, ("mean", False)),
    "distilbert_seqcls": (tf.DistilBertForSequenceClassification, distilbert_config, labels(2), None),
    "distilbert_relu_tokcls": (tf.DistilBertForTokenClassification, distilbert_config,
                               dict(labels(3), activation="relu"), None),
    "bert_f16_weights": (tf.BertForSequenceClassification, bert_config, labels(3), None),
    "roberta_bf16_weights": (tf.RobertaModel, roberta_config, {}, ("cls", True)),
}
# Fixtures whose checkpoint is stored in a 16-bit dtype; references use those rounded weights.
STORED_DTYPES = {"bert_f16_weights": torch.float16, "roberta_bf16_weights": torch.bfloat16}


def make_inputs(config, rng):
    """Random packed sequences with a leading special token and no padding ids inside."""
    low = 3  # avoid RoBERTa's pad id (1) so position ids are plain offsets
    sequences, types = [], []
    type_vocab = getattr(config, "type_vocab_size", 0) or 1
    for length in LENGTHS:
        ids = [0] + [rng.randrange(low, config.vocab_size) for _ in range(length - 1)]
        split = length // 2
        sequences.append(ids)
        types.append([0] * split + [1 if type_vocab > 1 else 0] * (length - split))
    return sequences, types


def pool(hidden, mode, normalize):
    if mode == "cls":
        out = hidden[0]
    elif mode == "mean":
        out = hidden.mean(dim=0)
    else:
        out = hidden.max(dim=0).values
    if normalize:
        out = torch.nn.functional.normalize(out, p=2, dim=0)
    return out


def write_pooling(directory, mode, normalize):
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    with open(os.path.join(directory, "modules.json"), "w") as f:
        json.dump(modules, f, indent=2)
    os.makedirs(os.path.join(directory, "1_Pooling"), exist_ok=True)
    with open(os.path.join(directory, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": TINY["hidden_size"],
                   "pooling_mode_cls_token": mode == "cls",
                   "pooling_mode_mean_tokens": mode == "mean",
                   "pooling_mode_max_tokens": mode == "max",
                   "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=2)


def run_model(model, sequences, types, uses_token_types):
    """Runs each sequence alone (no padding anywhere) and returns packed outputs."""
    hidden_parts, logit_parts = [], []
    with torch.no_grad():
        for ids, type_ids in zip(sequences, types):
            kwargs = {"input_ids": torch.tensor([ids])}
            if uses_token_types:
                kwargs["token_type_ids"] = torch.tensor([type_ids])
            out = model(**kwargs, output_hidden_states=True)
            hidden_parts.append(out.hidden_states[-1][0])
            if hasattr(out, "logits"):
                logit_parts.append(out.logits[0])
    return hidden_parts, logit_parts


def make_fixture(name, out_dir, seed):
    model_class, config_factory, extras, pooling = FIXTURES[name]
    torch.manual_seed(seed)
    rng = random.Random(seed)
    config = config_factory(**extras)
    model = model_class(config).eval()
    # Non-trivial LayerNorm and bias values so that a swapped gamma/beta or a dropped bias shows.
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if param_name.endswith("bias") or "LayerNorm" in param_name or "layer_norm" in param_name:
                param.add_(torch.randn_like(param) * 0.1)
    directory = os.path.join(out_dir, name)
    os.makedirs(directory, exist_ok=True)
    stored_dtype = STORED_DTYPES.get(name, torch.float32)
    model.to(stored_dtype).save_pretrained(directory, safe_serialization=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(directory, "pytorch_model.bin"))
    model.to(torch.float32)  # references run in float32 on the (possibly rounded) stored weights
    if pooling:
        write_pooling(directory, *pooling)

    sequences, types = make_inputs(config, rng)
    uses_token_types = not isinstance(config, tf.DistilBertConfig)
    hidden_parts, logit_parts = run_model(model, sequences, types, uses_token_types)
    offsets = [0]
    for ids in sequences:
        offsets.append(offsets[-1] + len(ids))
    tensors = {
        "input_ids": torch.tensor([i for s in sequences for i in s], dtype=torch.int32),
        "type_ids": torch.tensor([t for s in types for t in s], dtype=torch.int32),
        "seq_offsets": torch.tensor(offsets, dtype=torch.int32),
        "hidden_states": torch.cat(hidden_parts).float().contiguous(),
    }
    if logit_parts:
        if "TokenClassification" in model_class.__name__:
            tensors["logits"] = torch.cat(logit_parts).float().contiguous()
        else:
            tensors["logits"] = torch.stack(logit_parts).float().contiguous()
    if pooling:
        tensors["embeddings"] = torch.stack([pool(h, *pooling) for h in hidden_parts]).contiguous()
    save_file(tensors, os.path.join(directory, "reference.safetensors"))
    print(f"{name}: {len(sequences)} sequences, {offsets[-1]} tokens, outputs {sorted(tensors)}")


def pick_titles(data_dir):
    """64 titles: 32 Reuters, 16 AG News, 16 SemEval headlines, spread over each file."""
    picks = []
    for file_name, count in (("reuters21578.jsonl", 32), ("agnews_test.jsonl", 16),
                             ("semeval2017_headlines.jsonl", 16)):
        with open(os.path.join(data_dir, file_name), encoding="utf-8") as f:
            rows = [dict(json.loads(line), line=line_idx + 1) for line_idx, line in enumerate(f)]
        rows = [r for r in rows if r.get("title", "").strip()]
        step = len(rows) // count
        # Ids repeat in some corpora (SemEval), so the 1-based line number names the article too.
        picks += [{"corpus": file_name, "id": rows[i * step]["id"], "line": rows[i * step]["line"],
                   "title": rows[i * step]["title"]} for i in range(count)]
    return picks


def make_minilm(model_dir, out_dir, data_dir):
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(model_dir, device="cpu")
    picks = pick_titles(data_dir)
    titles = [p["title"] for p in picks]
    embeddings = model.encode(titles, batch_size=16, convert_to_tensor=True, normalize_embeddings=False)
    features = model.tokenize(titles)
    ids, offsets = [], [0]
    for row, mask in zip(features["input_ids"], features["attention_mask"]):
        valid = row[mask.bool()].tolist()
        ids += valid
        offsets.append(offsets[-1] + len(valid))
    directory = os.path.join(out_dir, "minilm")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "titles.json"), "w") as f:
        json.dump([{"corpus": p["corpus"], "id": p["id"], "line": p["line"]} for p in picks], f, indent=1)
    save_file({"input_ids": torch.tensor(ids, dtype=torch.int32),
               "type_ids": torch.zeros(len(ids), dtype=torch.int32),
               "seq_offsets": torch.tensor(offsets, dtype=torch.int32),
               "embeddings": embeddings.float().cpu().contiguous()},
              os.path.join(directory, "reference.safetensors"))
    print(f"minilm: {len(titles)} titles, {offsets[-1]} tokens")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/fixtures")
    parser.add_argument("--minilm", default=None, help="all-MiniLM-L6-v2 directory")
    parser.add_argument("--data", default="../shared/data/news")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for seed, name in enumerate(FIXTURES):
        make_fixture(name, args.out, 1000 + seed)
    if args.minilm:
        make_minilm(args.minilm, args.out, args.data)


if __name__ == "__main__":
    main()
