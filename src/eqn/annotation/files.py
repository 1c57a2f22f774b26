"""Annotation of files and folders: streamed in chunks, resumable, written atomically.

Files stream in chunks, so memory stays flat on any input size. Each finished
chunk is written as its own part file in a hidden staging folder beside the
output, with a manifest; ``resume`` continues after the last finished part. The
parts are joined and renamed into place only at the end, so an interrupted run
never leaves a partial output under the final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from eqn.annotation.engines import Engine, FileEngine, LocalEngine
from eqn.annotation.options import AnnotateOptions, with_changes
from eqn.annotation.texts import AnnotationSummary
from eqn.annotation.writers import join_parts, write_frame
from eqn.data.chunks import count_rows, iter_chunks
from eqn.data.formats import (
    ANNOTATION_FORMATS,
    OUTPUT_FORMATS,
    SUFFIX_FORMATS,
    detect_format,
    missing_column_error,
)
from eqn.errors import InputError, Interrupted, LimitError, OutputExistsError
from eqn.io import atomic_write, eqn_home
from eqn.logs import progress_bar

if TYPE_CHECKING:
    from eqn.model.inference import InferenceModel

logger = logging.getLogger(__name__)

OUTPUT_TAG = ".eqn"
MANIFEST = "manifest.json"


def output_format(
    input_format: str, fmt: str | None = None, output: str | os.PathLike[str] | None = None
) -> str:
    """``fmt`` if given, else the output's suffix, else the input's (CSV for plain text).
    A format given that the output's suffix contradicts is written as asked, with a
    warning (``-o picked.csv --format jsonl`` is more likely a slip than a wish)."""
    suffix = SUFFIX_FORMATS.get(Path(output).suffix.lower()) if output is not None else None
    if fmt is not None:
        chosen = detect_format(Path("output"), fmt, allowed=OUTPUT_FORMATS)
        says = "label-studio" if str(output).lower().endswith(".json") else suffix
        if says in OUTPUT_FORMATS and says != chosen:
            logger.warning(
                "%s: written as %s, as asked, though its name says %s", output, chosen, says
            )
        return chosen
    if suffix in OUTPUT_FORMATS:
        return suffix
    return input_format if input_format in OUTPUT_FORMATS else "csv"


def default_output(path: Path, fmt: str) -> Path:
    """``reviews.csv`` -> ``reviews.eqn.csv`` (in the output format's suffix)."""
    suffix = "json" if fmt == "label-studio" else fmt
    return path.with_name(f"{path.stem}{OUTPUT_TAG}.{suffix}")


def expand_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given; a folder stands for its supported files (not earlier outputs)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and SUFFIX_FORMATS.get(p.suffix.lower()) in ANNOTATION_FORMATS
                and not p.stem.endswith(OUTPUT_TAG)
            )
            if not found:
                raise InputError(f"{path} holds no .csv, .tsv, .jsonl or .parquet file to annotate")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path} does not exist")
    return files


