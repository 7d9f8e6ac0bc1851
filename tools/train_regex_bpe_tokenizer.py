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
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from train_bpe_tokenizer import parse_args, train_and_save

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def main():
    args = parse_args("regex_bpe", 4000)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s+"), " "), normalizers.NFC()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT2_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    train_and_save(tokenizer, args)


if __name__ == "__main__":
    main()
