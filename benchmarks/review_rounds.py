"""A Label Studio project over many training jobs: does its model drift?

Label Studio sends a project's every annotation to each training job. ``eqn serve
--allow-training`` continues the project's current version on that whole export
for one epoch and keeps the new version only if it does no worse on its held-out
share, so the annotations of early rounds are trained on again in every later job.
This simulates such a project on GoEmotions train texts (their gold labels as one
annotator's choices): ``--rounds`` jobs, ``--step`` new annotations before each, and
compares three ways to train each job:

* ``continue``: the service's way (the current version, 1 epoch, the gate);
* ``from-base-1`` and ``from-base-3``: the base model on the whole export for 1 or 3
  epochs, kept if no worse than the current version on the same held-out share.

Each served model is scored on the first ``--dev`` texts of GoEmotions dev (macro F1
of its own label sets at its h). The base must not have seen the pool: the review
loop simulation's first model (M on 1,000 random train texts; those texts are left
out of the pool), made by ``benchmarks/loop_simulation.py run``.

    python benchmarks/review_rounds.py --base runs/loop/seed0/start/labels1000 \\
        --data-dir ../shared/data/goemotions --out benchmarks/results/review_rounds.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WAYS = {"continue": (None, 1), "from-base-1": ("base", 1), "from-base-3": ("base", 3)}


def macro_f1(model: Any, data: Any) -> float:
    """Macro F1 of the model's own label sets (eq. 8 at its h), as users get them."""
    from eqn.core import energy as E

    scored = model.score(data.texts)
    h = model.threshold_for(calibrated=scored.calibrated)
    predicted = E.classify_threshold(scored.energies, h, model.config.keep_top)
    return float(E.f1_per_label(predicted, data.gold).mean())


def export_of(splits: Any, rows: np.ndarray) -> Any:
    """The pool's ``rows`` as a one-annotator export (gold labels as the choices)."""
    from eqn.data.annotations import Tally

    tally = Tally("label-studio export")
    labels = splits.train.labels
    for row in rows:
        chosen = [labels[j] for j in np.flatnonzero(splits.train.gold[row])]
        tally.add(splits.train.texts[row], [("annotator", chosen)])
    return tally.result("simulated project")


def run_way(way: str, splits: Any, order: np.ndarray, args: argparse.Namespace) -> list[dict]:
    from eqn.experiments.continued import annotated_data, continue_training, judge
    from eqn.model.estimator import EQN

    start, epochs = WAYS[way]
    base = EQN.load(args.base_model, device="cpu")
    dev = splits.dev.subset(np.arange(min(args.dev, len(splits.dev))))
    current, rows = (
        base,
        [{"round": 0, "annotations": 0, "dev_macro_f1": round(macro_f1(base, dev), 4)}],
    )
    print(json.dumps({"way": way, **rows[0]}), flush=True)
    for round_ in range(1, args.rounds + 1):
        export = export_of(splits, order[: round_ * args.step])
        data = annotated_data(export, base.labels, 0.2, 0, "simulated project")
        parent = current if start is None else base
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            record = continue_training(parent, data, Path(folder), epochs, progress=False)
            child = EQN.load(Path(folder) / "eqn", device="cpu")
            seconds = time.perf_counter() - started
        # The service's gate: no worse than the version it would replace (eqn's judge).
        before, after = judge(current, child, data.held_out, record["refit_on_held_out"])
        accepted = after >= before
        if accepted:
            current = child
        row = {
            "round": round_,
            "annotations": len(export.texts),
            "held_out_texts": len(data.held_out),
            "calibration_and_h": record["calibration_and_h"],
            "held_out_macro_f1": {"current": round(before, 4), "new": round(after, 4)},
            "accepted": accepted,
            "train_seconds": round(seconds, 1),
            "dev_macro_f1": round(macro_f1(current, dev), 4),
        }
        print(json.dumps({"way": way, **row}), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="a loop simulation start run")
    parser.add_argument("--data-dir", default="../shared/data/goemotions")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--step", type=int, default=500)
    parser.add_argument("--dev", type=int, default=2000)
    parser.add_argument("--ways", nargs="+", default=list(WAYS), choices=list(WAYS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/review_rounds.json")
    args = parser.parse_args()
    from eqn.data import load_dataset

    splits = load_dataset("goemotions", data_dir=args.data_dir)
    args.base_model = args.base / "M"
    seen = np.asarray(json.loads((args.base / "labelled.json").read_text()))
    pool = np.setdiff1d(np.arange(len(splits.train)), seen)
    order = np.random.default_rng(0).permutation(pool)
    result = {way: run_way(way, splits, order, args) for way in args.ways}
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    record = {
        "command": "python benchmarks/review_rounds.py --base "
        f"{args.base} --data-dir {args.data_dir} --rounds {args.rounds} --step {args.step} "
        f"--dev {args.dev}",
        "git_commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only",
        "ways": result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
