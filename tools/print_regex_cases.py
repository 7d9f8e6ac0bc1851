#!/usr/bin/env python3
"""Prints the expected values of tests/tokenizer/regex_test.cc from Hugging Face `tokenizers`:
Split pre-tokenizer pieces (text and character offsets) for every behaviour, with and without
invert, and Replace normaliser outputs, for patterns that exercise Oniguruma-specific meanings.

usage: .venv/bin/python tools/print_regex_cases.py > /tmp/cases.inc   (then paste into the test)
"""
from tokenizers import Regex, normalizers, pre_tokenizers

BEHAVIORS = ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]
SPLIT_CASES = [
    (r"\d+", "Q3 sales rose 12% to 4,500 units"),
    (r"(?=[A-Z])", "NewYorkStockExchange"),
    (r"a*", "baab"),
    (r"\s", "a\u000bb\u0085c d\u3000e"),
    (r"\w+", "naïve café_x ½ 東京"),
    (r"\s+(?!\S)|\s+", "Zürich  \u00b7 Börse   up \U0001F4C8  "),
    (r"^\w", "line one\nline two"),
    (r"e.", "be\nhere"),
    (r"\h+", "0x1F ff zz\t9"),
]
REPLACE_CASES = [
    (r"\s+", " ", "Oil\n\n prices\t rose \u00a0 5%"),
    (r"x*", "-", "axxb"),
    (r"\p{N}+", "#", "Q3 rose 4,500 \u0661\u0662 units"),
    (r"(?<=\p{Lu})\.", "", "U.S. and U.K. deals"),
]


def cpp(text):
    out = []
    for ch in text:
        if 0x20 <= ord(ch) < 0x7F and ch not in '"\\':
            out.append(ch)
        else:
            out.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8")) + '""')
    return '"' + "".join(out) + '"'


for pattern, text in SPLIT_CASES:
    for behavior in BEHAVIORS:
        for invert in (False, True):
            split = pre_tokenizers.Split(Regex(pattern), behavior=behavior, invert=invert)
            pieces = split.pre_tokenize_str(text)
            rows = ", ".join(f"{{{cpp(p)}, {s}, {e}}}" for p, (s, e) in pieces)
            print(f'    {{R"({pattern})", {cpp(text)}, "{behavior}", {str(invert).lower()}, {{{rows}}}}},')
print("---")
for pattern, content, text in REPLACE_CASES:
    out = normalizers.Replace(Regex(pattern), content).normalize_str(text)
    print(f'    {{R"({pattern})", {cpp(content)}, {cpp(text)}, {cpp(out)}}},')
