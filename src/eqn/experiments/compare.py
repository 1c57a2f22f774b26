"""``compare``: the paper's Table 3, baseline against CoEQN against EQN per backbone."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eqn.core import metrics as M
from eqn.data.table import DatasetSplits
from eqn.errors import StageError
from eqn.experiments.pipeline import run_pipeline
from eqn.experiments.recipes import PLAIN, get_recipe
from eqn.experiments.report import comparison_markdown
from eqn.io import atomic_write, write_json


def compare_backbones(
    splits: DatasetSplits,
    backbones: Sequence[str],
    out_dir: str | os.PathLike[str],
    config: Any,
    backbone_options: dict[str, dict[str, Any]] | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
    finished_runs: Mapping[str, str | os.PathLike[str]] | None = None,
    device: str = "auto",
    warm_start: bool | None = None,
    recipes: Sequence[str] = (),
) -> dict[str, Any]:
    """The paper's Table 3: for each backbone, its baseline (S for single-label data,
    M for multi-label), CoEQN and EQN on the same data, split and seed; and a column
    "EQN (NAME)" for each of ``recipes`` (:mod:`eqn.experiments.recipes`) beside them.

    ``finished_runs`` maps a backbone to a finished ``eqn train`` run folder whose
    cells are taken as they are (a long transformer run need not be repeated); the
    run must hold the three models and have been trained on the same data and seed.
    ``warm_start``: whether EQN's Model 2 continues from Model 1; ``None`` takes the
    default for the data (``default_warm_start``), which the table names.
    """
    out = Path(out_dir)
    baseline = "M" if splits.train.is_multilabel else "S"
    finished = {name: Path(path) for name, path in (finished_runs or {}).items()}
    unused = sorted(set(finished) - set(backbones))
    if unused:
        raise StageError(
            f"finished run(s) given for {', '.join(unused)}, which is not among the "
            f"backbones {', '.join(backbones)}; add it to the backbones or drop the run"
        )
    extra = [get_recipe(r) for r in recipes if r not in ("paper", PLAIN)]  # columns already

    def train(
        name: str, folder: Path, stages: list[str], warm: bool | None, **changes: Any
    ) -> dict[str, Any]:
        relabel = changes.pop("relabel", None)
        options = (backbone_options or {}).get(name, {})
        backbone_config = config.replace(backbone=name, backbone_options=options, **changes)
        return run_pipeline(
            splits,
            backbone_config,
            folder,
            stages=stages,
            force=force,
            resume=resume,
            progress=progress,
            device=device,
            warm_start=warm,
            relabel=relabel,
        )

    rows = []
    for name in backbones:
        if name in finished:
            record = _finished_run(finished[name], splits, config.seed, [baseline, "coeqn", "eqn"])
        else:
            record = train(name, out / name, [baseline, "coeqn", "relabel", "eqn"], warm_start)
        columns = [(record, stage, stage) for stage in (baseline, "coeqn", "eqn")]
        for recipe in extra:
            stages = recipe.stages_for(splits.train.is_multilabel)
            folder = out / name / f"recipe-{recipe.name}"
            found = train(
                name, folder, stages, recipe.warm_start, loss=recipe.loss, relabel=recipe.relabel
            )
            columns.append((found, stages[-1], f"EQN ({recipe.name})"))
        rows += [_row(name, source, stage, model) for source, stage, model in columns]
    comparison = {
        "dataset": splits.split_info.get("dataset", splits.train.name),
        "multilabel": splits.train.is_multilabel,
        "baseline": baseline,
        "models": [baseline, "CoEQN", "EQN", *(f"EQN ({r.name})" for r in extra)],
        "seed": config.seed,
        "epochs": config.epochs,
        "sizes": {s: len(splits[s]) for s in ("train", "dev", "test")},
        "reused": {name: str(path) for name, path in finished.items()},
        "rows": rows,
    }
    write_json(out / "comparison.json", comparison)
    with atomic_write(out / "comparison.md", "w", encoding="utf-8") as stream:
        stream.write(comparison_markdown(comparison))
    return comparison


def _row(backbone: str, record: dict[str, Any], stage: str, model: str) -> dict[str, Any]:
    """One model's line of the table: its test headline and what it cost."""
    result = record["stages"][stage]
    return {
        "backbone": backbone,
        "model": {"coeqn": "CoEQN", "eqn": "EQN"}.get(model, model),
        **M.headline(result["metrics"]["test"]),
        "train_seconds": result["train_seconds"],
        "epochs": record["config"]["epochs"],
        "start": result.get("start", ""),
    }


def _finished_run(
    folder: Path, splits: DatasetSplits, seed: int, stages: Sequence[str]
) -> dict[str, Any]:
    """The ``run.json`` record of a finished run, checked against this comparison."""
    path = folder / "run.json"
    if not path.is_file():
        raise StageError(f"{folder} holds no run.json: give the folder of a finished training run")
    record = json.loads(path.read_text(encoding="utf-8"))
    missing = [s for s in stages if "metrics" not in record.get("stages", {}).get(s, {})]
    if missing:
        raise StageError(
            f"run {folder} lacks the stage(s) {', '.join(missing)}; finish them by resuming "
            f"the run with the stages {','.join(missing)}"
        )
    info = record.get("data", {})
    expected = splits.split_info
    sizes = {s: len(splits[s]) for s in ("train", "dev", "test")}
    if (
        record.get("sizes") != sizes
        or info.get("dataset") != expected.get("dataset")
        or info.get("method") != expected.get("method")
    ):
        raise StageError(
            f"run {folder} was trained on other data ({info.get('dataset')}, "
            f"{info.get('method')}, sizes {record.get('sizes')}) than this comparison "
            f"({expected.get('dataset')}, {expected.get('method')}, sizes {sizes})"
        )
    if record.get("seed") != seed:
        raise StageError(f"run {folder} used seed {record.get('seed')}, this comparison {seed}")
    return record
