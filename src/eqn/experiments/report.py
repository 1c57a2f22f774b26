"""Reports: metrics.json, report.md, figures and index.html for an evaluation,
and the Table 3 markdown of a comparison."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eqn.experiments import plots
from eqn.io import atomic_write, write_json

TOP_K_NOTE = (
    "The paper's protocol predicts, for each text, its top-k_i labels where k_i is the number "
    "of gold labels of that text. That count comes from the gold annotation, which a real user "
    "never has, so these numbers are optimistic and serve only to compare with the paper. The "
    "thresholded metrics use thresholds tuned on the dev split and applied unchanged here."
)
FIGURES = (
    "heatmap.png",
    "label_counts.png",
    "per_label_f1.png",
    "energy_hist.png",
    "calibration.png",
)


def label_f1s(metrics: dict[str, Any]) -> list[float]:
    return [row["f1"] for row in metrics["thresholded"]["global"]["per_label"]]


def write_report(
    out_dir: Path,
    result: dict[str, Any],
    energies: np.ndarray,
    gold: np.ndarray,
    baseline: dict[str, Any] | None = None,
) -> Path:
    """metrics.json, report.md, the PNG figures and an index.html showing them all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = result["labels"]
    name = f"{result['model']} on {result['dataset']} {result['split']}"
    plots.heatmap(
        np.array(result["pearson"]),
        labels,
        out_dir / "heatmap.png",
        f"Pearson correlation of energies: {name}",
    )
    plots.label_counts(
        {int(k): v for k, v in result["label_count_distribution"].items()},
        out_dir / "label_counts.png",
        f"Gold labels per text: {result['split']}",
    )
    plots.per_label_f1(
        labels,
        label_f1s(result),
        out_dir / "per_label_f1.png",
        "Per-label F1, dev-tuned global threshold",
        baseline=label_f1s(baseline) if baseline else None,
    )
    plots.energy_histogram(energies, gold, out_dir / "energy_hist.png", f"Energies: {name}")
    curves = {"uncalibrated": result["calibration_uncalibrated"]}
    if result.get("calibrated"):
        curves["calibrated"] = result["calibration"]
    plots.reliability(curves, out_dir / "calibration.png", "Reliability")
    write_json(out_dir / "metrics.json", result)
    markdown = report_markdown(result)
    with atomic_write(out_dir / "report.md", "w", encoding="utf-8") as stream:
        stream.write(markdown)
    with atomic_write(out_dir / "index.html", "w", encoding="utf-8") as stream:
        stream.write(report_html(result, markdown))
    return out_dir


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(result: dict[str, Any]) -> str:
    """The report's tables: paper Tables 4, 5, 6, the thresholded metrics, and notes."""
    honest = result["thresholded"]
    parts = [
        f"# {result['model']} on {result['dataset']} ({result['split']})",
        f"{result['samples']} texts, {len(result['labels'])} labels.",
        "## Headline",
        _table(["metric", "value"], [[k, v] for k, v in result["headline"].items()]),
        "## What top-k_i assumes",
        TOP_K_NOTE,
        *_paper_tables(result),
        "## Thresholded metrics (thresholds tuned on dev)",
        _table(
            ["thresholds", "macro P", "macro R", "macro F1", "micro F1", "exact match"],
            [
                [
                    f"global h={honest['global']['threshold']:.2f}",
                    *honest["global"]["macro"].values(),
                    honest["global"]["micro"]["f1"],
                    honest["global"]["exact_match"],
                ],
                [
                    "per label",
                    *honest["per_label"]["macro"].values(),
                    honest["per_label"]["micro"]["f1"],
                    honest["per_label"]["exact_match"],
                ],
            ],
        ),
        "## Calibration",
        "Expected calibration error of energy/10 against the gold share, 10 bins: "
        f"{result['calibration_uncalibrated']['ece']:.4f} for the model's own energies"
        + (
            f", {result['calibration']['ece']:.4f} after calibration on dev (the energies "
            "this report scores)."
            if result.get("calibrated")
            else " (the model has no calibration)."
        ),
        "## Micro-emotions",
        _micro_markdown(result["micro_emotions"]),
    ]
    parts += _stability_sections(result)
    if "baseline" in result:
        parts += [
            "## Baseline",
            _table(
                ["metric", "baseline"], [[k, v] for k, v in result["baseline"]["headline"].items()]
            ),
        ]
    parts += ["## Figures"] + [f"![{f}]({f})" for f in FIGURES]
    return "\n\n".join(parts) + "\n"


