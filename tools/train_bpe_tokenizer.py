#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer fixture (RoBERTa layout) used by the tokenizer parity tests.

There is no real RoBERTa vocabulary at hand, so we train a small one with Hugging Face
`tokenizers` on the Reuters-21578 bodies: ByteLevel pre-tokenizer (add_prefix_space=false),
RobertaProcessing, vocab ~8000, special tokens <s> <pad> </s> <unk> <mask>.

usage: tools/train_bpe_tokenizer.py [--data ../shared/data/news/reuters21578.jsonl]
                                    [--out tests/fixtures/tokenizers/roberta_bpe/tokenizer.json]
"""
import argparse
import json
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def reuters_bodies(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            body = json.loads(line).get("body")
            if body:
                yield body


def parse_args(fixture_name, vocab_size):
    """--data / --out / --vocab-size, defaulting to the Reuters corpus and the named fixture."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "news", "reuters21578.jsonl"))
    parser.add_argument("--out", default=os.path.join(root, "tests", "fixtures", "tokenizers", fixture_name, "tokenizer.json"))
    parser.add_argument("--vocab-size", type=int, default=vocab_size)
    return parser.parse_args()


def train_and_save(tokenizer, args):
    """Trains a byte-level BPE `tokenizer` on the Reuters bodies, adds RoBERTa post-processing, saves it."""
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(reuters_bodies(args.data), trainer=trainer)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")),
        ("<s>", tokenizer.token_to_id("<s>")),
        trim_offsets=True,
        add_prefix_space=False,
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tokenizer.save(args.out, pretty=False)
    print(f"wrote {args.out}: vocab {tokenizer.get_vocab_size()}, {os.path.getsize(args.out)} bytes")


def main():
    args = parse_args("roberta_bpe", 8000)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    train_and_save(tokenizer, args)


if __name__ == "__main__":
    main()
