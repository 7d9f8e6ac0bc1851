#!/usr/bin/env python3
"""Writes the news-mix benchmark input: batches of Reuters-21578 bodies as token ids, so the device
run (where ../shared does not travel) can time ours and torch on the very same batches.

The bodies are tokenised with the model's tokenizer.json (BERT uncased WordPiece for MiniLM and
bert-base-uncased: the same vocabulary) through the Hugging Face `tokenizers` library, truncated
at --max-length with [CLS]/[SEP]. Output (little-endian): b"JNIDS1\\0\\0", u32 sequence count, u32
batch size, u32 length per sequence, then every sequence's int32 ids end to end.

Usage: python3 bench/peers/make_news_mix.py --tokenizer models/all-MiniLM-L6-v2/tokenizer.json \\
           --corpus ../shared/data/news/reuters21578.jsonl --out .carry/news_mix.ids
"""
import argparse
import json
import struct

from tokenizers import Tokenizer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--field", default="body")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=16)
    args = parser.parse_args()
    tokenizer = Tokenizer.from_file(args.tokenizer)
    tokenizer.enable_truncation(args.max_length)
    texts = []
    with open(args.corpus, encoding="utf-8") as corpus:
        for line in corpus:
            text = json.loads(line).get(args.field) or ""
            if text.strip():
                texts.append(text)
            if len(texts) == args.batch * args.batches:
                break
    encodings = tokenizer.encode_batch(texts)
    lengths = [len(encoding.ids) for encoding in encodings]
    with open(args.out, "wb") as out:
        out.write(b"JNIDS1\0\0")
        out.write(struct.pack("<II", len(encodings), args.batch))
        out.write(struct.pack(f"<{len(lengths)}I", *lengths))
        for encoding in encodings:
            out.write(struct.pack(f"<{len(encoding.ids)}i", *encoding.ids))
    print(f"{len(texts)} texts, {len(encodings) // args.batch} batches of {args.batch}, mean length "
          f"{sum(lengths) / len(lengths):.1f}, longest {max(lengths)}, at the limit {sum(l == args.max_length for l in lengths)}")


if __name__ == "__main__":
    main()
