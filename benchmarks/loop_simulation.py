"""The review loop, simulated on GoEmotions (issue 27): which texts should reviewers label?

    python benchmarks/loop_simulation.py run   [--runs runs/loop] [--seeds 0 1 2]
    python benchmarks/loop_simulation.py table [--runs runs/loop] [--out FILE.md] [--plot FILE.png]

Train is the pool, dev sets the thresholds, test is scored each round and used for
nothing else. Each seed starts from the pretrained MiniLM with 1,000 randomly chosen
labelled texts (that first model is shared by every strategy), then each strategy adds
1,000 texts per round, chosen from a random 10,000-text subset of the unlabelled pool
by the previous round's model, up to 6,000 labels: six models per strategy and seed,
each trained afresh with the same recipe and epochs. Every model is an ``eqn`` run
folder (``run_pipeline`` with resume) and every round's labelled set is saved, so an
interrupted simulation continues where it stopped; on 2 cores, start it twice with
``OMP_NUM_THREADS=1``, two workers sharing the plan. The rule that picks the default
strategy is in ``loop_simulation.md``, written before the runs.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EQN_DATA_DIR", ROOT.parent / "shared" / "data")) / "goemotions"
STRATEGIES = ("uncertainty", "diverse", "random")


def last_stage(recipe: str) -> str:
    """The stage whose model is the round's (eqn train --recipe; GoEmotions is multi-label)."""
    from eqn.experiments.recipes import get_recipe

    return get_recipe(recipe).stages_for(multilabel=True)[-1]


def train_round(splits: Any, labelled: np.ndarray, folder: Path, seed: int, args: Any) -> None:
    """One round's model: LoRA MiniLM (``--backbone`` for a smoke run) trained with the
    recipe ``--recipe`` (plain, M, until the recipe study picks one)."""
    from eqn.data import DatasetSplits
    from eqn.experiments.pipeline import run_pipeline
    from eqn.experiments.recipes import get_recipe
    from eqn.model.config import ModelConfig

    recipe = get_recipe(args.recipe)
    options = {"finetune": "lora"} if args.backbone == "transformer" else {}
    config = ModelConfig(
        backbone=args.backbone,
        backbone_options=options,
        epochs=args.epochs,
        seed=seed,
        loss=recipe.loss,
    )
    train = splits.train.subset(labelled)
    subset = DatasetSplits(train, splits.dev, splits.test, splits.split_info)
    stages = recipe.stages_for(multilabel=True)
    run_pipeline(
        subset,
        config,
        folder,
        stages,
        resume=True,
        progress=False,
        relabel=recipe.relabel,
        warm_start=recipe.warm_start,
    )


def run(args: argparse.Namespace) -> None:
    """Train every unfinished round; several workers may share one --runs folder.

    A chain is one seed's rounds for one strategy; each (and each seed's shared first
    model) is claimed with a lock, so two workers with OMP_NUM_THREADS=1 on a 2-core
    machine never train the same model. A worker claims one round at a time, of the
    least advanced chain it can get, so the last chains are shared between workers
    instead of one worker training a whole chain while the other has nothing left. A
    worker waits while another trains what it needs, and stops when nothing is left.
    """
    from eqn.data import load_dataset

    splits = load_dataset("goemotions", data_dir=str(args.data_dir))
    if args.max_eval:
        splits = splits.limit(None, args.max_eval, 0)
    final = last_stage(args.recipe)
    while True:
        started = waiting = 0
        chains: list[tuple[int, int, int]] = []
        for seed in args.seeds:
            base = args.runs / f"seed{seed}"
            start = base / "start" / f"labels{args.start}"
            if not finished(start, final):
                with claimed(base / "start.lock") as mine:
                    if not mine:
                        waiting += 1
                        continue
                    first = np.random.default_rng(seed).choice(
                        len(splits.train), args.start, replace=False
                    )
                    start.mkdir(parents=True, exist_ok=True)
                    (start / "labelled.json").write_text(json.dumps(np.sort(first).tolist()))
                    train_round(splits, np.sort(first), start, seed, args)
                    started += 1
            for strategy in STRATEGIES:
                chain_end = "start" if args.last == args.start else strategy
                if not finished(base / chain_end / f"labels{args.last}", final):
                    done = sum(finished(f, final) for f in (base / strategy).glob("labels*"))
                    chains.append((done, seed, STRATEGIES.index(strategy)))
        for _, seed, index in sorted(chains):
            strategy = STRATEGIES[index]
            with claimed(args.runs / f"seed{seed}" / f"{strategy}.lock") as mine:
                if not mine:
                    waiting += 1
                    continue
                run_chain(splits, seed, strategy, args, rounds=1)
                started += 1
                break
        if started:
            continue
        if not waiting:
            return
        time.sleep(60)


