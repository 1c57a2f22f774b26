"""The recipe study (issue 28): which training recipe should ``eqn train`` use on users' data?

    python benchmarks/recipe_study.py run   [--runs runs/recipes] [--seeds 0 1]
    python benchmarks/recipe_study.py table [--runs runs/recipes] [--out FILE.md]
    python benchmarks/recipe_study.py short [--runs runs/recipes]   # the README's table
    python benchmarks/recipe_study.py throughput [--runs runs/recipes]   # s/step by threads

``run`` trains every recipe on GoEmotions and XED (LoRA all-MiniLM-L6-v2, 2 epochs,
the same for every model), seed by seed, cheapest corpus first. Every model is an
``eqn train ... --resume`` run in its own folder with its own log, so an interrupted
study continues where it stopped: rerun the same command. On a 2-core machine,
start it twice with ``OMP_NUM_THREADS=1`` (two workers share the plan). ``table`` reads the run
folders and applies the rule written in benchmarks/recipe_study.md before the runs.

The gold weight of the mixed students is chosen on dev: at seed 0 both pilot weights
run; later seeds run the one with the better mean dev score over the corpora.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EQN_DATA_DIR", ROOT.parent / "shared" / "data"))
EQN = Path(sys.executable).with_name("eqn")

CORPORA: dict[str, list[str]] = {
    "xed": [str(DATA / "xed")],
    "goemotions": ["goemotions", "--data-dir", str(DATA / "goemotions")],
}
COMMON = ["--finetune", "lora", "--epochs", "2", "--no-progress", "--resume"]
TEACHERS = ["--teachers", "3", "--loss", "bce"]
GOLD_WEIGHTS = ("0.25", "0.5")

# recipe: (eqn train options, the recipe whose teachers or Model 1 it reuses)
RECIPES: dict[str, tuple[list[str], str | None]] = {
    "M": (["--stage", "M"], None),
    "EQN": ([], None),  # eqn train's default today: the paper's recipe
    "EQN-warm": (["--stage", "eqn", "--warm-start"], "EQN"),
    "student-CoEQN": ([*TEACHERS, "--teacher-loss", "mse"], None),
    "student-M": ([*TEACHERS, "--teacher-loss", "bce"], None),
    **{
        f"student-M-gold{w}": (
            [*TEACHERS, "--teacher-loss", "bce", "--gold-weight", w],
            "student-M",
        )
        for w in GOLD_WEIGHTS
    },
}


def stage_of(recipe: str) -> str:
    return "M" if recipe == "M" else "eqn"


def finished(folder: Path, recipe: str) -> bool:
    try:
        record = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return "metrics" in record.get("stages", {}).get(stage_of(recipe), {})


def share(source: Path, target: Path, recipe: str) -> None:
    """Link what a recipe reuses: Model 1 and its relabelled set, or the teachers."""
    target.mkdir(parents=True, exist_ok=True)
    names = ["teachers"] if recipe.startswith("student") else ["coeqn", "relabelled_train.csv"]
    for name in names:
        if not (target / name).exists() and (source / name).exists():
            (target / name).symlink_to((source / name).resolve())


def chosen_gold_weight(runs: Path) -> str | None:
    """The pilot weight with the better mean dev score over the corpora at seed 0."""
    scores: dict[str, list[float]] = {}
    for weight in GOLD_WEIGHTS:
        for corpus in CORPORA:
            score = dev_score(runs / corpus / "seed0" / f"student-M-gold{weight}", "eqn")
            if score is None:
                return None
            scores.setdefault(weight, []).append(score)
    return max(GOLD_WEIGHTS, key=lambda w: statistics.mean(scores[w]))


def run(runs: Path, seeds: list[int], extra: list[str], only: list[str] | None = None) -> None:
    """Train every unfinished run; several workers may share one --runs folder.

    Each run is claimed with a lock on its folder, so two workers (each with
    OMP_NUM_THREADS=1 on a 2-core machine, more throughput than one worker with
    two threads) never train the same model; a worker waits while what it needs
    is being trained by another, and stops when nothing is left for it.
    """
    failed: set[Path] = set()
    while True:
        started, waiting = run_pass(runs, seeds, extra, failed, only)
        if started:
            continue
        if not waiting:
            return
        time.sleep(60)


def run_pass(
    runs: Path,
    seeds: list[int],
    extra: list[str],
    failed: set[Path],
    only: list[str] | None = None,
) -> tuple[int, int]:
    """One pass over the plan: (runs started, runs waiting on another worker)."""
    started = waiting = 0
    for seed in seeds:
        for corpus, dataset in CORPORA.items():
            for recipe, (options, reuses) in RECIPES.items():
                if only is not None and f"{corpus}/{recipe}" not in only:
                    continue
                if recipe.startswith("student-M-gold") and seed > 0:
                    weight = chosen_gold_weight(runs)
                    if weight is None:
                        waiting += 1
                        continue
                    if recipe != f"student-M-gold{weight}":
                        continue
                folder = runs / corpus / f"seed{seed}" / recipe
                if folder in failed or finished(folder, recipe):
                    continue
                if reuses and not finished(runs / corpus / f"seed{seed}" / reuses, reuses):
                    waiting += 1
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / ".study.lock", "w") as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        waiting += 1
                        continue
                    if finished(folder, recipe):  # finished by another worker meanwhile
                        continue
                    if reuses:
                        share(runs / corpus / f"seed{seed}" / reuses, folder, recipe)
                    if train(folder, [*dataset, *COMMON, *options, *extra, "--seed", str(seed)]):
                        started += 1
                    else:
                        failed.add(folder)
    return started, waiting


def train(folder: Path, options: list[str]) -> bool:
    command = [str(EQN), "train", *options, "-o", str(folder)]
    print(time.strftime("%H:%M:%S"), "start", folder, flush=True)
    with open(folder.with_suffix(".log"), "a") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    print(time.strftime("%H:%M:%S"), "exit", done.returncode, folder, flush=True)
    return done.returncode == 0


def dev_score(folder: Path, stage: str) -> float | None:
    """The model's dev score: macro F1 at a dev-tuned threshold, its best epoch."""
    try:
        record = json.loads((folder / "run.json").read_text())["stages"][stage]
        return max(epoch["dev_score"] for epoch in record["history"])
    except (OSError, ValueError, KeyError):
        return None


