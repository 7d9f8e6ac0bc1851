#!/usr/bin/env python3
"""Per-forward kernel time table from an Nsight Compute CSV (gpu__time_duration.sum).

The forward count is the number of embedding-LayerNorm launches (one per forward), so the table
reads as "what one forward spends in each kernel", whatever warm-up the bench did.
Usage: kernel_summary.py ncu.csv [TITLE]
"""
import csv
import re
import sys
from collections import defaultdict

UNITS = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0, "second": 1e3, "s": 1e3}


def short_name(name: str) -> str:
    name = re.sub(r"\(.*$", "", name)           # drop argument lists
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"<.*", "<>", name) if len(name) > 70 else name
    return name[:90]


def main() -> None:
    path = sys.argv[1]
    title = sys.argv[2] if len(sys.argv) > 2 else path
    totals = defaultdict(float)
    counts = defaultdict(int)
    with open(path, newline="") as handle:
        lines = [line for line in handle if line.startswith('"')]
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", "")) * UNITS.get(row["Metric Unit"], 1.0)
        name = short_name(row["Kernel Name"])
        totals[name] += value
        counts[name] += 1
    forwards = max((c for n, c in counts.items() if "embeddings_layer_norm" in n), default=1)
    print(f"## {title}: {forwards} forwards profiled; ms per forward")
    grand = sum(totals.values()) / forwards
    for name, total in sorted(totals.items(), key=lambda item: -item[1]):
        per = total / forwards
        print(f"{per:8.3f} ms {100 * per / grand:5.1f}%  x{counts[name] / forwards:5.1f}  {name}")
    print(f"{grand:8.3f} ms total kernel time per forward")


if __name__ == "__main__":
    main()