def _paper_tables(result: dict[str, Any]) -> list[str]:
    """The paper's Tables 4, 5 and 6 (top-k_i), and its sample-averaged scores."""
    paper = result["paper"]
    hits = paper["hits_by_label_count"]
    return [
        "## Table 4: hits by gold-label count (top-k_i)",
        _table(
            ["gold labels", "texts", "gold labels total", "hits", "hit rate"],
            [
                [
                    g["gold_labels_per_sample"],
                    g["samples"],
                    g["gold_labels"],
                    g["hits"],
                    g["hit_rate"],
                ]
                for g in hits["groups"]
            ]
            + [
                [
                    "all",
                    hits["total"]["samples"],
                    hits["total"]["gold_labels"],
                    hits["total"]["hits"],
                    hits["total"]["hit_rate"],
                ]
            ],
        ),
        "## Table 5: Top-1/2/3 on single-label texts",
        _table(
            ["texts", "top-1", "top-2", "top-3"],
            [
                [
                    paper["top_n_single_label"]["samples"],
                    paper["top_n_single_label"]["top1"],
                    paper["top_n_single_label"]["top2"],
                    paper["top_n_single_label"]["top3"],
                ]
            ],
        ),
        "## Table 6: per-label P/R/F1 (top-k_i)",
        _table(
            ["label", "precision", "recall", "F1", "support"],
            [
                [r["label"], r["precision"], r["recall"], r["f1"], r["support"]]
                for r in paper["per_label"]["labels"]
            ]
            + [
                ["macro average", *paper["per_label"]["macro"].values(), ""],
                ["std", *paper["per_label"]["std"].values(), ""],
            ],
        ),
        f"Sample-averaged (eq. 10-15): P {paper['sample']['precision']:.4f}, "
        f"R {paper['sample']['recall']:.4f}, F1 {paper['sample']['f1']:.4f}. "
        f"Accuracy by max() on single-label texts: {paper['accuracy_by_max']:.4f}.",
    ]


def _stability_sections(result: dict[str, Any]) -> list[str]:
    """Agreement with another model (``against`` in ``evaluate_model``), if it was measured."""
    parts: list[str] = []
    if "stability" in result:
        stability = result["stability"]
        parts += [
            "## Stability against another model",
            f"Spearman correlation of energies: overall {stability['spearman_overall']:.4f}, "
            f"mean over labels {stability['spearman_per_label_mean']:.4f}; "
            f"macro-emotion agreement {stability['macro_emotion_agreement']:.4f}.",
        ]
        if "annotation_jaccard" in stability:
            dice = stability["kept_dice_per_label"]
            parts += [
                "Agreement of the annotations themselves (eq. 8, each model with its own "
                f"dev-tuned threshold: {stability['thresholds'][0]:.2f} and "
                f"{stability['thresholds'][1]:.2f}): mean Jaccard index of the kept label "
                f"sets {stability['annotation_jaccard']:.4f}; of the micro-emotion sets "
                f"{stability['micro_emotion_jaccard']:.4f} (over the "
                f"{stability['texts_with_micro_emotions']} texts where either model has "
                f"micro-emotions); per-label Dice overlap of kept texts, mean "
                f"{stability['kept_dice_per_label_mean']:.4f}. Of the "
                f"{stability['micro_emotion_disputes']} micro-emotions the two disagree on, "
                f"{stability['macro_micro_swaps']} are macro/micro swaps (both keep the label, "
                f"one ranks it first) and {stability['threshold_flips']} threshold flips, "
                f"{stability['borderline_flip_share']:.1%} of which lie within "
                f"{stability['borderline']:.1f} of each model's threshold.",
                _table(
                    ["label", "Spearman of energies", "Dice of kept texts"],
                    [
                        [
                            label,
                            rho,
                            "never kept" if dice.get(label) is None else dice[label],
                        ]
                        for label, rho in sorted(
                            stability["spearman_per_label"].items(), key=lambda kv: kv[1]
                        )
                    ],
                ),
            ]
    return parts


def _micro_markdown(micro: dict[str, Any]) -> str:
    energy = micro["non_gold_energy"]
    text = (
        f"Non-gold energies: mean {energy['mean']:.3f}, median {energy['q50']:.3f}, "
        f"90th percentile {energy['q90']:.3f}, 99th {energy['q99']:.3f}; "
        f"{energy['share_at_or_above_threshold']:.2%} reach the threshold. "
        f"{micro['texts_with_micro_emotions']:.2%} of texts carry at least one micro-emotion.\n\n"
    )
    return text + _table(
        ["labels kept together", "texts", "Pearson r"],
        [[" + ".join(p["labels"]), p["texts"], p["pearson"]] for p in micro["top_pairs"]],
    )


