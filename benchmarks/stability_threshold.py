"""Micro-emotion stability against the threshold: can a choice of h buy stability?

Two models of the same recipe and different seeds (model folders, as in
``energy_validity.py``, whose energy cache this shares) are calibrated on
GoEmotions dev. For one global threshold h at a time, both models annotate
(eq. 8) and the table reports each model's own-set macro F1 on dev and test, the
micro-emotion Jaccard between them (the stability metric of
``eqn evaluate --against``), and the same Jaccard restricted to texts whose
macro-emotion both models agree on, since a swapped macro-emotion empties the
overlap of the micro-emotion sets even when the kept sets are equal.

Usage:
  python benchmarks/stability_threshold.py --cache runs/energy/cache \
      --a src/eqn/models/goemotions-minilm-eqn --b runs/energy/student_seed1/eqn \
      > benchmarks/results/stability_threshold.md
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
from energy_validity import own_set_macro_f1, uncalibrated_energies

from eqn.core import energy as E
from eqn.core import metrics as M
from eqn.core.calibration import fit_calibration
from eqn.data import load_dataset


def micro_jaccard_where_macro_agrees(a: np.ndarray, b: np.ndarray, h: float) -> float:
    kept_a = E.classify_threshold(a, h, keep_top=True)
    kept_b = E.classify_threshold(b, h, keep_top=True)
    rows = np.arange(len(a))
    top_a, top_b = a.argmax(axis=1), b.argmax(axis=1)
    kept_a[rows, top_a] = False
    kept_b[rows, top_b] = False
    union = (kept_a | kept_b).sum(axis=1)
    chosen = (union > 0) & (top_a == top_b)
    return float(((kept_a & kept_b).sum(axis=1)[chosen] / union[chosen]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="model folder, first seed")
    parser.add_argument("--b", required=True, help="model folder, second seed")
    parser.add_argument("--cache", type=Path, default=Path("runs/energy/cache"))
    parser.add_argument("--data-dir", default=os.environ.get("EQN_DATA_DIR", "../shared/data"))
    parser.add_argument("--grid", default="1.5:6.0:0.25", help="start:stop:step of h")
    args = parser.parse_args()
    splits = load_dataset("goemotions", data_dir=Path(args.data_dir) / "goemotions")
    labels = list(splits.labels)
    calibrated = []
    for source in (args.a, args.b):
        dev_raw = uncalibrated_energies(source, splits.dev.texts, args.cache, "dev")
        test_raw = uncalibrated_energies(source, splits.test.texts, args.cache, "test")
        calibration = fit_calibration(dev_raw, splits.dev.gold, labels)
        calibrated.append({"dev": calibration.apply(dev_raw), "test": calibration.apply(test_raw)})
    tuned = [
        E.tune_threshold(c["dev"], splits.dev.gold, E.energy_grid_for(c["dev"])) for c in calibrated
    ]
    start, stop, step = (float(v) for v in args.grid.split(":"))
    print("# Micro-emotion stability against the threshold h\n")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. Models A = `{args.a}`, "
        f"B = `{args.b}`, each calibrated on GoEmotions dev; one global h for both. "
        f"Dev-tuned h: A {tuned[0]:.2f}, B {tuned[1]:.2f}.\n"
    )
    print(
        f"Command: `python benchmarks/stability_threshold.py --a {args.a} --b {args.b} "
        f"--grid {args.grid}`\n"
    )
    print(
        "| h | dev macro F1 A | dev macro F1 B | test macro F1 A | test macro F1 B "
        "| micro Jaccard dev | micro Jaccard test | test texts with micro-emotions "
        "| micro Jaccard test, macro agrees |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for h in np.arange(start, stop + step / 2, step):
        f1 = {
            split: [own_set_macro_f1(c[split], splits[split].gold, h) for c in calibrated]
            for split in ("dev", "test")
        }
        agreement = {
            split: M.energy_agreement(
                calibrated[0][split], calibrated[1][split], labels, thresholds=(h, h)
            )
            for split in ("dev", "test")
        }
        where_agrees = micro_jaccard_where_macro_agrees(
            calibrated[0]["test"], calibrated[1]["test"], h
        )
        print(
            f"| {h:.2f} | {f1['dev'][0]:.4f} | {f1['dev'][1]:.4f} | {f1['test'][0]:.4f} "
            f"| {f1['test'][1]:.4f} | {agreement['dev']['micro_emotion_jaccard']:.4f} "
            f"| {agreement['test']['micro_emotion_jaccard']:.4f} "
            f"| {agreement['test']['texts_with_micro_emotions']} | {where_agrees:.4f} |"
        )


if __name__ == "__main__":
    main()
