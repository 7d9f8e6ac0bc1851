#!/usr/bin/env python3
"""Dumps Hugging Face `tokenizers` encodings of the news corpora for the C++ parity test.

usage: tools/dump_tokenizer_reference.py TOKENIZER_JSON OUT_FILE [--data-dir ../shared/data/news]

Every title and body of reuters21578.jsonl, agnews_test.jsonl and semeval2017_headlines.jsonl is
encoded (padding off) with:
  * no truncation (every text);
  * truncation at 512 (texts longer than 512 tokens; longest_first, right);
  * Reuters (title, body) pairs truncated at 128 (longest_first), and at 512 when longer.
Special tokens are added as the tokenizer's post-processor defines.

Binary layout (little-endian), read by tests/tokenizer/reference_dump.cc:
  magic b"JNTKREF1", u32 record_count, then per record:
  u8 kind (0 single, 1 pair), u32 max_length (0: no truncation),
  u32 label_len, label (utf-8, e.g. "reuters-1/body"), u32 a_len, a, [u32 b_len, b if pair],
  u32 n, i32 ids[n], u8 type_ids[n], u8 special_tokens_mask[n], i32 offsets[2n] (char offsets).
"""
import argparse
import json
import os
import struct
import sys
from array import array

from tokenizers import Tokenizer

CORPORA = ["reuters21578.jsonl", "agnews_test.jsonl", "semeval2017_headlines.jsonl"]


def load_texts(data_dir):
    singles, pairs = [], []
    for name in CORPORA:
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            for line in f:
                article = json.loads(line)
                for field in ("title", "body"):
                    if isinstance(article.get(field), str):
                        singles.append((f"{article['id']}/{field}", article[field]))
                if name.startswith("reuters") and article.get("title") and article.get("body"):
                    pairs.append((f"{article['id']}/title+body", article["title"], article["body"]))
    return singles, pairs


def pack_text(text):
    data = text.encode("utf-8")
    return struct.pack("<I", len(data)) + data


def pack_record(kind, max_length, label, a, b, encoding):
    out = [struct.pack("<BI", kind, max_length), pack_text(label), pack_text(a)]
    if kind == 1:
        out.append(pack_text(b))
    n = len(encoding.ids)
    out.append(struct.pack("<I", n))
    out.append(array("i", encoding.ids).tobytes())
    out.append(bytes(encoding.type_ids))
    out.append(bytes(encoding.special_tokens_mask))
    offsets = array("i")
    for start, end in encoding.offsets:
        offsets.append(start)
        offsets.append(end)
    out.append(offsets.tobytes())
    return b"".join(out)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("tokenizer_json")
    parser.add_argument("out_file")
    parser.add_argument("--data-dir", default=os.path.join(root, "..", "shared", "data", "news"))
    args = parser.parse_args()

    tokenizer = Tokenizer.from_file(args.tokenizer_json)
    tokenizer.no_padding()
    singles, pairs = load_texts(args.data_dir)
    records = []

    tokenizer.no_truncation()
    full = tokenizer.encode_batch([text for _, text in singles])
    long_singles = []
    for (label, text), encoding in zip(singles, full):
        records.append(pack_record(0, 0, label, text, None, encoding))
        if len(encoding.ids) > 512:
            long_singles.append((label, text))
    full_pairs = tokenizer.encode_batch([(a, b) for _, a, b in pairs])
    long_pairs = [p for p, e in zip(pairs, full_pairs) if len(e.ids) > 512]

    tokenizer.enable_truncation(512)
    for (label, text), encoding in zip(long_singles, tokenizer.encode_batch([t for _, t in long_singles])):
        records.append(pack_record(0, 512, label, text, None, encoding))
    for (label, a, b), encoding in zip(long_pairs, tokenizer.encode_batch([(a, b) for _, a, b in long_pairs])):
        records.append(pack_record(1, 512, label, a, b, encoding))
    tokenizer.enable_truncation(128)
    for (label, a, b), encoding in zip(pairs, tokenizer.encode_batch([(a, b) for _, a, b in pairs])):
        records.append(pack_record(1, 128, label, a, b, encoding))

    os.makedirs(os.path.dirname(os.path.abspath(args.out_file)), exist_ok=True)
    with open(args.out_file, "wb") as f:
        f.write(b"JNTKREF1" + struct.pack("<I", len(records)))
        for record in records:
            f.write(record)
    print(f"wrote {args.out_file}: {len(records)} records ({len(singles)} texts, {len(long_singles)} over 512 "
          f"tokens, {len(pairs)} pairs)", file=sys.stderr)


if __name__ == "__main__":
    main()