def result(folder: Path, recipe: str, runs: Path) -> dict[str, Any] | None:
    """Dev score, test figures and the models trained (teachers and Model 1 included)."""
    try:
        record = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return None
    stages = record["stages"]
    stage = stages.get(stage_of(recipe), {})
    if "metrics" not in stage:
        return None
    # Cost in models trained (same backbone, data and epochs for all), not seconds: the
    # study is paused for timing checks, and a paused run's seconds grow (see the
    # amendment in recipe_study.md).
    models = 1.0
    if recipe.startswith("student"):
        models += len(stages["relabel"]["teacher_train_seconds"])
    elif recipe in ("EQN", "EQN-warm"):
        models += 1.0  # Model 1
    test = stage["metrics"]["test"]
    return {
        "dev": dev_score(folder, stage_of(recipe)),
        "test_macro_f1": test["thresholded"]["global"]["macro"]["f1"],
        "test_topk_macro_f1": test["paper"]["per_label"]["macro"]["f1"],
        "models": models,
    }


# The study's recipes under their names in eqn train --recipe.
LIBRARY_NAMES = {
    "M": "plain",
    "EQN": "paper",
    "EQN-warm": "paper-warm",
    "student-CoEQN": "student-coeqn",
    "student-M": "student-m",
    "student-M-gold0.5": "student-m-gold",  # the weight chosen on seed-0 dev
}


def collect(runs: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each finished run's figures, by corpus and recipe."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for corpus in CORPORA:
        for seed_folder in sorted((runs / corpus).glob("seed*")):
            for recipe in RECIPES:
                found = result(seed_folder / recipe, recipe, runs)
                if found:
                    rows.setdefault((corpus, recipe), []).append(found)
    return rows


def short_table(runs: Path) -> str:
    """The README's table: the recipes eqn train names, best mean dev rank first (the
    rule's order), with test macro F1 (dev-tuned h) per corpus, mean ± spread over seeds,
    and the training cost in models. The gold-weight pilot that lost is left out."""
    rows = collect(runs)
    lines = [
        "| recipe (`eqn train --recipe`) | mean dev rank | "
        + " | ".join(f"{corpus} test macro F1" for corpus in CORPORA)
        + " | seeds | models trained |",
        "|---|---|" + "---|" * (len(CORPORA) + 2),
    ]
    found = {r: [rows.get((c, r), []) for c in CORPORA] for r in RECIPES if r in LIBRARY_NAMES}
    found = {recipe: results for recipe, results in found.items() if any(results)}
    complete = [recipe for recipe, results in found.items() if all(results)]
    mean_dev = {
        recipe: {
            c: statistics.mean(r["dev"] for r in f)
            for c, f in zip(CORPORA, found[recipe], strict=True)
        }
        for recipe in complete
    }
    ranks = dev_ranks(mean_dev, complete)
    rank = {recipe: statistics.mean(positions) for recipe, positions in ranks.items()}
    for recipe in sorted(found, key=lambda r: rank.get(r, len(found))):
        cells = [fmt([r["test_macro_f1"] for r in f]) if f else "–" for f in found[recipe]]
        seeds = "/".join(str(len(f)) for f in found[recipe])
        models = max(r["models"] for f in found[recipe] for r in f)
        shown = f"{rank[recipe]:.1f}" if recipe in rank else "–"
        cells = [shown, *cells, seeds, f"{models:.0f}"]
        lines.append(f"| {LIBRARY_NAMES[recipe]} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", versus_plain(found)]) + "\n"


