"""Streaming at scale: ``eqn annotate`` on generated CSV files of growing size.

The sentences are generated from fragments written for this benchmark (no
dataset text). For each size, ``eqn annotate`` runs in a child process and its
peak RSS is read from the kernel's accounting, so a flat peak across sizes shows
that memory does not grow with the input.

    python benchmarks/scale_annotate.py --model MODEL --rows 10000,100000,1000000 \
        --out benchmarks/results/scale_annotate.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OPENINGS = ["Honestly,", "Wow,", "Well,", "Ugh,", "Oh no,", "Thanks,", "Hmm,", "Yes!", "", ""]
SUBJECTS = [
    "this movie",
    "my sister",
    "the new update",
    "our team",
    "that idea",
    "the weather",
    "your comment",
    "the whole day",
    "this song",
    "the service",
]
VERBS = [
    "made me so happy",
    "is really annoying",
    "scared me a bit",
    "was a lovely surprise",
    "makes no sense to me",
    "is exactly what I hoped for",
    "broke my heart",
    "made me laugh so hard",
    "is kind of disappointing",
    "deserves some respect",
]
ENDINGS = [".", "!", "?", " today.", " again!", " to be honest.", " lol.", "..."]


def write_sentences(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, len(part), rows) for part in (OPENINGS, SUBJECTS, VERBS, ENDINGS)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(rows):
            text = " ".join(
                p for p in (OPENINGS[picks[0][i]], SUBJECTS[picks[1][i]], VERBS[picks[2][i]]) if p
            )
            writer.writerow([i, text + ENDINGS[picks[3][i]]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale_annotate.json"))
    args = parser.parse_args()
    results = []
    for rows in (int(r) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "generated.csv"
            write_sentences(source, rows)
            # A fresh child per size: RUSAGE_CHILDREN keeps the largest child's peak so far,
            # so sizes run in increasing order and each peak is read after its own run.
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "eqn",
                    "annotate",
                    str(source),
                    "--model",
                    args.model,
                    "--no-progress",
                ],
                check=True,
                capture_output=True,
            )
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            output = source.with_name("generated.eqn.csv")
            with output.open(encoding="utf-8") as handle:
                written = sum(1 for _ in handle) - 1
            row = {
                "rows": rows,
                "rows_written": written,
                "seconds": round(seconds, 1),
                "rows_per_s": round(rows / seconds, 1),
                "peak_rss_mib_so_far": round(peak),
                "input_mib": round(source.stat().st_size / 2**20, 1),
                "output_mib": round(output.stat().st_size / 2**20, 1),
            }
            print(json.dumps(row), flush=True)
            results.append(row)
    record = {
        "command": f"python benchmarks/scale_annotate.py --model {args.model} --rows {args.rows}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only",
        "model": args.model,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
