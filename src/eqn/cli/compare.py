"""``eqn compare``: the paper's Table 3 on one dataset, backbone by backbone."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from eqn.cli.common import (
    DatasetOpt,
    DatasetOptions,
    DeviceOpt,
    ProgressOpt,
    console,
    fail,
    reporting_errors,
    with_dataset_options,
)

NAME = "compare"


def parse_runs(items: list[str]) -> dict[str, str]:
    runs: dict[str, str] = {}
    for item in items:
        name, _, folder = item.partition("=")
        if not name.strip() or not folder.strip():
            fail(f"expected BACKBONE=RUN_FOLDER, got {item!r}", "--from-run")
        runs[name.strip()] = folder.strip()
    return runs


@with_dataset_options
@reporting_errors
def command(
    dataset: DatasetOpt,
    backbones: Annotated[
        str, typer.Option(help="Comma-separated backbones.")
    ] = "ann,cnn,lstm,textcnn,transformer",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for runs and tables.")] = Path(
        "eqn-compare"
    ),
    epochs: Annotated[int, typer.Option(help="Epochs per model.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    loss: Annotated[str, typer.Option(help="EQN loss: mse or bce.")] = "mse",
    imbalance: Annotated[
        str, typer.Option(help="Imbalance option, for every model.")
    ] = "pos_weight",
    finetune: Annotated[str, typer.Option(help="transformer: full, lora or frozen.")] = "lora",
    warm_start: Annotated[
        bool | None,
        typer.Option(
            "--warm-start/--fresh-start",
            help="EQN's Model 2 starts from Model 1's weights, or from the pretrained ones. "
            "Default: warm for single-label data with the transformer, else fresh.",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens (or words) per text.")] = None,
    max_train: Annotated[int | None, typer.Option(help="Quick mode: train on a subset.")] = None,
    max_eval: Annotated[int | None, typer.Option(help="Quick mode: dev/test subsets.")] = None,
    resume: Annotated[bool, typer.Option(help="Reuse finished models.")] = False,
    force: Annotated[bool, typer.Option(help="Replace existing models.")] = False,
    from_run: Annotated[
        list[str] | None,
        typer.Option(
            "--from-run",
            help="BACKBONE=RUN_FOLDER: take that backbone's cells from a finished "
            "eqn train run (same data and seed). Repeatable.",
        ),
    ] = None,
    recipe: Annotated[
        list[str] | None,
        typer.Option(
            help="A recipe of eqn train --recipe shown as one more column, EQN (NAME) "
            "(repeatable). Default: eqn train's default recipe, unless it is already a column "
            "(paper: EQN; plain: the baseline).",
            show_default=False,
        ),
    ] = None,
    progress: ProgressOpt = True,
    device: DeviceOpt = "auto",
    data: DatasetOptions = DatasetOptions(),
) -> None:
    """The paper's Table 3: baseline, CoEQN and EQN for each backbone, same data and seed."""
    from eqn.backbones import backbone_class
    from eqn.experiments.compare import compare_backbones
    from eqn.experiments.recipes import DEFAULT_RECIPE
    from eqn.experiments.report import comparison_markdown
    from eqn.model.config import ModelConfig

    finished_runs = parse_runs(from_run or [])
    splits = data.load(dataset).limit(max_train, max_eval, data.seed)
    names = [b.strip() for b in backbones.split(",") if b.strip()]
    options: dict[str, dict[str, Any]] = {}
    for name in names:
        fields = {field.name for field in dataclasses.fields(backbone_class(name).Options)}
        options[name] = {"finetune": finetune} if name == "transformer" else {}
        if max_length is not None and "max_length" in fields:
            options[name]["max_length"] = max_length
    config = ModelConfig(
        loss=cast(Any, loss),  # checked by ModelConfig, which names the choices
        imbalance=cast(Any, imbalance),
        epochs=epochs,
        batch_size=batch_size,
        seed=data.seed,
    )
    comparison = compare_backbones(
        splits,
        names,
        out,
        config,
        options,
        force=force,
        resume=resume,
        progress=progress,
        finished_runs=finished_runs,
        warm_start=warm_start,
        device=device,
        recipes=[DEFAULT_RECIPE] if recipe is None else recipe,
    )
    console.print(comparison_markdown(comparison), markup=False)
    console.print(f"tables: {out / 'comparison.md'}", markup=False)