def versus_plain(found: dict[str, list[list[dict[str, Any]]]]) -> str:
    """Where a recipe's mean test macro F1 beats the plain classifier's, and by how much."""
    if "M" not in found:
        return "No plain classifier (M) to compare with."
    parts = []
    for index, corpus in enumerate(CORPORA):
        plain = found["M"][index]
        if not plain:
            continue
        base = statistics.mean(r["test_macro_f1"] for r in plain)
        gaps = {
            LIBRARY_NAMES[recipe]: statistics.mean(r["test_macro_f1"] for r in results[index])
            - base
            for recipe, results in found.items()
            if recipe != "M" and results[index]
        }
        ahead = sorted((g, name) for name, g in gaps.items() if g > 0)[::-1]
        if ahead:
            parts.append(f"on {corpus}, " + ", ".join(f"{n} {g:+.4f}" for g, n in ahead))
        elif gaps:
            gap, name = max((g, n) for n, g in gaps.items())
            parts.append(f"on {corpus}, none (closest: {name} {gap:+.4f})")
    if not parts:
        return "No other recipe to compare with the plain classifier yet."
    return "Mean test macro F1 above the plain classifier's: " + "; ".join(parts) + "."


def unfinished(runs: Path, seeds: list[int]) -> list[str]:
    """The planned runs (see ``run_pass``) without a finished model yet."""
    weight = chosen_gold_weight(runs)
    missing = []
    for seed in seeds:
        for corpus in CORPORA:
            for recipe in RECIPES:
                gold = recipe.startswith("student-M-gold")
                if gold and seed > 0 and weight is not None and recipe != f"student-M-gold{weight}":
                    continue
                if gold and seed > 0 and weight is None:
                    if recipe.endswith(GOLD_WEIGHTS[0]):  # the chosen pilot will run: once
                        missing.append(f"{corpus}/seed{seed}/student-M-gold (weight not chosen)")
                    continue
                if not finished(runs / corpus / f"seed{seed}" / recipe, recipe):
                    missing.append(f"{corpus}/seed{seed}/{recipe}")
    return missing


def table(runs: Path, seeds: list[int]) -> str:
    rows = collect(runs)
    weight = chosen_gold_weight(runs)
    lines = [
        "# Recipe study: results (the rule: `benchmarks/recipe_study.md`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU. Made by "
        "`python benchmarks/recipe_study.py run`, then `table`; each model is LoRA "
        "all-MiniLM-L6-v2, 2 epochs, batch 32, its best epoch on dev.",
        "",
        f"Runs in `{runs}`. Mean ± spread (max - min) over the seeds counted.",
        f"Gold weight chosen on seed-0 dev: {weight or 'not yet (pilots unfinished)'}.",
        "",
        "| corpus | recipe | seeds | dev macro F1 | test macro F1, dev-tuned "
        "| test top-k_i macro F1 | training cost (x M) |",
        "|---|---|---|---|---|---|---|",
    ]
    mean_dev: dict[str, dict[str, float]] = {}
    cost: dict[str, dict[str, float]] = {}
    for (corpus, recipe), results in rows.items():
        m_models = statistics.mean(r["models"] for r in rows.get((corpus, "M"), results))
        keys = ("dev", "test_macro_f1", "test_topk_macro_f1")
        cells = [fmt([r[k] for r in results]) for k in keys]
        ratio = statistics.mean(r["models"] for r in results) / m_models
        lines.append(
            f"| {corpus} | {recipe} | {len(results)} | " + " | ".join(cells) + f" | {ratio:.1f} |"
        )
        mean_dev.setdefault(recipe, {})[corpus] = statistics.mean(r["dev"] for r in results)
        cost.setdefault(recipe, {})[corpus] = ratio
    outcome, best = rule_outcome(mean_dev, cost, weight)
    left = unfinished(runs, seeds)
    if left:  # the rule chooses on every run; until then its answer is provisional
        outcome[-1] = outcome[-1].replace("Rule outcome:", "Provisional, on the runs so far:")
        outcome.append(f"Still to run ({len(left)}): {', '.join(left)}.")
    elif best:
        outcome += consequences(rows, best)
    lines += ["", *outcome]
    return "\n".join(lines) + "\n"