def report_html(result: dict[str, Any], markdown: str) -> str:
    """One self-contained page: the headline, every figure and the full report text."""
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v:.4f}</td></tr>" for k, v in result["headline"].items()
    )
    figures = "".join(
        f'<figure><img src="{f}" alt="{f[:-4].replace("_", " ")}"><figcaption>{f}</figcaption>'
        "</figure>"
        for f in FIGURES
    )
    title = html.escape(f"{result['model']} on {result['dataset']} ({result['split']})")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>eqn report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .25rem .75rem; border-bottom: 1px solid #ddd; text-align: left; }}
figure {{ display: inline-block; margin: 1rem; vertical-align: top; }} img {{ max-width: 100%; }}
pre {{ white-space: pre-wrap; background: #f6f6f6; padding: 1rem; }}
</style></head><body>
<h1>{title}</h1>
<p>{html.escape(TOP_K_NOTE)}</p>
<h2>Headline</h2><table>{rows}</table>
<h2>Figures</h2>{figures}
<h2>Full report</h2><pre>{html.escape(markdown)}</pre>
</body></html>
"""


def _verdict(
    cell: dict[tuple[str, str], dict[str, Any]],
    backbones: list[str],
    baseline: str,
    metric: tuple[str, str],
) -> str:
    """Says plainly, per backbone, whether EQN beat or trailed the baseline here."""
    key, title = metric
    lines = []
    for backbone in backbones:
        gap = (float(cell[(backbone, "EQN")][key]) - float(cell[(backbone, baseline)][key])) * 100
        verdict = "trails" if gap < 0 else "matches" if gap == 0 else "beats"
        lines.append(f"- {backbone}: EQN {verdict} {baseline} by {abs(gap):.2f} points of {title}.")
    lines.append(
        "One seed: on a test split of a few thousand texts, differences of about a point "
        "are within seed noise; run more seeds before concluding."
    )
    return "\n".join(lines)


def comparison_markdown(comparison: dict[str, Any]) -> str:
    """Table 3 in the paper's layout (backbones by rows, models by columns), plus times."""
    models = comparison.get("models") or [comparison["baseline"], "CoEQN", "EQN"]
    backbones = list(dict.fromkeys(row["backbone"] for row in comparison["rows"]))
    cell = {(r["backbone"], r["model"]): r for r in comparison["rows"]}
    metrics = (
        [
            ("topk_hit_rate", "hit rate (top-k_i)"),
            ("topk_macro_f1", "macro F1 (top-k_i)"),
            ("dev_tuned_macro_f1", "macro F1 (dev-tuned threshold)"),
        ]
        if comparison["multilabel"]
        else [("accuracy_by_max", "accuracy by max()")]
    )
    epochs = {b: cell[(b, models[0])].get("epochs", comparison["epochs"]) for b in backbones}
    reused = comparison.get("reused", {})
    parts = [
        f"# Table 3 on {comparison['dataset']}: baseline against CoEQN against EQN",
        f"Seed {comparison['seed']}; epochs trained per model: "
        + ", ".join(f"{b} {n}" for b, n in epochs.items())
        + f" (each model keeps its best epoch on dev). Split sizes {comparison['sizes']}. "
        "Scores are on the test split.",
    ]
    starts = {b: cell[(b, "EQN")].get("start") for b in backbones if cell[(b, "EQN")].get("start")}
    if starts:
        parts.append(
            "EQN is Model 2, trained on the training set relabelled by CoEQN (eq. 3), "
            "starting from: " + ", ".join(f"{b} {start}" for b, start in starts.items()) + "."
        )
    if reused:
        parts.append(
            "Taken from finished runs: "
            + ", ".join(f"{b} from `{run}`" for b, run in reused.items())
            + "."
        )
    for key, title in metrics:
        parts += [
            f"## {title}",
            _table(
                ["backbone", *models],
                [[b, *(cell[(b, m)][key] for m in models)] for b in backbones],
            ),
        ]
    parts += ["## EQN against the baseline", _verdict(cell, backbones, models[0], metrics[0])]
    parts += [
        "## Training time (seconds, training loop only)",
        _table(
            ["backbone", *models],
            [[b, *(f"{cell[(b, m)]['train_seconds']:.0f}" for m in models)] for b in backbones],
        ),
    ]
    return "\n\n".join(parts) + "\n"
