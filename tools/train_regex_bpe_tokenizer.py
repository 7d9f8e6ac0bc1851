#!/usr/bin/env python3
"""Trains the regex byte-level BPE tokenizer fixture used by the tokenizer parity tests.

Same data and model as train_bpe_tokenizer.py, but the regular expressions live in the
tokenizer.json itself, so the C++ side must run them (ICU) rather than its built-in GPT-2 splitter:
  normalizer     Sequence[Replace(Regex("\\s+"), " "), NFC]
  pre_tokenizer  Sequence[Split(Regex(GPT-2 pattern), "isolated"), ByteLevel(use_regex=False)]
  post_processor RobertaProcessing; vocab ~4000.

usage: tools/train_regex_bpe_tokenizer.py [--data ../shared/data/news/reuters21578.jsonl]
                                          [--out tests/fixtures/tokenizers/regex_bpe/tokenizer.json]
"""
import argparse
import os

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from train_bpe_tokenizer import SPECIAL_TOKENS, reuters_bodies

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "news", "reuters21578.jsonl"))
    parser.add_argument("--out", default=os.path.join(root, "tests", "fixtures", "tokenizers", "regex_bpe", "tokenizer.json"))
    parser.add_argument("--vocab-size", type=int, default=4000)
    args = parser.parse_args()

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s+"), " "), normalizers.NFC()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT2_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
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


if __name__ == "__main__":
    main()
