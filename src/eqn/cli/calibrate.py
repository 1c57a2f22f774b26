"""``eqn calibrate``: fit a model's calibration maps on a dev split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eqn.cli.common import (
    DatasetOpt,
    DatasetOptions,
    ProgressOpt,
    console,
    fail,
    reporting_errors,
    with_dataset_options,
)

NAME = "calibrate"


@with_dataset_options
@reporting_errors
def command(
    model_path: Annotated[Path, typer.Argument(help="The model folder to calibrate.")],
    dataset: DatasetOpt,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write the calibrated model.")
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Replace the model folder with the calibrated one.")
    ] = False,
    split: Annotated[str, typer.Option(help="The split to fit on (never test).")] = "dev",
    progress: ProgressOpt = True,
    data: DatasetOptions = DatasetOptions(),
) -> None:
    """Fit per-label calibration maps on a dev split, so an energy e means about e x 10 %."""
    from eqn.core.metrics import calibration
    from eqn.model.estimator import EQN

    if split == "test":
        fail("calibration is fitted on dev (or train), never on test", "--split")
    if (out is None) == (not in_place):
        fail("give an output folder, or replace the model in place", "--out / --in-place")
    model = EQN.load(model_path)
    dev = data.load(dataset)[split]
    energies = model.energies(dev.texts, calibrated=False, progress=progress)
    model.calibrate(dev, energies=energies)
    before = calibration(energies, dev.gold)["ece"]
    after = calibration(model.apply_calibration(energies), dev.gold)["ece"]
    destination = model_path if in_place else out
    if destination is None:
        fail("name the model folder to replace", "--model")
    target = model.save(destination, force=in_place)
    console.print(
        f"calibrated on {len(dev)} {split} texts: ECE {before:.4f} -> {after:.4f}; "
        f"threshold {model.threshold_for(True):.2f}; saved to {target}",
        markup=False,
    )
