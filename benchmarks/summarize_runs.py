"""A Markdown table of run folders' dev and test headline numbers, from their run.json.

python benchmarks/summarize_runs.py runs/default/pilot_* --title "Variants"
python benchmarks/summarize_runs.py runs/relabel/seed*/* --group-by variant

``--group-by stage`` averages each stage over the runs given (one per seed);
``--group-by variant`` averages each (run folder name, stage) pair, for layouts
like ``runs/relabel/seed0/warm``, ``runs/relabel/seed1/warm``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

from eqn.core.metrics import headline

COLUMNS = (
    "dev",
    "dev_tuned_macro_f1",
    "dev_tuned_per_label_macro_f1",
    "topk_macro_f1",
    "topk_hit_rate",
)


def read_rows(folders: list[Path]) -> list[dict]:
    rows = []
    for folder in folders:
        record = json.loads((folder / "run.json").read_text())
        for stage, result in record["stages"].items():
            if "metrics" not in result:
                continue
            config = record["config"]
            relabel = record["stages"].get("relabel", {})
            rows.append(
                {
                    "run": str(folder).removeprefix("runs/"),
                    "variant": folder.name,
                    "stage": stage,
                    "seed": record["seed"],
                    "loss": config["loss"] if stage not in ("M", "S") else "bce/ce",
                    "imbalance": config["imbalance"],
                    "start": "warm" if result.get("warm_start") else "fresh",
                    "relabel": (
                        f"{relabel.get('folds', 1)}-fold" if stage == "eqn" and relabel else ""
                    ),
                    "train": record["sizes"]["train"],
                    "epochs": f"{result['best_epoch']}/{len(result['history'])}",
                    "dev": max(h.get("dev_score", 0) for h in result["history"]),
                    **headline(result["metrics"]["test"]),
                    "seconds": result["train_seconds"],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--title", default="Runs")
    parser.add_argument("--group-by", choices=("none", "stage", "variant"), default="none")
    args = parser.parse_args()
    rows = read_rows(args.runs)
    command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    print(f"# {args.title}\n")
    print(f"Made by `{command}`.\n")
    if args.group_by != "none":
        key = (
            (lambda r: r["stage"])
            if args.group_by == "stage"
            else (lambda r: f"{r['variant']} ({r['stage']})")
        )
        groups: dict[str, list[dict]] = {}
        for row in rows:
            groups.setdefault(key(row), []).append(row)
        print("Mean over seeds (each seed's value in brackets), test split unless marked dev.\n")
        print(
            "| model | seeds | dev score (selection) | test macro F1, dev-tuned h | "
            "same, per-label h | test macro F1, top-k_i | test hit rate, top-k_i |"
        )
        print("|---|---|---|---|---|---|---|")
        ordered = sorted(groups.items(), key=lambda kv: -statistics.mean(r["dev"] for r in kv[1]))
        for name, members in ordered:
            members.sort(key=lambda r: r["seed"])
            cells = [
                f"{statistics.mean(r[c] for r in members):.4f} "
                f"({', '.join(f'{r[c]:.4f}' for r in members)})"
                for c in COLUMNS
            ]
            seeds = ", ".join(str(r["seed"]) for r in members)
            print(f"| {name} | {seeds} | " + " | ".join(cells) + " |")
        print("\n## Every run\n")
    print(
        "| run | stage | seed | loss | imbalance | start | relabel | train texts | best epoch | "
        "dev score (selection) | test macro F1, dev-tuned h | same, per-label h | "
        "test macro F1, top-k_i | test hit rate, top-k_i | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: -r["dev"]):
        cells = [
            row["run"],
            row["stage"],
            row["seed"],
            row["loss"],
            row["imbalance"],
            row["start"],
            row["relabel"],
            row["train"],
            row["epochs"],
            *(f"{row[c]:.4f}" for c in COLUMNS),
            f"{row['seconds']:.0f}",
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    first = json.loads((args.runs[0] / "run.json").read_text())["environment"]
    print(f"\nMachine: {first['machine']}, torch {first['torch']}, no GPU.")


if __name__ == "__main__":
    main()
