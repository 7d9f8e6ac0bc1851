#!/usr/bin/env python3
"""Writes random-weight checkpoints with the shapes of the production agents, for speed tests:
sentiment (RoBERTa-base, 3 labels), toxicity (BERT-base, 6 labels, multi-label) and embeddings
(all-MiniLM-L6-v2 shape, mean pooling + L2). Each directory gets a tokenizer.json copied from the
repository's test fixtures (byte-level BPE for RoBERTa, MiniLM's WordPiece for the BERT models);
the ids it produces fit the random vocabularies. Run where transformers is installed.

usage: tools/make_random_checkpoints.py OUT_DIR
"""
import json
import os
import shutil
import sys

import torch
import transformers as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPE = os.path.join(ROOT, "tests/fixtures/tokenizers/roberta_bpe/tokenizer.json")
WORDPIECE = os.path.join(ROOT, "tests/fixtures/tokenizers/minilm_wordpiece/tokenizer.json")


def labels(count):
    return dict(id2label={i: f"label_{i}" for i in range(count)}, label2id={f"label_{i}": i for i in range(count)})


def save(model, directory, tokenizer):
    os.makedirs(directory, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    shutil.copy(tokenizer, os.path.join(directory, "tokenizer.json"))


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    sentiment = tf.RobertaForSequenceClassification(tf.RobertaConfig(
        vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, **labels(3)))
    save(sentiment, os.path.join(out, "sentiment"), BPE)
    toxicity = tf.BertForSequenceClassification(tf.BertConfig(
        problem_type="multi_label_classification", **labels(6)))
    save(toxicity, os.path.join(out, "toxicity"), WORDPIECE)
    embeddings = tf.BertModel(tf.BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                            intermediate_size=1536))
    directory = os.path.join(out, "embeddings")
    save(embeddings, directory, WORDPIECE)
    with open(os.path.join(directory, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
    os.makedirs(os.path.join(directory, "1_Pooling"), exist_ok=True)
    with open(os.path.join(directory, "1_Pooling", "config.json"), "w") as f:
        json.dump({"pooling_mode_mean_tokens": True}, f)
    print("wrote", ", ".join(sorted(os.listdir(out))), "to", out)


if __name__ == "__main__":
    main()
