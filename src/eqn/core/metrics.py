"""Metrics over energies, as plain data (dicts of floats and lists) for reports.

Two protocols are offered:

* **The paper's protocol** (EQN paper, eq. 10-15 and Tables 3-6). Each sample is
  predicted with its top-k_i labels, where **k_i is the sample's number of gold
  labels**. That count is taken from the gold annotation, which a real user does
  not have, so these numbers are optimistic; they exist to compare with the paper.
* **The honest protocol.** Thresholds are tuned on the dev split only and applied
  to the evaluated split; macro and micro P/R/F1 and exact-match accuracy follow.

Zero-division conventions: a sample with no predicted label has precision 0; a
label with no gold sample has recall 0 and F1 0 (scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from eqn.core import energy as E
from eqn.core.scale import MAX_ENERGY
from eqn.errors import InputError


def _check(energies: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(energies, dtype=np.float64)
    true = np.asarray(gold).astype(bool)
    if values.shape != true.shape or values.ndim != 2:
        raise InputError(
            f"energies {values.shape} and gold {true.shape} must be 2-D arrays of the same shape"
        )
    return values, true


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def top_k_i_predictions(energies: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """The paper's prediction: each sample's top-k_i labels, k_i = its gold label count."""
    values, true = _check(energies, gold)
    return E.classify_top_k(values, true.sum(axis=1))


def sample_prf(prediction: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Sample-averaged precision, recall and F1 (paper eq. 10-15)."""
    pred, true = _check(prediction, gold)
    pred, true = pred.astype(bool), true.astype(bool)
    hits = (pred & true).sum(axis=1)
    precision = _safe_divide(hits, pred.sum(axis=1))
    recall = _safe_divide(hits, true.sum(axis=1))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    n = len(pred)
    return {
        "precision": float(precision.mean()) if n else 0.0,
        "recall": float(recall.mean()) if n else 0.0,
        "f1": float(f1.mean()) if n else 0.0,
        "samples": n,
    }


