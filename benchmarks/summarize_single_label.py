"""Summarise benchmarks/single_label.sh: accuracy by max() of S, CoEQN and EQN on
6emotions dev and test, mean +- std over the seeds of each cell.

    python benchmarks/summarize_single_label.py --out benchmarks/results/single_label.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

STAGES = {"S": "S (softmax)", "coeqn": "CoEQN", "eqn": "EQN"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=Path("runs/single_label"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/single_label.md"))
    args = parser.parse_args()
    cells: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    seeds: dict[str, list[int]] = defaultdict(list)
    for run in sorted(args.runs.glob("*_seed*/run.json")):
        cell, seed = re.match(r"(.+)_seed(\d+)$", run.parent.name).groups()
        record = json.loads(run.read_text(encoding="utf-8"))["stages"]
        if not all("metrics" in record.get(stage, {}) for stage in STAGES):
            continue  # unfinished
        seeds[cell].append(int(seed))
        for stage in STAGES:
            for split in ("dev", "test"):
                accuracy = record[stage]["metrics"][split]["paper"]["accuracy_by_max"]
                cells[cell][stage][split].append(accuracy)
    lines = [
        "# Single-label: S against CoEQN and EQN, LoRA all-MiniLM-L6-v2 on 6emotions",
        "",
        "Accuracy by max(), mean +- std over seeds (population std). Command: "
        "`CELL=... bash benchmarks/single_label.sh`, then "
        "`python benchmarks/summarize_single_label.py`. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only.",
        "",
        "| cell | seeds | split | S | CoEQN | EQN | EQN - S |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in sorted(cells):
        for split in ("dev", "test"):
            values = {s: np.array(cells[cell][s][split]) for s in STAGES}
            shown = [f"{v.mean():.4f} +- {v.std():.4f}" for v in values.values()]
            gap = values["eqn"].mean() - values["S"].mean()
            lines.append(
                f"| {cell} | {','.join(map(str, sorted(seeds[cell])))} | {split} | "
                + " | ".join(shown)
                + f" | {gap * 100:+.2f} pt |"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