def _signature(path: Path, options: dict[str, Any]) -> dict[str, Any]:
    """What an output is made from: the input's content (a hash: this reads the whole
    file once) and every option that changes the output."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return {"input": str(path.resolve()), "sha256": digest.hexdigest(), **options}


def finished_marker(target: Path) -> Path:
    """Where eqn records what a finished output was made from: in its cache
    (``$EQN_HOME/finished/``), keyed by the output's path, so output folders hold
    only outputs."""
    key = hashlib.sha256(str(target.resolve()).encode("utf-8")).hexdigest()[:32]
    return eqn_home() / "finished" / f"{key}.json"


def _is_finished(target: Path) -> bool:
    return target.is_file() and not staging_folder(target).exists()


def _check_finished(plan: OutputPlan, signature: dict[str, Any]) -> AnnotationSummary:
    """With resume, a finished output is skipped only if the same input and options made it."""
    marker = finished_marker(plan.target)
    try:
        made_from = json.loads(marker.read_text(encoding="utf-8"))["signature"]
    except (OSError, ValueError, KeyError, TypeError):
        made_from = None
    if made_from == signature:
        logger.info("%s is complete: skipped", plan.target)
        return AnnotationSummary(skipped=[str(plan.target)])
    changed = (
        ["nothing records what it was made from"]
        if not isinstance(made_from, dict)
        else [
            "the input's content" if key == "sha256" else key
            for key in signature
            if made_from.get(key) != signature[key]
        ]
    )
    raise OutputExistsError(
        f"{plan.target} is complete, but not from this input and these options "
        f"({', '.join(changed)}); run again with force=True and resume=False to redo it",
        parameter="force",
    )


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    with atomic_write(path, "w", encoding="utf-8") as stream:
        json.dump(manifest, stream)


def _check_text_column(source: Path, fmt: str, options: AnnotateOptions) -> None:
    """Fail on a missing text column before anything else, from the first rows alone."""
    chunks = iter_chunks(source, fmt, chunk_rows=64, encoding=options.encoding, sep=options.sep)
    for chunk in chunks:
        if options.text_col not in chunk.columns:
            raise missing_column_error(options.text_col, chunk.columns, source, "text_col")
        return


def _as_tasks(
    annotated: pd.DataFrame,
    chunk: pd.DataFrame,
    text_col: str,
    model: InferenceModel,
    provenance: dict[str, Any],
) -> pd.DataFrame:
    from eqn.annotation.label_studio import tasks

    version = f"eqn {provenance['eqn_version']} {provenance['model_hash']}"
    rows = tasks(annotated, text_col, list(chunk.columns), version, model.config.max_energy)
    return pd.DataFrame({"task": [json.dumps(t, ensure_ascii=False) for t in rows]})


def _refuse_to_discard(manifest_path: Path, force: bool) -> None:
    """A run that is not resumed must not silently throw away an interrupted run's rows."""
    if force or not manifest_path.is_file():
        return
    try:
        rows = int(json.loads(manifest_path.read_text(encoding="utf-8")).get("rows", 0))
    except (OSError, ValueError):
        return
    if rows:
        raise OutputExistsError(
            f"an interrupted run left {rows} finished rows in {manifest_path.parent}; pass "
            "resume=True to continue it, or force=True to start again",
            parameter="resume",
        )


def _check_row_limit(plan: OutputPlan) -> None:
    """Refuse a file with more than ``max_rows`` rows before annotating any of it: the
    rows are counted by parsing the file (quoted line breaks included), which costs
    little next to the model."""
    options = plan.options
    if options.max_rows is None:
        return
    rows = 0
    for chunk in iter_chunks(
        plan.source, plan.in_fmt, options.chunk_rows, 0, options.encoding, options.sep
    ):
        rows += len(chunk)
        if rows > options.max_rows:
            raise LimitError(
                f"{plan.source} has more than {options.max_rows} rows, the limit here; split it",
                parameter="max_rows",
            )


def staging_folder(target: Path) -> Path:
    """The hidden folder beside ``target`` where an unfinished run keeps its parts."""
    return target.with_name(f".{target.name}.parts")


@dataclass(frozen=True)
class OutputPlan:
    """Where one file's annotation goes, in which format, with which resolved options."""

    source: Path
    target: Path
    in_fmt: str
    out_fmt: str
    options: AnnotateOptions  # threshold resolved, calibrated only if the model can be
    provenance: dict[str, Any]

    @property
    def staging(self) -> Path:
        return staging_folder(self.target)


def _check_output_path(target: Path) -> None:
    """An output is written beside itself and renamed into place, so it must be a file:
    a folder, a device or a FIFO at that path is refused, never replaced."""
    if target.is_dir():
        raise OutputExistsError(
            f"{target} is a folder; name an output file inside it (a folder output is for "
            "several inputs)",
            parameter="output",
        )
    if target.exists() and not target.is_file():
        raise OutputExistsError(
            f"{target} is not a regular file (a device or a FIFO), and eqn never replaces one; "
            "write to a file, or to standard output with output='-'",
            parameter="output",
        )


def plan_output(
    model: InferenceModel,
    source: Path,
    output: str | os.PathLike[str] | None,
    options: AnnotateOptions,
) -> OutputPlan:
    """Check the input, the text column and the output path; resolve threshold and format."""
    if not source.is_file():
        raise InputError(f"{source} does not exist")
    calibrated = options.calibrated and model.is_calibrated
    threshold = model.resolve_threshold(options.threshold, calibrated)
    resolved = options.replace(threshold=threshold, calibrated=calibrated)
    in_fmt = detect_format(source, allowed=ANNOTATION_FORMATS)
    _check_text_column(source, in_fmt, resolved)
    out_fmt = output_format(in_fmt, options.fmt, None if options.in_place else output)
    if options.in_place:
        if out_fmt != in_fmt:
            raise InputError(
                f"{source} is {in_fmt}, which annotations cannot be written as; choose an "
                "output file instead of in_place=True",
                parameter="in_place",
            )
        target = source
    else:
        target = Path(output) if output is not None else default_output(source, out_fmt)
        if target.resolve() == source.resolve():
            raise OutputExistsError(
                f"{target} is the input file; pass in_place=True to replace it, "
                "or choose another output",
                parameter="in_place",
            )
        _check_output_path(target)
        if target.exists() and not options.force and not (options.resume and _is_finished(target)):
            raise OutputExistsError(
                f"{target} already exists; pass force=True to replace it", parameter="force"
            )
    provenance = model.provenance(calibrated, threshold)
    return OutputPlan(source, target, in_fmt, out_fmt, resolved, provenance)


