"""Choosing what to label next: the texts whose human label would teach the model most.

Strategies, each deterministic for a seed:

* ``uncertainty``: texts with a label closest to the threshold h, on either side, so a
  reviewer's yes or no moves the boundary (calibrated energies: the distance is in
  the same units for every label);
* ``diverse``: among the 5 x N most uncertain, N spread over the energy space by
  greedy farthest-point selection, so the batch does not hold N near-copies;
* ``random``: a seeded random sample, the baseline every strategy must beat.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eqn.errors import InputError

if TYPE_CHECKING:
    from eqn.model.inference import InferenceModel

STRATEGIES = ("uncertainty", "diverse", "random")
# Chosen by the review-loop simulation's rule, written before its runs
# (benchmarks/loop_simulation.md; results/loop_simulation.md).
DEFAULT_STRATEGY = "diverse"
DIVERSE_POOL = 5  # the diverse strategy spreads N texts over the 5N most uncertain


@dataclass(frozen=True)
class Selection:
    """The chosen texts: their positions in the pool, best first, and each one's score
    (the uncertainty: the smallest distance of a label's energy to h). ``uncertainty``
    orders by it, lowest first; ``diverse`` by spread among the 5N most uncertain, so its
    scores need not rise; ``random`` at random."""

    indices: np.ndarray
    scores: np.ndarray
    strategy: str


def uncertainty(energies: np.ndarray, threshold: float) -> np.ndarray:
    """Per text, the smallest distance between any label's energy and the threshold."""
    return np.abs(np.asarray(energies, dtype=np.float64) - threshold).min(axis=1)


def _farthest_points(points: np.ndarray, n: int) -> list[int]:
    """Greedy farthest-point order, starting from the first (most uncertain) point."""
    chosen = [0]
    distance = np.linalg.norm(points - points[0], axis=1)
    while len(chosen) < min(n, len(points)):
        following = int(np.argmax(distance))
        chosen.append(following)
        distance = np.minimum(distance, np.linalg.norm(points - points[following], axis=1))
    return chosen


def _check_choice(n: int, strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise InputError(
            f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}",
            parameter="strategy",
        )
    if isinstance(n, bool) or n < 1:
        raise InputError(f"n must be at least 1, got {n!r}", parameter="n")


def check_selection(
    pool: str | os.PathLike[str],
    output: str | os.PathLike[str],
    n: int,
    strategy: str = DEFAULT_STRATEGY,
    exclude: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> None:
    """What :func:`select_file` refuses before any work (so a caller may check before it
    loads a model): a bad ``n`` or strategy, a missing pool or exclude file, an output
    that is the pool or already exists."""
    from eqn.errors import OutputExistsError

    _check_choice(n, strategy)
    source, target = Path(pool), Path(output)
    for path, parameter in ((source, "pool"), (exclude, "exclude")):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{path} does not exist or is not a file", parameter=parameter)
    if target.resolve() == source.resolve():
        raise OutputExistsError(f"{target} is the pool itself; write elsewhere", parameter="output")
    if target.exists() and not force:
        raise OutputExistsError(f"{target} already exists; pass force=True", parameter="force")


def select_texts(
    model: InferenceModel,
    texts: Sequence[Any],
    n: int,
    strategy: str = DEFAULT_STRATEGY,
    seed: int = 0,
    exclude: Sequence[int] = (),
    batch_size: int | None = None,
) -> Selection:
    """Pick ``n`` of ``texts`` to label next (positions ``exclude`` never; empty texts
    never). Uses the model's calibrated energies and its tuned h."""
    _check_choice(n, strategy)
    scored = model.score(texts, batch_size)
    h = model.threshold_for(calibrated=scored.calibrated)
    candidates = np.setdiff1d(np.flatnonzero(~scored.empty), np.asarray(exclude, dtype=int))
    if strategy == "random":
        order = np.random.default_rng(seed).permutation(candidates)[:n]
        return Selection(order, uncertainty(scored.energies[order], h), strategy)
    margin = uncertainty(scored.energies[candidates], h)
    # Ties (same distance) go to the earlier text: stable, so runs repeat.
    ranked = candidates[np.argsort(margin, kind="stable")]
    if strategy == "diverse":
        pool = ranked[: n * DIVERSE_POOL]
        ranked = pool[_farthest_points(scored.energies[pool], n)]
    chosen = ranked[:n]
    return Selection(chosen, uncertainty(scored.energies[chosen], h), strategy)


def labelled_texts(export: str | os.PathLike[str]) -> set[str]:
    """The annotated texts of a Label Studio or Argilla export or a ratings table (to
    skip them)."""
    from eqn.data.annotations import read_annotations

    return set(read_annotations(Path(export)).texts)


def select_file(
    model: InferenceModel,
    pool: str | os.PathLike[str],
    output: str | os.PathLike[str],
    n: int,
    strategy: str = DEFAULT_STRATEGY,
    seed: int = 0,
    text_col: str = "text",
    exclude: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    force: bool = False,
) -> Selection:
    """Choose ``n`` rows of the file ``pool`` and write them, annotated, to ``output``:
    the pool's columns, the annotation's, then ``eqn_select_rank`` (1 = first to
    label) and ``eqn_select_uncertainty``. ``exclude``: annotations (any format) whose
    texts are skipped. ``fmt`` label-studio writes tasks with the rank in each
    prediction's ``meta``."""
    import json

    import pandas as pd

    from eqn.annotation.engines import annotate_chunk
    from eqn.annotation.files import output_format
    from eqn.annotation.options import AnnotateOptions
    from eqn.annotation.writers import write_frame
    from eqn.data.chunks import iter_chunks
    from eqn.data.formats import ANNOTATION_FORMATS, MISSING, OUTPUT_FORMATS, detect_format
    from eqn.io import atomic_write

    check_selection(pool, output, n, strategy, exclude, force)
    source, target = Path(pool), Path(output)
    in_fmt = detect_format(source, allowed=ANNOTATION_FORMATS)
    out_fmt = (
        output_format(in_fmt, fmt, target) if fmt else detect_format(target, None, OUTPUT_FORMATS)
    )
    frame = pd.concat(list(iter_chunks(source, in_fmt, 4096)), ignore_index=True)
    if text_col not in frame.columns:
        from eqn.data.formats import missing_column_error

        raise missing_column_error(text_col, frame.columns, source, "text_col")
    texts = [None if v is MISSING else v for v in frame[text_col]]
    skip = labelled_texts(exclude) if exclude else set()
    excluded = [i for i, text in enumerate(texts) if isinstance(text, str) and text in skip]
    chosen = select_texts(model, texts, n, strategy, seed, excluded)
    rows = frame.iloc[chosen.indices].reset_index(drop=True)
    annotated, _ = annotate_chunk(model, rows, source, AnnotateOptions(text_col=text_col))
    annotated["eqn_select_rank"] = np.arange(1, len(rows) + 1)
    annotated["eqn_select_uncertainty"] = np.round(chosen.scores, 4)
    if out_fmt == "label-studio":
        from eqn.annotation.label_studio import tasks

        version = f"eqn {model.model_hash}"
        found = tasks(annotated, text_col, list(rows.columns), version, model.config.max_energy)
        for rank, (task, score) in enumerate(zip(found, chosen.scores, strict=True), start=1):
            task["predictions"][0]["meta"] = {
                "select_rank": rank,
                "select_uncertainty": round(float(score), 4),
                "strategy": strategy,
            }
        with atomic_write(target, "w", encoding="utf-8") as stream:
            json.dump(found, stream, ensure_ascii=False, indent=1)
    else:
        write_frame(annotated, target, out_fmt)
    return chosen
