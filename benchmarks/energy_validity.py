"""Energy validity: every candidate of the default-model rule, calibrated on dev, scored.

Candidates are model folders, or ``ensemble:DIR1+DIR2+...`` for the plain
ensemble of several models (their mean uncalibrated energies). Each candidate's
uncalibrated energies on GoEmotions dev and test are computed once and cached
(``--cache``); a calibration map per label is fitted on dev and the global
threshold tuned on calibrated dev, as ``eqn calibrate`` does. ``--pair A=B``
adds the stability of two candidates (energy Spearman, micro-emotion and
label-set Jaccard, and what the disputed micro-emotions are), on dev and on test.

Usage:
  python benchmarks/energy_validity.py --cache runs/energy/cache \
      --candidate "today's default=src/eqn/models/goemotions-minilm-eqn" \
      --candidate "student=runs/energy/student_seed0/eqn" \
      --candidate "ensemble of 3 teachers=ensemble:runs/energy/teacher_seed0/coeqn+..." \
      > benchmarks/results/energy_validity.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
from pathlib import Path

import numpy as np

from eqn.core import energy as E
from eqn.core import metrics as M
from eqn.core.annotation import label_sets
from eqn.core.calibration import fit_calibration
from eqn.data import load_dataset


def uncalibrated_energies(source: str, texts: list[str], cache: Path, split: str) -> np.ndarray:
    if source.startswith("ensemble:"):
        members = source[len("ensemble:") :].split("+")
        return np.mean([uncalibrated_energies(m, texts, cache, split) for m in members], axis=0)
    from eqn.model.estimator import EQN

    key = hashlib.sha256(f"{Path(source).resolve()}:{split}".encode()).hexdigest()[:16]
    path = cache / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    energies = EQN.load(source).energies(texts, calibrated=False)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, energies)
    return energies


def own_set_macro_f1(energies: np.ndarray, gold: np.ndarray, threshold: float) -> float:
    return float(E.f1_per_label(label_sets(energies, threshold), gold).mean())


def score(dev_raw, test_raw, dev_gold, test_gold, labels, calibration) -> dict[str, float]:
    dev, test = calibration.apply(dev_raw), calibration.apply(test_raw)
    h = E.tune_threshold(dev, dev_gold, E.energy_grid_for(dev))
    paper = M.headline(M.evaluate_energies(test, test_gold, labels))
    return {
        "dev macro F1 (own sets)": own_set_macro_f1(dev, dev_gold, h),
        "threshold h": h,
        "test macro F1 (own sets)": own_set_macro_f1(test, test_gold, h),
        "test top-k_i macro F1": paper["topk_macro_f1"],
        "test hit rate": paper["topk_hit_rate"],
        "test ECE": M.calibration(test, test_gold)["ece"],
        "test ECE uncalibrated": M.calibration(test_raw, test_gold)["ece"],
    }


def stability(first: tuple, second: tuple, labels) -> dict[str, float]:
    (energies_a, h_a), (energies_b, h_b) = first, second
    agreement = M.energy_agreement(energies_a, energies_b, labels, thresholds=(h_a, h_b))
    return {
        "energy Spearman": agreement["spearman_overall"],
        "micro-emotion Jaccard": agreement["micro_emotion_jaccard"],
        "label-set Jaccard": agreement["annotation_jaccard"],
        "macro-emotion agreement": agreement["macro_emotion_agreement"],
        "disputes that are macro/micro swaps": agreement["macro_micro_swaps"]
        / max(agreement["micro_emotion_disputes"], 1),
        "threshold flips within 1.0 of h": agreement["borderline_flip_share"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", action="append", required=True, help="NAME=SOURCE")
    parser.add_argument("--pair", action="append", default=[], help="NAME_A=NAME_B")
    parser.add_argument("--cache", type=Path, default=Path("runs/energy/cache"))
    parser.add_argument("--data-dir", default=os.environ.get("EQN_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    splits = load_dataset("goemotions", data_dir=Path(args.data_dir) / "goemotions")
    labels = list(splits.labels)
    rows, calibrated = {}, {}
    for item in args.candidate:
        name, source = item.split("=", 1)
        dev_raw = uncalibrated_energies(source, splits.dev.texts, args.cache, "dev")
        test_raw = uncalibrated_energies(source, splits.test.texts, args.cache, "test")
        # Fitted once: the pooled maps choose their form by cross-validation.
        calibration = fit_calibration(dev_raw, splits.dev.gold, labels)
        rows[name] = score(
            dev_raw, test_raw, splits.dev.gold, splits.test.gold, labels, calibration
        )
        calibrated[name] = {
            split: (calibration.apply(raw), rows[name]["threshold h"])
            for split, raw in (("dev", dev_raw), ("test", test_raw))
        }
        print(f"scored {name}", file=sys.stderr)
    columns = list(next(iter(rows.values())))
    command = (
        "python benchmarks/energy_validity.py "
        + " ".join(f"--candidate '{c}'" for c in args.candidate)
        + "".join(f" --pair '{p}'" for p in args.pair)
    )
    print("# Energy validity: candidates for the default model, calibrated on dev\n")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU. Every candidate "
        "is calibrated on GoEmotions dev (one strictly increasing map per label) and its global "
        "threshold tuned on calibrated dev; the dev column chooses, test is reported only.\n"
    )
    print(f"Command: `{command}`\n")
    print("| candidate | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.4f}" for c in columns) + " |")
    if args.pair:
        print("\n## Stability between seeds\n")
        header = None
        for pair in args.pair:
            a, b = pair.split("=", 1)
            for split in ("dev", "test"):
                s = stability(calibrated[a][split], calibrated[b][split], labels)
                if header is None:
                    header = ["pair", "split", *s]
                    print("| " + " | ".join(header) + " |")
                    print("|---" * len(header) + "|")
                print(
                    f"| {a} vs {b} | {split} | " + " | ".join(f"{v:.4f}" for v in s.values()) + " |"
                )


if __name__ == "__main__":
    main()
