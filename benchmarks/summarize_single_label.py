"""Summarise benchmarks/single_label.sh: accuracy by max() of S, CoEQN and EQN on
6emotions dev and test, mean +- std over the seeds of each cell.

Two steps, because runs/ does not outlive a session but the grid does:

    # after each run (single_label.sh does this): keep a small record of it
    python benchmarks/summarize_single_label.py --keep runs/single_label/default_seed0 \
        --cell default --seed 0
    # the table, from the kept records
    python benchmarks/summarize_single_label.py --out benchmarks/results/single_label.md

A cell run without S (a factor S does not have) borrows S from the default cell's
run of the same seed, so its EQN - S gap compares like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

STAGES = {"S": "S (softmax)", "coeqn": "CoEQN", "eqn": "EQN"}
KEEP_DIR = Path("benchmarks/results/single_label_runs")


def soft_target_stats(relabelled: Path) -> dict[str, float]:
    """How Model 1's energies behave as soft targets when exactly one label is gold."""
    frame = pd.read_csv(relabelled, keep_default_na=False)
    labels = [c for c in frame.columns if c not in ("text", "labels")]
    energies = frame[labels].to_numpy(dtype=float)
    gold = np.array([[name in str(cell).split(",") for name in labels] for cell in frame["labels"]])
    non_gold = np.where(gold, -np.inf, energies)
    runner_up = non_gold.max(axis=1)
    return {
        "non_gold_mean": float(energies[~gold].mean()),
        "non_gold_share_at_least_1": float((energies[~gold] >= 1).mean()),
        "runner_up_mean": float(runner_up.mean()),
        # Texts whose relabelled runner-up is within 2 energy points of the gold 10:
        # Model 2 is then taught a near tie between the gold label and another.
        "share_runner_up_at_least_8": float((runner_up >= 8).mean()),
        "share_runner_up_at_least_5": float((runner_up >= 5).mean()),
    }


def keep(run: Path, cell: str, seed: int, extra: str, keep_dir: Path) -> Path:
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    stages: dict[str, Any] = {}
    for stage in STAGES:
        result = record["stages"].get(stage, {})
        if "metrics" not in result:
            continue
        stages[stage] = {
            split: result["metrics"][split]["paper"]["accuracy_by_max"] for split in ("dev", "test")
        } | {"best_epoch": result["best_epoch"], "epochs": len(result["history"])}
    kept = {"cell": cell, "seed": seed, "extra": extra, "stages": stages}
    relabel = record["stages"].get("relabel", {})
    if relabel.get("file") and Path(relabel["file"]).is_file():
        kept["soft_targets"] = soft_target_stats(Path(relabel["file"]))
    keep_dir.mkdir(parents=True, exist_ok=True)
    target = keep_dir / f"{cell}_seed{seed}.json"
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
    partial.replace(target)
    return target


def table(keep_dir: Path) -> list[str]:
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(keep_dir.glob("*.json"))]
    default_s = {r["seed"]: r["stages"]["S"] for r in records if r["cell"] == "default"}
    cells: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        stages = record["stages"]
        if "S" not in stages and record["seed"] in default_s:
            stages = stages | {"S": default_s[record["seed"]]}
        if all(stage in stages for stage in STAGES):
            cells[record["cell"]].append(record | {"stages": stages})
    lines = [
        "| cell | flags | seeds | split | S | CoEQN | EQN | EQN - S | best epochs (EQN) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["default"] + sorted(c for c in cells if c != "default")
    for cell in (c for c in order if c in cells):
        runs = sorted(cells[cell], key=lambda r: r["seed"])
        seeds = ",".join(str(r["seed"]) for r in runs)
        for split in ("dev", "test"):
            values = {s: np.array([r["stages"][s][split] for r in runs]) for s in STAGES}
            shown = [f"{v.mean():.4f} +- {v.std():.4f}" for v in values.values()]
            gap = values["eqn"].mean() - values["S"].mean()
            epochs = ", ".join(
                f"{r['stages']['eqn']['best_epoch']}/{r['stages']['eqn']['epochs']}" for r in runs
            )
            flags = f"`{runs[0]['extra']}`" if runs[0]["extra"] else "(old default)"
            lines.append(
                f"| {cell} | {flags} | {seeds} | {split} | "
                + " | ".join(shown)
                + f" | {gap * 100:+.2f} pt | {epochs} |"
            )
    soft = [(r["cell"], r["seed"], r["soft_targets"]) for r in records if "soft_targets" in r]
    if soft:
        lines += [
            "",
            "Relabelled soft targets on train (exactly one gold label per text):",
            "",
            "| cell | seed | non-gold mean | non-gold >= 1 | runner-up mean "
            "| runner-up >= 5 | runner-up >= 8 |",
            "|---|---|---|---|---|---|---|",
        ]
        for cell, seed, s in soft:
            lines.append(
                f"| {cell} | {seed} | {s['non_gold_mean']:.3f} "
                f"| {s['non_gold_share_at_least_1']:.4f} | "
                f"{s['runner_up_mean']:.3f} | {s['share_runner_up_at_least_5']:.4f} | "
                f"{s['share_runner_up_at_least_8']:.4f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="a finished run folder to keep a record of")
    parser.add_argument("--cell")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--extra", default="", help="the flags that define the cell")
    parser.add_argument("--keep-dir", type=Path, default=KEEP_DIR)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/single_label.md"))
    args = parser.parse_args()
    if args.keep:
        if args.cell is None or args.seed is None:
            parser.error("--keep needs --cell and --seed")
        print(keep(args.keep, args.cell, args.seed, args.extra, args.keep_dir))
        return
    lines = [
        "# Single-label: S against CoEQN and EQN, LoRA all-MiniLM-L6-v2 on 6emotions",
        "",
        "Accuracy by max(), mean +- std over seeds (population std); one factor at a "
        "time from the old default (LoRA, MSE on 0/10, pos_weight, 2 epochs). Command: "
        "`bash benchmarks/single_label_grid.sh`, then "
        "`python benchmarks/summarize_single_label.py`. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only.",
        "",
        *table(args.keep_dir),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