@contextmanager
def claimed(lock_path: Path) -> Iterator[bool]:
    """Whether this worker holds ``lock_path`` (held until the block ends, or it dies)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def finished(folder: Path, stage: str) -> bool:
    return _scores(folder, stage) is not None


def run_chain(
    splits: Any, seed: int, strategy: str, args: argparse.Namespace, rounds: int | None = None
) -> None:
    """One seed's rounds for one strategy, from the shared first model to --last labels
    (or until ``rounds`` models are trained and the next round's texts chosen)."""
    from eqn.annotation.select import select_texts
    from eqn.model.estimator import EQN

    pool, final = splits.train, last_stage(args.recipe)
    base = args.runs / f"seed{seed}"
    sizes = list(range(args.start, args.last + 1, args.step))
    trained = 0
    for size in sizes:
        folder = base / ("start" if size == args.start else strategy) / f"labels{size}"
        labelled = np.asarray(json.loads((folder / "labelled.json").read_text()))
        if not finished(folder, final):
            train_round(splits, labelled, folder, seed, args)
            trained += 1
        following = base / strategy / f"labels{size + args.step}"
        if size == sizes[-1] or (following / "labelled.json").is_file():
            if rounds is not None and trained >= rounds:
                return
            continue
        # Candidates: a random share of the unlabelled pool, fixed by seed and round.
        unlabelled = np.setdiff1d(np.arange(len(pool)), labelled)
        draw = np.random.default_rng([seed, size]).choice(
            unlabelled, min(args.subset, len(unlabelled)), replace=False
        )
        model = EQN.load(folder / final, device="cpu")
        texts = [pool.texts[i] for i in draw]
        chosen = select_texts(model, texts, args.step, strategy, seed=seed + size)
        labelled = np.sort(np.concatenate([labelled, draw[chosen.indices]]))
        following.mkdir(parents=True, exist_ok=True)
        (following / "labelled.json").write_text(json.dumps(labelled.tolist()))
        print(f"seed {seed} {strategy}: {size} -> {len(labelled)} labels", flush=True)
        if rounds is not None and trained >= rounds:
            return


def _scores(folder: Path, stage: str) -> tuple[float, float] | None:
    try:
        record = json.loads((folder / "run.json").read_text())["stages"][stage]
    except (OSError, ValueError, KeyError):
        return None
    dev = max(h["dev_score"] for h in record["history"])
    test = record["metrics"]["test"]["thresholded"]["global"]["macro"]["f1"]
    return dev, test


def curves(runs: Path, stage: str) -> dict[str, dict[int, list[tuple[float, float]]]]:
    """Per strategy and number of labels: (dev, test) macro F1 of each seed's model."""
    found: dict[str, dict[int, list[tuple[float, float]]]] = {s: {} for s in STRATEGIES}
    for seed_folder in sorted(runs.glob("seed*")):
        for start_folder in sorted((seed_folder / "start").glob("labels*")):
            start = _scores(start_folder, stage)
            for strategy in STRATEGIES:
                if start:
                    found[strategy].setdefault(int(start_folder.name[6:]), []).append(start)
        for strategy in STRATEGIES:
            for folder in sorted((seed_folder / strategy).glob("labels*")):
                score = _scores(folder, stage)
                if score:
                    found[strategy].setdefault(int(folder.name[6:]), []).append(score)
    return found


def training_time(runs: Path, stage: str) -> tuple[int, float]:
    """How many models the runs hold, and their recorded seconds summed."""
    records = [json.loads(path.read_text()) for path in runs.glob("seed*/*/labels*/run.json")]
    seconds = [r["stages"][stage]["seconds"] for r in records if stage in r.get("stages", {})]
    return len(seconds), float(sum(seconds))


def labels_to_reach(curve: dict[int, float], target: float) -> float | None:
    """Labels at which a mean curve first reaches ``target``, linearly interpolated."""
    sizes = sorted(curve)
    for low, high in zip(sizes, sizes[1:], strict=False):
        if curve[low] >= target:
            return float(low)
        if curve[high] >= target:
            return low + (target - curve[low]) / (curve[high] - curve[low]) * (high - low)
    return float(sizes[-1]) if sizes and curve[sizes[-1]] >= target else None


def rule_outcome(dev: dict[str, dict[int, float]], seeds: dict[str, dict[int, int]]) -> str:
    """The rule of loop_simulation.md, on the mean dev curves: the strategy that reaches
    random's last-round dev macro F1 with fewer labels; if neither does, uncertainty
    stays, and the README must say so. Only when every point is a mean over the same
    seeds (``seeds``: how many each point has)."""
    random_curve = dev.get("random", {})
    candidates = ("uncertainty", "diverse")
    if not random_curve or any(not dev.get(s) for s in candidates):
        return "Rule outcome: not yet (a strategy has no runs)."
    if len({n for counts in seeds.values() for n in counts.values()}) > 1:
        return "Rule outcome: not yet (some points have fewer seeds than others)."
    last = max(random_curve)
    if any(max(dev[s]) != last for s in candidates):
        return "Rule outcome: not yet (a strategy has not reached the last round)."
    needed = {s: labels_to_reach(dev[s], random_curve[last]) for s in candidates}
    reached = {s: n for s, n in needed.items() if n is not None}
    if reached:
        best = min(reached, key=lambda s: (reached[s], candidates.index(s)))
        return f"Rule outcome: **{best}** ({reached[best]:.0f} labels on dev, {last} for random)."
    # (The rule's second branch, "above random at the last round", is reaching it there.)
    return (
        "Rule outcome: **uncertainty** stays the default, but choosing by the model did not "
        "beat choosing at random here; the README says so."
    )


def table(runs: Path, stage: str) -> str:
    found = curves(runs, stage)
    lines = [
        "| strategy | labels | seeds | dev macro F1 | test macro F1 | test, seeds' range |",
        "|---|---|---|---|---|---|",
    ]
    means: dict[str, dict[str, dict[int, float]]] = {"dev": {}, "test": {}}
    seeds: dict[str, dict[int, int]] = {}
    for strategy, by_size in found.items():
        for size, scores in sorted(by_size.items()):
            seeds.setdefault(strategy, {})[size] = len(scores)
            dev = statistics.mean(s[0] for s in scores)
            test = statistics.mean(s[1] for s in scores)
            means["dev"].setdefault(strategy, {})[size] = dev
            means["test"].setdefault(strategy, {})[size] = test
            spread = f"{min(s[1] for s in scores):.4f} to {max(s[1] for s in scores):.4f}"
            lines.append(
                f"| {strategy} | {size} | {len(scores)} | {dev:.4f} | {test:.4f} | {spread} |"
            )
    lines.append("")
    for split in ("dev", "test"):
        random_curve = means[split].get("random", {})
        if not random_curve:
            lines.append(f"{split}: no random run yet.")
            continue
        last = max(random_curve)
        target = random_curve[last]
        for strategy in ("uncertainty", "diverse"):
            needed = labels_to_reach(means[split].get(strategy, {}), target)
            what = f"random's {last}-label macro F1 ({target:.4f})"
            lines.append(
                f"{split}: {strategy} reaches {what} with {needed:.0f} labels ({needed / last:.0%})"
                if needed
                else f"{split}: {strategy} does not reach {what}"
            )
    models, seconds = training_time(runs, stage)
    lines += [
        "",
        f"{models} models, {seconds / 3600:.1f} hours in all by their run records (one thread"
        " each; a resumed model counts its last sitting only; selecting between rounds not"
        " counted).",
        "",
        rule_outcome(means["dev"], seeds),
    ]
    return "\n".join(lines) + "\n"


def plot(runs: Path, stage: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    found = curves(runs, stage)
    for strategy, by_size in found.items():
        sizes = sorted(by_size)
        tests = [[s[1] for s in by_size[n]] for n in sizes]
        (line,) = axis.plot(sizes, [statistics.mean(t) for t in tests], "o-", label=strategy)
        # The band: lowest to highest seed, so a gap inside it is not read as a saving.
        axis.fill_between(
            sizes,
            [min(t) for t in tests],
            [max(t) for t in tests],
            color=line.get_color(),
            alpha=0.15,
        )
    if found["random"]:
        last = max(found["random"])
        target = statistics.mean(s[1] for s in found["random"][last])
        axis.axhline(target, color="grey", linestyle=":", linewidth=1)
        axis.annotate(f"random at {last}", (min(found["random"]), target), fontsize=8, va="bottom")
    axis.set_xlabel("labelled texts")
    axis.set_ylabel("test macro F1 (dev-tuned h; band: seeds)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "table"])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "loop")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--recipe", default="plain", help="eqn train's recipe for each model")
    parser.add_argument("--backbone", default="transformer")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--start", type=int, default=1000)
    parser.add_argument("--step", type=int, default=1000)
    parser.add_argument("--last", type=int, default=6000)
    parser.add_argument("--subset", type=int, default=10_000, help="candidates scored per round")
    parser.add_argument("--max-eval", type=int, default=None, help="smoke runs: dev/test subsets")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        run(args)
        return
    stage = last_stage(args.recipe)
    text = table(args.runs, stage)
    if args.out:
        args.out.write_text(text)
    if args.plot:
        plot(args.runs, stage, args.plot)
    print(text, end="")


if __name__ == "__main__":
    main()
