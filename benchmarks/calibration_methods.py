"""Calibration methods on the shipped model's GoEmotions energies: each label's own
map (isotonic, the previous release; Platt), one map pooled over all labels, and
the partial pooling that `eqn calibrate` now chooses.

Chosen on dev only: 3 x 2-fold cross-validation over dev texts (fit on one half,
score the other), the same splits for every method. Test rows are reported, never
used to choose. Energies come from benchmarks/energy_validity.py's cache.

    python benchmarks/calibration_methods.py --cache runs/energy/cache \
        --model src/eqn/models/goemotions-minilm-eqn > benchmarks/results/calibration_methods.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

from eqn.core import calibration as C
from eqn.core import metrics as M
from eqn.data import load_dataset

sys.path.insert(0, str(Path(__file__).parent))
from energy_validity import uncalibrated_energies  # noqa: E402


def method_probabilities(form, weight, fit_x, fit_y, x):
    """Calibrated probabilities of ``x``: each label's own ``form`` fitted on (fit_x,
    fit_y), blended with the pooled isotonic map (``weight`` is the own map's share)."""
    own, pooled = C._fit_curves(fit_x, fit_y, form, 10.0)
    own_p = np.stack([curve(x[:, j]) for j, (curve, _) in enumerate(own)], axis=1)
    return weight * own_p + (1 - weight) * np.interp(x, pooled.x, pooled.y)


def scores(probability, gold, labels):
    energies = 10 * probability
    paper = M.headline(M.evaluate_energies(energies, gold, labels))
    per_label_ece = np.mean(
        [M.calibration(energies[:, [j]], gold[:, [j]])["ece"] for j in range(len(labels))]
    )
    return {
        "log-loss": C._log_loss(probability, gold),
        "ECE (pooled)": M.calibration(energies, gold)["ece"],
        "ECE (mean per label)": float(per_label_ece),
        "top-k_i macro F1": paper["topk_macro_f1"],
        "top-k_i hit rate": paper["topk_hit_rate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="src/eqn/models/goemotions-minilm-eqn")
    parser.add_argument("--cache", type=Path, default=Path("runs/energy/cache"))
    parser.add_argument("--data-dir", default=os.environ.get("EQN_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    splits = load_dataset("goemotions", data_dir=Path(args.data_dir) / "goemotions")
    labels = list(splits.labels)
    dev = np.clip(uncalibrated_energies(args.model, splits.dev.texts, args.cache, "dev"), 0, 10)
    test = np.clip(uncalibrated_energies(args.model, splits.test.texts, args.cache, "test"), 0, 10)
    form, weight, _ = C.choose_pooling(dev, splits.dev.gold)
    chosen = (
        f"partial pooling (chosen: {'Platt' if form == 'platt' else form}, own weight {weight})"
    )
    methods = {
        "own isotonic only (previous release)": ("isotonic", 1.0),
        "own Platt only": ("platt", 1.0),
        "pooled isotonic only": ("isotonic", 0.0),
        chosen: (form, weight),
    }
    rows = {}
    rng = np.random.default_rng(0)
    splits_cv = [np.array_split(rng.permutation(len(dev)), 2) for _ in range(C.CV_REPEATS)]
    for name, (own_form, w) in methods.items():
        fold_scores = []
        for halves in splits_cv:
            for k in (0, 1):
                fit, held = halves[1 - k], halves[k]
                p = method_probabilities(own_form, w, dev[fit], splits.dev.gold[fit], dev[held])
                fold_scores.append(scores(p, splits.dev.gold[held], labels))
        rows[("dev, 3 x 2-fold CV", name)] = {
            k: float(np.mean([s[k] for s in fold_scores])) for k in fold_scores[0]
        }
        p = method_probabilities(own_form, w, dev, splits.dev.gold, test)
        rows[("test (fitted on all dev)", name)] = scores(p, splits.test.gold, labels)
    print("# Calibration methods on the shipped model's energies (GoEmotions)\n")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU. Command: "
        f"`python benchmarks/calibration_methods.py --model {args.model}`. Lower log-loss "
        "and ECE are better; the choice is made by dev log-loss alone.\n"
    )
    columns = list(next(iter(rows.values())))
    print("| split | method | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for (split, name), row in rows.items():
        print(f"| {split} | {name} | " + " | ".join(f"{row[c]:.4f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