def _run_signature(model: InferenceModel, plan: OutputPlan) -> dict[str, Any]:
    options = plan.options
    what = {
        "text_col": options.text_col,
        "threshold": options.threshold,
        "calibrated": options.calibrated,
        "model_hash": plan.provenance["model_hash"],
        "runtime": plan.provenance["runtime"],
        "precision": plan.provenance.get("precision", "fp32"),
        "raw": options.raw,
        "format": plan.out_fmt,
        "chunk_rows": options.chunk_rows,
        "encoding": options.encoding,
        "sep": options.sep,
        "labels": list(model.labels),
    }
    return _signature(plan.source, what)


def _open_staging(plan: OutputPlan, signature: dict[str, Any]) -> dict[str, Any]:
    """The manifest of the staging folder: a new one, or the interrupted run's to resume."""
    options = plan.options
    manifest_path = plan.staging / MANIFEST
    manifest: dict[str, Any] = {
        "signature": signature,
        "parts": [],
        "part_columns": [],
        "rows": 0,
        "summary": asdict(AnnotationSummary()),
    }
    if options.resume and manifest_path.is_file():
        saved = json.loads(manifest_path.read_text(encoding="utf-8"))
        if saved["signature"] != signature:
            raise InputError(
                f"cannot resume into {plan.target}: the input or the options changed since the "
                "interrupted run; start again with resume=False",
                parameter="resume",
            )
        manifest = {**saved, "part_columns": saved.get("part_columns", [])}
        logger.info("resuming %s after %d rows", plan.source, manifest["rows"])
    else:
        _refuse_to_discard(manifest_path, options.force)
        shutil.rmtree(plan.staging, ignore_errors=True)
    plan.staging.mkdir(parents=True, exist_ok=True)
    _write_manifest(manifest_path, manifest)
    return manifest


def _run_chunks(
    model: InferenceModel, plan: OutputPlan, manifest: dict[str, Any], engine: Engine
) -> AnnotationSummary:
    """Annotate the chunks not done yet, each written as a part and recorded in the manifest."""
    options, staging = plan.options, plan.staging
    summary = AnnotationSummary(**{**manifest["summary"], "seconds": 0.0})
    summary.outputs = []
    chunks = iter_chunks(
        plan.source,
        plan.in_fmt,
        options.chunk_rows,
        manifest["rows"],
        options.encoding,
        options.sep,
    )
    bar_total = count_rows(plan.source, plan.in_fmt) if options.progress else None
    with progress_bar(
        total=bar_total,
        desc=plan.source.name,
        unit="rows",
        initial=manifest["rows"],
        enabled=options.progress,
    ) as bar:
        for chunk, annotated, chunk_summary in engine.map(chunks, plan.source, options):
            if plan.out_fmt == "label-studio":
                annotated = _as_tasks(annotated, chunk, options.text_col, model, plan.provenance)
            part = staging / f"part-{len(manifest['parts']):06d}.{plan.out_fmt}"
            write_frame(annotated, part, plan.out_fmt, header=False)
            summary.add(chunk_summary)
            manifest["parts"].append(part.name)
            manifest["part_columns"].append([str(c) for c in annotated.columns])
            manifest["rows"] += len(chunk)
            manifest["summary"] = {**asdict(summary), "outputs": []}
            _write_manifest(staging / MANIFEST, manifest)
            bar.update(len(chunk))
    return summary


def _finish(model: InferenceModel, plan: OutputPlan, manifest: dict[str, Any]) -> None:
    """Join the parts into the output (atomically) and remove the staging folder."""
    staging = plan.staging
    if not manifest["parts"]:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(f"{plan.source} has a header but no rows to annotate")
    # The union of the parts' columns, in first-seen order; annotation columns last.
    part_columns = manifest["part_columns"]
    own = list(dict.fromkeys(c for cols in part_columns for c in cols))
    added = [c for c in own if c in set(part_columns[0][-len(model.labels) - 3 :])]
    columns = [c for c in own if c not in added] + added
    join_parts(
        [staging / p for p in manifest["parts"]],
        part_columns,
        columns,
        plan.target,
        plan.out_fmt,
        plan.provenance,
    )
    shutil.rmtree(staging, ignore_errors=True)


