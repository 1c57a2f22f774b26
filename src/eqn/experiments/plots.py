"""Figures for reports, drawn with matplotlib (Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from eqn.core.scale import MAX_ENERGY

DPI = 150


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def heatmap(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str) -> Path:
    """Pearson correlation between labels' energies, label names on both axes."""
    size = max(6.0, 0.32 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Pearson r")
    return _save(fig, path)


def label_counts(distribution: Mapping[int, int], path: Path, title: str) -> Path:
    """How many texts carry 1, 2, 3, ... gold labels (paper Fig. 3)."""
    keys = sorted(distribution)
    values = [distribution[k] for k in keys]
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar([str(k) for k in keys], values, color="#4c72b0")
    ax.bar_label(bars, fontsize=9)
    ax.set_xlabel("gold labels per text")
    ax.set_ylabel("texts")
    ax.set_title(title)
    return _save(fig, path)


def per_label_f1(
    labels: Sequence[str],
    f1: Sequence[float],
    path: Path,
    title: str,
    baseline: Sequence[float] | None = None,
    names: tuple[str, str] = ("model", "baseline"),
) -> Path:
    """Per-label F1 bars, with a baseline's beside them when given."""
    positions = np.arange(len(labels))
    width = 0.4 if baseline is not None else 0.8
    fig, ax = plt.subplots(figsize=(max(8.0, 0.38 * len(labels) + 2), 4.5))
    ax.bar(
        positions - (width / 2 if baseline is not None else 0),
        f1,
        width,
        label=names[0],
        color="#4c72b0",
    )
    if baseline is not None:
        ax.bar(positions + width / 2, baseline, width, label=names[1], color="#dd8452")
        ax.legend()
    ax.set_xticks(positions, labels, rotation=75, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title(title)
    return _save(fig, path)


def energy_histogram(energies: np.ndarray, gold: np.ndarray, path: Path, title: str) -> Path:
    """Energies of gold labels against non-gold ones."""
    values = np.asarray(energies, dtype=np.float64)
    true = np.asarray(gold, dtype=bool)
    fig, ax = plt.subplots(figsize=(7, 4))
    low, high = min(0.0, values.min(initial=0.0)), max(10.0, values.max(initial=10.0))
    bins = np.linspace(low, high, 51).tolist()
    ax.hist(values[~true], bins=bins, alpha=0.6, density=True, label="non-gold labels")
    ax.hist(values[true], bins=bins, alpha=0.6, density=True, label="gold labels")
    ax.set_yscale("log")
    ax.set_xlabel("energy")
    ax.set_ylabel("density (log)")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def reliability(
    curves: Mapping[str, Mapping[str, Any]], path: Path, title: str, max_energy: float = MAX_ENERGY
) -> Path:
    """Energy bin against the share of gold labels in it, one line per curve
    (``{name: {"bins": [...], "ece": float}}``), with the diagonal."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, max_energy], [0, 1], "--", color="grey", label="perfectly calibrated")
    for name, curve in curves.items():
        bins = [b for b in curve["bins"] if b["count"]]
        centers = [b["mean_energy"] for b in bins]
        shares = [b["gold_share"] for b in bins]
        ax.plot(centers, shares, "o-", label=f"{name} (ECE {curve['ece']:.3f})")
    ax.set_xlabel("energy (bin mean)")
    ax.set_ylabel("share of gold labels")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)