def fmt(values: list[float]) -> str:
    mean = statistics.mean(values)
    return f"{mean:.4f} ± {max(values) - min(values):.4f}" if len(values) > 1 else f"{mean:.4f}"


def rule_outcome(
    mean_dev: dict[str, dict[str, float]], cost: dict[str, dict[str, float]], weight: str | None
) -> list[str]:
    """The rule of benchmarks/recipe_study.md: best mean dev rank, cost at most 4x M's."""
    candidates = [
        r
        for r in mean_dev
        if len(mean_dev[r]) == len(CORPORA)
        and all(c <= 4.0 for c in cost[r].values())
        and (not r.startswith("student-M-gold") or r == f"student-M-gold{weight}")
    ]
    if not candidates:
        return ["Rule outcome: not yet (no recipe has results on every corpus)."], None
    ranks = dev_ranks(mean_dev, candidates)
    best = min(
        candidates,
        key=lambda r: (statistics.mean(ranks[r]), -statistics.mean(mean_dev[r].values())),
    )
    lines = ["| recipe | dev rank per corpus | mean dev rank |", "|---|---|---|"]
    for recipe in sorted(candidates, key=lambda r: statistics.mean(ranks[r])):
        lines.append(f"| {recipe} | {ranks[recipe]} | {statistics.mean(ranks[recipe]):.1f} |")
    return [*lines, "", f"Rule outcome: **{best}**."], best


def dev_ranks(mean_dev: dict[str, dict[str, float]], recipes: list[str]) -> dict[str, list[int]]:
    """Each recipe's rank by mean dev score on each corpus (1 = best)."""
    ranks: dict[str, list[int]] = {r: [] for r in recipes}
    for corpus in CORPORA:
        ordered = sorted(recipes, key=lambda r: -mean_dev[r][corpus])
        for position, recipe in enumerate(ordered, start=1):
            ranks[recipe].append(position)
    return ranks


def consequences(rows: dict[tuple[str, str], list[dict[str, Any]]], best: str) -> list[str]:
    """Step 4 of the rule: the recipe's name in eqn train, and whether its mean test
    macro F1 is below M's on a corpus (then --select best becomes the default)."""
    below = []
    for corpus in CORPORA:
        chosen = statistics.mean(r["test_macro_f1"] for r in rows[(corpus, best)])
        plain = statistics.mean(r["test_macro_f1"] for r in rows[(corpus, "M")])
        if chosen < plain:
            below.append(f"{corpus} ({chosen:.4f} against M's {plain:.4f})")
    name = LIBRARY_NAMES.get(best, best)
    lines = [f"`eqn train DATA` uses `--recipe {name}`."]
    if best == "M":
        lines.append("It is M itself, so `--select` has nothing to choose between by default.")
    elif below:
        lines.append(
            f"Its mean test macro F1 is below M's on {' and '.join(below)}: `--select best` "
            "becomes the default, and the README says so."
        )
    else:
        lines.append("Its mean test macro F1 is at least M's on both: `--select eqn` stays.")
    return ["", *lines]


def throughput(runs: Path) -> str:
    """Seconds per training step of every finished stage, by torch threads: how fast one
    worker with two threads goes against two one-thread workers sharing the machine."""
    import math

    by_threads: dict[tuple[str, int], list[float]] = {}
    for path in sorted(runs.glob("*/seed*/*/run.json")):
        record = json.loads(path.read_text())
        threads = record.get("environment", {}).get("torch_threads", 0)
        batches = math.ceil(record["sizes"]["train"] / record["config"]["batch_size"])
        for stage in record["stages"].values():
            if stage.get("train_seconds") and stage.get("history"):
                steps = batches * len(stage["history"])
                by_threads.setdefault((path.parts[-4], threads), []).append(
                    stage["train_seconds"] / steps
                )
    lines = ["| corpus | torch threads | stages | seconds per step, median (min-max) |"]
    lines.append("|---|---|---|---|")
    for (corpus, threads), values in sorted(by_threads.items()):
        spread = f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"
        lines.append(f"| {corpus} | {threads} | {len(values)} | {spread} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "table", "short", "throughput"])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "recipes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--extra", nargs=argparse.REMAINDER, default=[], help="more eqn train options (smoke runs)"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="CORPUS/RECIPE", help="run: these runs alone (reruns)"
    )
    args = parser.parse_args()
    if args.command == "run":
        run(args.runs, args.seeds, args.extra, args.only)
        return
    if args.command == "table":
        text = table(args.runs, args.seeds)
    else:
        text = {"short": short_table, "throughput": throughput}[args.command](args.runs)
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