def per_label_prf(
    prediction: np.ndarray, gold: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Per-label P/R/F1 with their macro average and standard deviation (paper Table 6)."""
    pred, true = _check(prediction, gold)
    if len(labels) != pred.shape[1]:
        raise InputError(f"got {len(labels)} label names for {pred.shape[1]} columns")
    precision, recall, f1, support = precision_recall_fscore_support(
        true.astype(int),
        pred.astype(int),
        average=None,
        zero_division=0,
        labels=list(range(len(labels))),
    )
    rows = [
        {
            "label": label,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    ]
    return {
        "labels": rows,
        "macro": {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
        },
        "std": {
            "precision": float(precision.std()),
            "recall": float(recall.std()),
            "f1": float(f1.std()),
        },
    }


def hits_by_label_count(energies: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    """Hits and hit rate grouped by gold label count (paper Table 4).

    For a sample with k gold labels, its hits are the gold labels found among its
    top-k energies. A group's hit rate is its hits over its gold labels.
    """
    values, true = _check(energies, gold)
    counts = true.sum(axis=1)
    hits = (top_k_i_predictions(values, true) & true).sum(axis=1)
    groups = []
    for k in sorted(set(counts.tolist()) - {0}):
        members = counts == k
        gold_labels = int(counts[members].sum())
        group_hits = int(hits[members].sum())
        groups.append(
            {
                "gold_labels_per_sample": int(k),
                "samples": int(members.sum()),
                "gold_labels": gold_labels,
                "hits": group_hits,
                "hit_rate": group_hits / gold_labels if gold_labels else 0.0,
            }
        )
    total_gold = int(counts.sum())
    total_hits = int(hits.sum())
    return {
        "groups": groups,
        "total": {
            "samples": int((counts > 0).sum()),
            "gold_labels": total_gold,
            "hits": total_hits,
            "hit_rate": total_hits / total_gold if total_gold else 0.0,
        },
    }


def top_n_hit_rates(
    energies: np.ndarray, gold: np.ndarray, ns: Sequence[int] = (1, 2, 3)
) -> dict[str, Any]:
    """Cumulative Top-n hit rates on single-label samples (paper Table 5).

    Top-n counts a sample as hit when its one gold label is among its n highest energies.
    """
    values, true = _check(energies, gold)
    single = true.sum(axis=1) == 1
    result: dict[str, Any] = {"samples": int(single.sum())}
    for n in ns:
        if single.any():
            top = E.classify_top_k(values[single], min(n, values.shape[1]))
            rate = float((top & true[single]).any(axis=1).mean())
        else:
            rate = 0.0
        result[f"top{n}"] = rate
    return result


def accuracy_by_max(energies: np.ndarray, gold: np.ndarray) -> float:
    """Accuracy of max() on single-label samples (paper Table 3)."""
    values, true = _check(energies, gold)
    single = true.sum(axis=1) == 1
    if not single.any():
        return 0.0
    return float(true[single, values[single].argmax(axis=1)].mean())


def paper_protocol(energies: np.ndarray, gold: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """All of the paper's metrics. Top-k_i takes k_i from the gold labels (see module doc)."""
    values, true = _check(energies, gold)
    prediction = top_k_i_predictions(values, true)
    return {
        "assumes_gold_label_count": True,
        "sample": sample_prf(prediction, true),
        "per_label": per_label_prf(prediction, true, labels),
        "hits_by_label_count": hits_by_label_count(values, true),
        "top_n_single_label": top_n_hit_rates(values, true),
        "accuracy_by_max": accuracy_by_max(values, true),
    }


def thresholded_metrics(
    prediction: np.ndarray, gold: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Macro and micro P/R/F1, exact-match accuracy and sample F1 of fixed predictions."""
    pred, true = _check(prediction, gold)
    pred, true = pred.astype(bool), true.astype(bool)
    micro = precision_recall_fscore_support(
        true.astype(int), pred.astype(int), average="micro", zero_division=0
    )
    per_label = per_label_prf(pred, true, labels)
    return {
        "macro": per_label["macro"],
        "micro": {"precision": float(micro[0]), "recall": float(micro[1]), "f1": float(micro[2])},
        "exact_match": float((pred == true).all(axis=1).mean()) if len(pred) else 0.0,
        "sample": sample_prf(pred, true),
        "per_label": per_label["labels"],
        "macro_f1_std": per_label["std"]["f1"],
    }


def honest_protocol(
    energies: np.ndarray,
    gold: np.ndarray,
    dev_energies: np.ndarray,
    dev_gold: np.ndarray,
    labels: Sequence[str],
    keep_top: bool = True,
) -> dict[str, Any]:
    """Thresholds tuned on dev only (one global, and one per label), applied here."""
    values, true = _check(energies, gold)
    dev_values, dev_true = _check(dev_energies, dev_gold)
    grid = E.energy_grid_for(dev_values)
    global_threshold = E.tune_threshold(dev_values, dev_true, grid=grid, keep_top=keep_top)
    label_thresholds = E.tune_label_thresholds(dev_values, dev_true, grid=grid)
    return {
        "tuned_on": "dev",
        "keep_top": keep_top,
        "global": {
            "threshold": global_threshold,
            **thresholded_metrics(
                E.classify_threshold(values, global_threshold, keep_top), true, labels
            ),
        },
        "per_label": {
            "thresholds": {
                label: float(t) for label, t in zip(labels, label_thresholds, strict=True)
            },
            **thresholded_metrics(
                E.classify_threshold(values, label_thresholds, keep_top), true, labels
            ),
        },
    }


def pearson_matrix(energies: np.ndarray) -> np.ndarray:
    """Pearson correlation of energies between labels (paper Figs. 2, 8, 9).

    A label whose energy never varies has no defined correlation; it is reported
    as uncorrelated (0) with every other label and 1 with itself.
    """
    values = np.asarray(energies, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"energies must be 2-D, got shape {values.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.corrcoef(values, rowvar=False)
    matrix = np.atleast_2d(np.nan_to_num(matrix, nan=0.0))
    np.fill_diagonal(matrix, 1.0)
    return matrix


def evaluate_energies(
    energies: np.ndarray,
    gold: np.ndarray,
    labels: Sequence[str],
    dev_energies: np.ndarray | None = None,
    dev_gold: np.ndarray | None = None,
    keep_top: bool = True,
) -> dict[str, Any]:
    """Both protocols over one split; the honest one needs dev energies and gold."""
    values, true = _check(energies, gold)
    result: dict[str, Any] = {
        "samples": int(len(values)),
        "multilabel": bool((true.sum(axis=1) > 1).any()),
        "paper": paper_protocol(values, true, labels),
    }
    if dev_energies is not None and dev_gold is not None:
        result["thresholded"] = honest_protocol(
            values, true, dev_energies, dev_gold, labels, keep_top=keep_top
        )
    return result


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The few numbers worth a table row, from :func:`evaluate_energies` output."""
    paper = metrics["paper"]
    row = {
        "topk_macro_f1": paper["per_label"]["macro"]["f1"],
        "topk_sample_f1": paper["sample"]["f1"],
        "topk_hit_rate": paper["hits_by_label_count"]["total"]["hit_rate"],
        "accuracy_by_max": paper["accuracy_by_max"],
    }
    if "thresholded" in metrics:
        row["dev_tuned_macro_f1"] = metrics["thresholded"]["global"]["macro"]["f1"]
        row["dev_tuned_micro_f1"] = metrics["thresholded"]["global"]["micro"]["f1"]
        row["dev_tuned_per_label_macro_f1"] = metrics["thresholded"]["per_label"]["macro"]["f1"]
    return row


def calibration(
    energies: np.ndarray, gold: np.ndarray, max_energy: float = MAX_ENERGY, bins: int = 10
) -> dict[str, Any]:
    """Reliability of energies read as confidence: per energy bin, the share of gold labels.

    The expected calibration error (ECE) weighs each bin's gap between mean
    energy / max_energy and its gold share by the bin's size.
    """
    values, true = _check(energies, gold)
    flat = np.clip(values.ravel(), 0.0, max_energy)
    hits = true.ravel()
    edges = np.linspace(0.0, max_energy, bins + 1)
    index = np.clip(np.digitize(flat, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        mean_energy = float(flat[members].mean()) if count else 0.0
        gold_share = float(hits[members].mean()) if count else 0.0
        if count:
            ece += count / flat.size * abs(gold_share - mean_energy / max_energy)
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "mean_energy": mean_energy,
                "gold_share": gold_share,
            }
        )
    return {"bins": rows, "ece": float(ece)}


def energy_agreement(
    first: np.ndarray,
    second: np.ndarray,
    labels: Sequence[str],
    thresholds: tuple[float | np.ndarray, float | np.ndarray] | None = None,
) -> dict[str, Any]:
    """Stability of two models' energies on the same texts.

    Spearman correlation overall and per label, and agreement on the macro-emotion.
    With each model's ``thresholds``, also the agreement of the annotations
    themselves (eq. 8, the top label always kept): the mean Jaccard index of the
    kept label sets, of the micro-emotion sets (texts where either model has
    any), and per label the Dice overlap of the texts each model keeps it for.
    Micro-emotions the two disagree on are split into macro/micro swaps (both keep
    the label; one ranks it first) and threshold flips (one keeps it), with the
    share of flips where both energies lie within 1.0 of their model's threshold.
    """
    from scipy.stats import spearmanr

    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise InputError(f"the two models' energies differ in shape: {a.shape} and {b.shape}")
    per_label = {}
    with warnings.catch_warnings():
        # A label one model never scores above 0 has no rank order: reported as 0.
        warnings.simplefilter("ignore", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message="An input array is constant")
        for j, label in enumerate(labels):
            rho = spearmanr(a[:, j], b[:, j]).statistic
            per_label[label] = float(np.nan_to_num(rho))
        overall = float(np.nan_to_num(spearmanr(a.ravel(), b.ravel()).statistic))
    top_agree = float((a.argmax(axis=1) == b.argmax(axis=1)).mean()) if len(a) else 0.0
    result: dict[str, Any] = {
        "spearman_overall": overall,
        "spearman_per_label": per_label,
        "spearman_per_label_mean": float(np.mean(list(per_label.values()))),
        "macro_emotion_agreement": top_agree,
    }
    if thresholds is not None:
        result.update(_annotation_agreement(a, b, labels, thresholds))
    return result


def _jaccard_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    union = (a | b).sum(axis=1)
    return (a & b).sum(axis=1)[union > 0] / union[union > 0]


def _annotation_agreement(
    a: np.ndarray,
    b: np.ndarray,
    labels: Sequence[str],
    thresholds: tuple[float | np.ndarray, float | np.ndarray],
    borderline: float = 1.0,
) -> dict[str, Any]:
    kept_a = E.classify_threshold(a, thresholds[0], keep_top=True)
    kept_b = E.classify_threshold(b, thresholds[1], keep_top=True)
    rows = np.arange(len(a))
    micro_a, micro_b = kept_a.copy(), kept_b.copy()
    micro_a[rows, a.argmax(axis=1)] = False
    micro_b[rows, b.argmax(axis=1)] = False
    annotation = _jaccard_rows(kept_a, kept_b)
    micro = _jaccard_rows(micro_a, micro_b)
    disputed = micro_a ^ micro_b
    # A disputed micro-emotion that both models keep is a macro/micro swap (same label
    # set, other order); one that only one model keeps crossed a threshold.
    swaps = disputed & kept_a & kept_b
    flips = disputed & ~swaps
    # A threshold is one number or one per label: it broadcasts over the rows.
    near = (np.abs(a - np.asarray(thresholds[0])) < borderline) & (
        np.abs(b - np.asarray(thresholds[1])) < borderline
    )
    n_flips = int(flips.sum())
    dice: dict[str, float | None] = {}
    for j, label in enumerate(labels):
        total = int(kept_a[:, j].sum() + kept_b[:, j].sum())
        both = int((kept_a[:, j] & kept_b[:, j]).sum())
        dice[label] = 2 * both / total if total else None
    kept_dice = [v for v in dice.values() if v is not None]
    return {
        "thresholds": [np.asarray(h).tolist() for h in thresholds],
        "annotation_jaccard": float(annotation.mean()) if annotation.size else 0.0,
        "micro_emotion_jaccard": float(micro.mean()) if micro.size else 0.0,
        "texts_with_micro_emotions": int(micro.size),
        "micro_emotion_disputes": int(disputed.sum()),
        "macro_micro_swaps": int(swaps.sum()),
        "threshold_flips": n_flips,
        "borderline_flip_share": float((flips & near).sum() / n_flips) if n_flips else 0.0,
        "borderline": float(borderline),
        "kept_dice_per_label": dice,
        "kept_dice_per_label_mean": float(np.mean(kept_dice)) if kept_dice else 0.0,
    }


def micro_emotion_report(
    energies: np.ndarray,
    gold: np.ndarray,
    labels: Sequence[str],
    threshold: float | np.ndarray,
    top_pairs: int = 15,
) -> dict[str, Any]:
    """How non-gold energies are distributed, and which labels co-occur as kept emotions.

    A pair counts when both labels are kept (at or above ``threshold``) for one
    text; each pair is shown with the Pearson correlation of its energies.
    """
    values, true = _check(energies, gold)
    non_gold = values[~true]
    kept = E.classify_threshold(values, threshold, keep_top=True)
    counts = kept.T.astype(np.int64) @ kept.astype(np.int64)
    pearson = pearson_matrix(values)
    pairs = [
        (int(counts[i, j]), i, j)
        for i in range(len(labels))
        for j in range(i + 1, len(labels))
        if counts[i, j] > 0
    ]
    pairs.sort(reverse=True)
    quantiles = [0.5, 0.9, 0.99]
    return {
        "non_gold_energy": {
            "mean": float(non_gold.mean()) if non_gold.size else 0.0,
            **{
                f"q{int(q * 100)}": float(np.quantile(non_gold, q)) if non_gold.size else 0.0
                for q in quantiles
            },
            "share_at_or_above_threshold": float(
                (values >= np.broadcast_to(threshold, values.shape[1:]))[~true].mean()
            )
            if non_gold.size
            else 0.0,
        },
        "texts_with_micro_emotions": float((kept.sum(axis=1) > 1).mean()) if len(kept) else 0.0,
        "top_pairs": [
            {"labels": [labels[i], labels[j]], "texts": count, "pearson": float(pearson[i, j])}
            for count, i, j in pairs[:top_pairs]
        ],
    }
