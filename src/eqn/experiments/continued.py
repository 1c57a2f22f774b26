"""Continue from a model (:func:`continue_training`): one fine-tuning stage from
the model's weights, with its configuration and labels, on new annotations.

A share of the new data is held out, chosen by each text's hash: a text is held out in
every export of a growing project or in none, so no version of a review loop has
trained on the texts that judge the next one. With at least ``MIN_HELD_OUT`` held-out texts
(and ``MIN_POSITIVES`` positives for some label) the calibration maps and h are fitted
on it again; below that the parent's maps and h are kept, and the record says so.
Before and after are scored on the held-out share, so the run says whether the new
model is better than its parent. When the maps and h were fitted on the held-out
share, each model is judged with maps and h fitted on one half of it and scored on the
other, both ways, so neither is judged on the texts that fitted it.

    OUT/eqn/        the continued model
    OUT/run.json    the data used (tasks, annotations, annotators), the parent, and
                    macro F1 before and after on the held-out share
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from eqn.core import energy as E
from eqn.core.calibration import LabelMap, fit_calibration
from eqn.data.annotations import Annotations
from eqn.data.table import Dataset
from eqn.errors import InputError, OutputExistsError
from eqn.io import write_json
from eqn.model.estimator import EQN

logger = logging.getLogger(__name__)

MIN_HELD_OUT = 200
MIN_POSITIVES = 5


@dataclass(frozen=True)
class NewData:
    """What a continued model learns from and is judged on, and where it came from."""

    train: Dataset
    held_out: Dataset
    record: dict[str, Any]


def annotated_data(
    export: Annotations,
    labels: tuple[str, ...],
    share: float,
    seed: int,
    source: str,
    add_labels: bool = False,
) -> NewData:
    """Annotations split into a graded training set and a held-out share (gold where at
    least half the annotators agree). A chosen label not in ``labels`` (the model's) is
    an error, unless ``add_labels``: then it follows them, and the model learns it."""
    added = tuple(sorted(export.chosen_labels() - set(labels))) if add_labels else ()
    labels = (*labels, *added)
    export.check_labels(labels, source)
    if len(export.texts) < 2:
        raise InputError(
            f"{source}: {len(export.texts)} annotated task(s): at least 2 are needed, one to "
            "learn from and one held out to judge the new model"
        )
    held = held_out_positions(export.texts, share, seed)
    kept = np.setdiff1d(np.arange(len(export.texts)), held)
    record = {**export.counts(source), "held_out_share": share, "added_labels": list(added)}
    return NewData(
        export.graded(labels, kept, "new annotations"),
        export.gold(labels, held, "held-out annotations"),
        record,
    )


def held_out_positions(texts: Sequence[str], share: float, seed: int) -> np.ndarray:
    """The positions of the texts held out: those whose hash (with ``seed``) falls below
    ``share`` of its range, so about that share, and always the same texts whatever else
    the export holds (a random split of each export would hold out texts that an earlier
    version trained on, and judge it on them). At least one text on each side."""
    keys = (
        np.array(
            [
                int.from_bytes(hashlib.blake2b(f"{seed}\0{text}".encode()).digest()[:8], "big")
                for text in texts
            ],
            dtype=np.float64,
        )
        / 2.0**64
    )
    held = np.flatnonzero(keys < share)
    if held.size == 0:
        held = np.array([int(np.argmin(keys))])
    elif held.size == len(texts):
        held = np.delete(held, int(np.argmax(keys)))
    return held


def _macro_f1(model: EQN, data: Dataset, labels: int | None = None) -> float:
    """Macro F1 of the model's own label sets (eq. 8 at its h), as users get them, over
    its first ``labels`` labels (all by default)."""
    scored = model.score(data.texts)
    h = model.threshold_for(calibrated=scored.calibrated)
    predicted = E.classify_threshold(scored.energies, h, model.config.keep_top)
    n = labels or len(model.labels)
    return float(E.f1_per_label(predicted[:, :n], data.gold[:, :n]).mean())


def cross_fitted_label_sets(model: EQN, data: Dataset) -> np.ndarray:
    """The model's label sets of ``data`` (eq. 8), each half of ``data`` labelled at
    calibration maps (if the model has them) and h fitted on the other half only."""
    raw = model.energies(data.texts, calibrated=False)
    gold = data.gold.astype(bool)
    config = model.config
    halves = np.arange(len(data)) % 2
    predicted = np.zeros_like(gold)
    for half in (0, 1):
        fit, judged = raw[halves != half], raw[halves == half]
        if model.calibration_ is not None:
            maps = fit_calibration(
                fit, gold[halves != half], model.labels, config.max_energy, "held-out half"
            )
            fit, judged = maps.apply(fit), maps.apply(judged)
        grid = E.energy_grid_for(fit, config.max_energy)
        h = E.tune_threshold(fit, gold[halves != half], grid, keep_top=config.keep_top)
        predicted[halves == half] = E.classify_threshold(judged, h, config.keep_top)
    return predicted


def _cross_fitted_macro_f1(model: EQN, data: Dataset, labels: int | None = None) -> float:
    """Macro F1 of :func:`cross_fitted_label_sets`, over the first ``labels`` labels.

    A continued model whose maps and h were fitted on the held-out share would look
    better than it is if that share judged it too, and so would a parent fitted on an
    earlier export's held-out texts (the same texts stay held out as a project grows);
    fitted apart, both are judged on texts that fitted nothing of theirs."""
    predicted = cross_fitted_label_sets(model, data)
    n = labels or len(model.labels)
    return float(E.f1_per_label(predicted[:, :n], data.gold[:, :n].astype(bool)).mean())


def judge(parent: EQN, child: EQN, held_out: Dataset, refit: bool) -> tuple[float, float]:
    """Macro F1 of ``parent`` and ``child`` on the held-out share, on the labels both
    know: as served when the child kept the parent's maps and h, else each with maps
    and h fitted on the other half of the share (:func:`_cross_fitted_macro_f1`)."""
    known = len(parent.labels)
    if not refit:
        return _macro_f1(parent, held_out), _macro_f1(child, held_out, known)
    return (
        _cross_fitted_macro_f1(parent, held_out),
        _cross_fitted_macro_f1(child, held_out, known),
    )


def continue_training(
    parent: EQN,
    data: NewData,
    out: Path,
    epochs: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``parent`` on ``data.train``, judge it on ``data.held_out``; save to
    ``out/eqn`` and write ``out/run.json``. Returns the record."""
    target = out / "eqn"
    if target.exists() and not force:
        raise OutputExistsError(f"{target} already exists; pass force=True", parameter="force")
    started = time.perf_counter()
    config = parent.config if epochs is None else parent.config.replace(epochs=epochs)
    held_out = data.held_out
    refit = len(held_out) >= MIN_HELD_OUT and bool(
        (held_out.gold.sum(axis=0) >= MIN_POSITIVES).any()
    )
    child = EQN(config).fit(
        data.train, held_out if refit else None, warm_start_from=parent, progress=progress
    )
    if not refit:
        _keep_parent_maps(child, parent)
    # Judged on the parent's labels, which both know; added labels are reported apart.
    before, after = judge(parent, child, held_out, refit)
    child.save(target, force=True)
    record = {
        "method": "continued from a model",
        "parent": {"model": parent.name, "model_hash": parent.model_hash},
        "data": data.record,
        "train_texts": len(data.train),
        "held_out_texts": len(held_out),
        "epochs": config.epochs,
        "calibration_and_h": (
            "fitted again on the held-out share"
            if refit
            else f"kept from the parent (fewer than {MIN_HELD_OUT} held-out texts, or no "
            f"label with {MIN_POSITIVES} positives there)"
        ),
        "refit_on_held_out": refit,
        "held_out_macro_f1": {"parent": before, "continued": after},
        "held_out_judged": (
            "each model's maps and h fitted on one half of the held-out share, the other "
            "half judged, both ways"
            if refit
            else "as served (the continued model keeps the parent's maps and h)"
        ),
        **(
            {
                "held_out_macro_f1_with_added_labels": (
                    _cross_fitted_macro_f1(child, held_out) if refit else _macro_f1(child, held_out)
                )
            }
            if len(child.labels) > len(parent.labels)
            else {}
        ),
        "better_than_parent": after >= before,
        "seconds": time.perf_counter() - started,
        "model": str(target),
    }
    write_json(out / "run.json", record)
    return record


def _keep_parent_maps(child: EQN, parent: EQN) -> None:
    """Too little held-out data to fit maps and h: the parent's serve the child; an
    added label gets the global h and an identity map."""
    added = len(child.labels) - len(parent.labels)
    child.threshold_ = parent.threshold_
    child.label_thresholds_ = np.concatenate(
        [parent.label_thresholds_, np.full(added, parent.threshold_)]
    )
    child.thresholds_tuned_on_ = parent.thresholds_tuned_on_
    child.calibration_ = parent.calibration_
    if parent.calibration_ is not None and added:
        scale = parent.calibration_.max_energy
        identity = LabelMap((0.0, scale), (0.0, 1.0))
        child.calibration_ = replace(
            parent.calibration_,
            labels=child.labels,
            maps=(*parent.calibration_.maps, *(identity,) * added),
        )
    child.calibrated_threshold_ = parent.calibrated_threshold_