def annotate_file(
    model: InferenceModel,
    path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    options: AnnotateOptions | None = None,
    *,
    engine: Engine | FileEngine | None = None,
    **changes: Any,
) -> AnnotationSummary:
    """Annotate one file, chunk by chunk, into ``output`` (default: ``NAME.eqn.FORMAT``).

    ``options`` is an :class:`AnnotateOptions`; keyword ``changes`` (``text_col="body"``,
    ``threshold=3.0``, ...) replace its fields. The output keeps the input's columns
    (the union over the file, values exactly as read), then one energy column per
    label, ``macro_emotion``, ``micro_emotions`` and ``eqn_flag``. Its format is
    ``fmt``, else that of the output's suffix, else the input's. ``output="-"``
    writes to standard output. The input is never overwritten unless ``in_place``.
    """
    options = with_changes(options, changes)
    if output is not None and str(output) == "-":
        return _annotate_to_stdout(model, Path(path), options, engine)
    plan = plan_output(model, Path(path), output, options)
    if isinstance(engine, FileEngine):
        return engine.annotate_file(plan.source, plan.target, plan.options)
    signature = _run_signature(model, plan)
    if plan.options.resume and _is_finished(plan.target):
        return _check_finished(plan, signature)
    _check_row_limit(plan)
    manifest = _open_staging(plan, signature)
    started = time.perf_counter()
    try:
        summary = _run_chunks(model, plan, manifest, engine or LocalEngine(model))
    except KeyboardInterrupt:
        if not manifest["parts"]:  # nothing worth resuming: leave no trace
            shutil.rmtree(plan.staging, ignore_errors=True)
            raise
        raise Interrupted(manifest["rows"], str(plan.staging)) from None
    except BaseException:
        if not manifest["parts"]:
            shutil.rmtree(plan.staging, ignore_errors=True)
        raise
    _finish(model, plan, manifest)
    marker = finished_marker(plan.target)
    marker.parent.mkdir(parents=True, exist_ok=True)
    _write_manifest(marker, {"output": str(plan.target.resolve()), "signature": signature})
    summary.seconds = time.perf_counter() - started
    summary.outputs = [str(plan.target)]
    summary.provenance = plan.provenance
    logger.info("%s -> %s: %s", plan.source, plan.target, summary.line())
    return summary


def _annotate_to_stdout(
    model: InferenceModel,
    source: Path,
    options: AnnotateOptions,
    engine: Engine | FileEngine | None,
) -> AnnotationSummary:
    """Annotate into a temporary file with the same options, then copy it to standard output."""
    import sys
    import tempfile

    out_fmt = output_format(detect_format(source, allowed=ANNOTATION_FORMATS), options.fmt)
    with tempfile.TemporaryDirectory(prefix="eqn-") as folder:
        target = Path(folder) / f"out.{out_fmt}"
        once = options.replace(fmt=out_fmt, resume=False, in_place=False, force=True)
        summary = annotate_file(model, source, target, once, engine=engine)
        with target.open("rb") as stream:
            shutil.copyfileobj(stream, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    summary.outputs = ["-"]
    return summary


def annotate_paths(
    model: InferenceModel,
    paths: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    options: AnnotateOptions | None = None,
    *,
    engine: Engine | FileEngine | None = None,
    **changes: Any,
) -> AnnotationSummary:
    """Annotate files or folders of files; with several, ``output`` is a folder.

    With several files, one that cannot be annotated does not stop the others: it
    is listed in ``failed`` with its error. With ``resume``, files whose output is
    already complete are skipped.
    """
    options = with_changes(options, changes)
    files = expand_inputs(paths)
    several = len(files) > 1 or any(Path(p).is_dir() for p in paths)

    def annotate_one(file: Path) -> AnnotationSummary:
        fmt = output_format(detect_format(file, allowed=ANNOTATION_FORMATS), options.fmt)
        if output is None:
            return annotate_file(model, file, None, options, engine=engine)
        if several:
            Path(output).mkdir(parents=True, exist_ok=True)
            target = Path(output) / default_output(file, fmt).name
        else:
            target = Path(output)
        return annotate_file(model, file, target, options, engine=engine)

    return AnnotationSummary.of_each(files, annotate_one, several)
