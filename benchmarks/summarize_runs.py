"""A Markdown table of run folders' dev and test headline numbers, from their run.json.

python benchmarks/summarize_runs.py runs/default/pilot_* --title "Variants"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eqn.metrics import headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--title", default="Runs")
    args = parser.parse_args()
    print(f"# {args.title}\n")
    print(f"Made by `python benchmarks/summarize_runs.py {' '.join(map(str, args.runs))}`.\n")
    print(
        "| run | stage | loss | imbalance | train texts | dev score (selection) | "
        "test macro F1, dev-tuned h | test macro F1, top-k_i | test hit rate, top-k_i | "
        "train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for folder in args.runs:
        record = json.loads((folder / "run.json").read_text())
        for stage, result in record["stages"].items():
            if "metrics" not in result:
                continue
            test = headline(result["metrics"]["test"])
            config = record["config"]
            rows.append(
                (
                    result["history"][-1].get("dev_score", float("nan")),
                    [
                        folder.name,
                        stage,
                        config["loss"] if stage not in ("M", "S") else "bce/ce",
                        config["imbalance"],
                        str(record["sizes"]["train"]),
                        f"{max(h.get('dev_score', 0) for h in result['history']):.4f}",
                        f"{test['dev_tuned_macro_f1']:.4f}",
                        f"{test['topk_macro_f1']:.4f}",
                        f"{test['topk_hit_rate']:.4f}",
                        f"{result['train_seconds']:.0f}",
                    ],
                )
            )
    for _, row in sorted(rows, key=lambda r: -r[0]):
        print("| " + " | ".join(row) + " |")
    first = json.loads((args.runs[0] / "run.json").read_text())["environment"]
    print(f"\nMachine: {first['machine']}, torch {first['torch']}, no GPU.")


if __name__ == "__main__":
    main()
