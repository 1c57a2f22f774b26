"""Annotation of files and folders: streamed in chunks, resumable, written atomically.

Files stream in chunks, so memory stays flat on any input size. Each finished
chunk is written as its own part file in a hidden staging folder beside the
output, with a manifest; ``resume`` continues after the last finished part. The
parts are joined and renamed into place only at the end, so an interrupted run
never leaves a partial output under the final name.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from eqn.annotation.texts import AnnotationSummary, annotate_texts
from eqn.data.readers import (
    ANNOTATION_FORMATS,
    OUTPUT_FORMATS,
    SUFFIX_FORMATS,
    count_rows,
    detect_format,
    iter_chunks,
    missing_column_error,
)
from eqn.errors import InputError, Interrupted, LimitError, OutputExistsError
from eqn.io import atomic_write
from eqn.logs import progress_bar

if TYPE_CHECKING:
    from eqn.model.inference import InferenceModel

logger = logging.getLogger(__name__)

OUTPUT_TAG = ".eqn"
DEFAULT_CHUNK_ROWS = 4096
MANIFEST = "manifest.json"


def output_format(
    input_format: str, fmt: str | None = None, output: str | os.PathLike[str] | None = None
) -> str:
    """``fmt`` if given, else the output's suffix, else the input's (CSV for plain text)."""
    if fmt is not None:
        return detect_format(Path("output"), fmt, allowed=OUTPUT_FORMATS)
    suffix = SUFFIX_FORMATS.get(Path(output).suffix.lower()) if output is not None else None
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


def write_frame(frame: pd.DataFrame, path: Path, fmt: str, header: bool = True) -> None:
    """Write ``frame`` atomically as csv, tsv, jsonl or parquet (``header``: csv/tsv only).

    ``label-studio`` parts are one task (JSON) a line; :func:`_join_parts` makes the array.
    """
    with atomic_write(path, "wb") as stream:
        if fmt == "label-studio":
            stream.write("".join(line + "\n" for line in frame["task"]).encode())
        elif fmt == "parquet":
            _parquet_ready(frame).to_parquet(stream, index=False)
        elif fmt == "jsonl":
            stream.write("".join(_json_lines(frame)).encode())
        else:
            separator = "\t" if fmt == "tsv" else ","
            stream.write(frame.to_csv(index=False, header=header, sep=separator).encode())


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """One JSON object a line, by the json module: keys and values exactly as held
    (pandas' writer cuts names at a NUL byte); NaN becomes null."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value != value:
            return None
        return value.item() if hasattr(value, "item") else value

    columns = [str(c) for c in frame.columns]
    return [
        json.dumps(dict(zip(columns, map(plain, row), strict=True)), ensure_ascii=False) + "\n"
        for row in frame.itertuples(index=False, name=None)
    ]


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns (JSON values of mixed types) as text, so Parquet has one type per column."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = [
                None if v is None else v if isinstance(v, str) else json.dumps(v)
                for v in out[column]
            ]
    return out


def _join_parts(
    parts: Sequence[Path],
    part_columns: Sequence[Sequence[str]],
    columns: Sequence[str],
    target: Path,
    fmt: str,
    provenance: dict[str, Any] | None = None,
) -> None:
    """Concatenate finished parts into ``target`` atomically, part by part.

    ``columns`` is the union of every part's columns, in first-seen order: a part
    that lacks one gets it empty, so no value ever lands under another column.
    Parquet output carries ``provenance`` (model, hash, eqn version, calibration,
    threshold) in its schema metadata under the key ``eqn``.
    """
    if fmt == "parquet":
        _join_parquet(parts, columns, target, provenance)
        return
    if fmt == "label-studio":
        with atomic_write(target, "wb") as stream:
            stream.write(b"[")
            first = True
            for part in parts:
                with part.open("rb") as source:
                    for line in source:
                        stream.write((b"\n" if first else b",\n") + line.rstrip(b"\n"))
                        first = False
            stream.write(b"\n]\n")
        return
    separator = "\t" if fmt == "tsv" else ","
    with atomic_write(target, "wb") as stream:
        if fmt in ("csv", "tsv"):
            header = pd.DataFrame(columns=list(columns)).to_csv(index=False, sep=separator)
            stream.write(header.encode())
        for part, own in zip(parts, part_columns, strict=True):
            if fmt == "jsonl" or list(own) == list(columns):
                with part.open("rb") as source:
                    shutil.copyfileobj(source, stream)
                continue
            frame = pd.read_csv(
                part,
                sep=separator,
                header=None,
                names=list(own),
                dtype=str,
                keep_default_na=False,
                na_values=[],
            ).reindex(columns=list(columns), fill_value="")
            stream.write(frame.to_csv(index=False, header=False, sep=separator).encode())


def _join_parquet(
    parts: Sequence[Path], columns: Sequence[str], target: Path, provenance: dict[str, Any] | None
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(part) for part in parts]
    fields: dict[str, pa.DataType] = {}
    for schema in schemas:
        for field in schema:
            known = fields.get(field.name)
            # The same column with two types across parts becomes text.
            fields[field.name] = field.type if known in (None, field.type) else pa.string()
    schema = pa.schema([(c, fields.get(c, pa.string())) for c in columns]).with_metadata(
        {b"eqn": json.dumps(provenance or {}).encode()}
    )
    with atomic_write(target, "wb") as stream:
        writer = pq.ParquetWriter(stream, schema)
        for part in parts:
            table = pq.read_table(part)
            arrays = []
            for field in schema:
                if field.name in table.column_names:
                    column = table.column(field.name)
                    if column.type != field.type and pa.types.is_string(field.type):
                        column = pa.array(
                            [None if v is None else str(v) for v in column.to_pylist()],
                            pa.string(),
                        )
                    arrays.append(column.cast(field.type))
                else:
                    arrays.append(pa.nulls(table.num_rows, field.type))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        writer.close()


def _signature(path: Path, options: dict[str, Any]) -> dict[str, Any]:
    stat = path.stat()
    return {"input": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, **options}


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    with atomic_write(path, "w", encoding="utf-8") as stream:
        json.dump(manifest, stream)


def _check_text_column(
    source: Path, fmt: str, text_col: str, encoding: str, sep: str | None = None
) -> None:
    """Fail on a missing text column before anything else, from the first rows alone."""
    for chunk in iter_chunks(source, fmt, chunk_rows=64, encoding=encoding, sep=sep):
        if text_col not in chunk.columns:
            raise missing_column_error(text_col, chunk.columns, source, "text_col")
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


def _annotate_chunk(
    model: InferenceModel,
    chunk: pd.DataFrame,
    source: Path,
    text_col: str,
    threshold: float,
    raw: bool,
    calibrated: bool,
    batch_size: int | None = None,
) -> tuple[pd.DataFrame, AnnotationSummary]:
    """The chunk's own columns, then the annotation's (renamed ``eqn_*`` on a clash)."""
    if text_col not in chunk.columns:
        raise missing_column_error(text_col, chunk.columns, source, "text_col")
    batch = annotate_texts(
        model, chunk[text_col].tolist(), threshold, raw, batch_size, calibrated=calibrated
    )
    annotated = chunk.reset_index(drop=True)
    extra = batch.frame().drop(columns=["text"])
    clashes = [c for c in extra.columns if c in annotated.columns]
    if clashes:
        extra = extra.rename(columns={c: f"eqn_{c}" for c in clashes})
    return pd.concat([annotated, extra], axis=1), AnnotationSummary.of(batch)


class LocalEngine:
    """Annotates chunks in this process, one after another (the default engine).

    An engine maps a file's chunks to ``(chunk, annotated, summary)`` in input
    order; :class:`eqn.annotation.ray_engine.RayEngine` does the same on a Ray
    cluster. Reading, resuming and writing stay with :func:`annotate_file`.
    """

    def __init__(self, model: InferenceModel) -> None:
        self.model = model

    def map(
        self, chunks: Iterable[pd.DataFrame], source: Path, **options: Any
    ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, AnnotationSummary]]:
        for chunk in chunks:
            yield (chunk, *_annotate_chunk(self.model, chunk, source, **options))

    def close(self) -> None:
        """Nothing to release here."""


def _limited(
    chunks: Iterable[pd.DataFrame], source: Path, done: int, max_rows: int | None
) -> Iterator[pd.DataFrame]:
    """The chunks, refusing a file with more than ``max_rows`` rows before annotating it."""
    rows = done
    for chunk in chunks:
        rows += len(chunk)
        if max_rows is not None and rows > max_rows:
            raise LimitError(
                f"{source} has more than {max_rows} rows, the limit here; split it",
                parameter="max_rows",
            )
        yield chunk


def annotate_file(
    model: InferenceModel,
    path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    text_col: str = "text",
    threshold: float | None = None,
    raw: bool = False,
    fmt: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    resume: bool = False,
    in_place: bool = False,
    force: bool = False,
    progress: bool = True,
    calibrated: bool = True,
    encoding: str = "utf-8",
    max_rows: int | None = None,
    sep: str | None = None,
    batch_size: int | None = None,
    engine: LocalEngine | None = None,
) -> AnnotationSummary:
    """Annotate one file, chunk by chunk, into ``output`` (default: ``NAME.eqn.FORMAT``).

    The output keeps the input's columns (the union over the file, values exactly
    as read), then one energy column per label, ``macro_emotion``,
    ``micro_emotions`` and ``eqn_flag``. Its format is ``fmt``, else that of the
    output's suffix, else the input's. ``output="-"`` writes to standard output.
    The input is never overwritten unless ``in_place``.
    """
    if output is not None and str(output) == "-":
        return _annotate_to_stdout(
            model,
            path,
            text_col,
            threshold,
            raw,
            fmt,
            chunk_rows,
            progress,
            calibrated,
            encoding,
        )
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source} does not exist")
    calibrated = calibrated and model.is_calibrated
    threshold = model.resolve_threshold(threshold, calibrated)
    provenance = model.provenance(calibrated, threshold)
    in_fmt = detect_format(source, allowed=ANNOTATION_FORMATS)
    _check_text_column(source, in_fmt, text_col, encoding, sep)
    out_fmt = output_format(in_fmt, fmt, None if in_place else output)
    if in_place:
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
        if target.exists() and not force:
            raise OutputExistsError(
                f"{target} already exists; pass force=True to replace it", parameter="force"
            )
    staging = target.with_name(f".{target.name}.parts")
    options = {
        "text_col": text_col,
        "threshold": threshold,
        "calibrated": calibrated,
        "model_hash": provenance["model_hash"],
        "runtime": provenance["runtime"],
        "raw": raw,
        "format": out_fmt,
        "chunk_rows": chunk_rows,
        "encoding": encoding,
        "sep": sep,
        "labels": list(model.labels),
    }
    signature = _signature(source, options)
    manifest_path = staging / MANIFEST
    manifest: dict[str, Any] = {
        "signature": signature,
        "parts": [],
        "rows": 0,
        "summary": asdict(AnnotationSummary()),
    }
    if resume and manifest_path.is_file():
        saved = json.loads(manifest_path.read_text(encoding="utf-8"))
        if saved["signature"] != signature:
            raise InputError(
                f"cannot resume into {target}: the input or the options changed since the "
                "interrupted run; start again with resume=False",
                parameter="resume",
            )
        manifest = saved
        logger.info("resuming %s after %d rows", source, manifest["rows"])
    else:
        _refuse_to_discard(manifest_path, force)
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    _write_manifest(manifest_path, manifest)

    summary = AnnotationSummary(**{**manifest["summary"], "seconds": 0.0})
    summary.outputs = []
    started = time.perf_counter()
    manifest.setdefault("part_columns", [])
    chunks = _limited(
        iter_chunks(source, in_fmt, chunk_rows, manifest["rows"], encoding, sep),
        source,
        manifest["rows"],
        max_rows,
    )
    engine = engine or LocalEngine(model)
    options = {
        "text_col": text_col,
        "threshold": threshold,
        "raw": raw,
        "calibrated": calibrated,
        "batch_size": batch_size,
    }
    try:
        with progress_bar(
            total=count_rows(source, in_fmt) if progress else None,
            desc=source.name,
            unit="rows",
            initial=manifest["rows"],
            enabled=progress,
        ) as bar:
            for chunk, annotated, chunk_summary in engine.map(chunks, source, **options):
                if out_fmt == "label-studio":
                    annotated = _as_tasks(annotated, chunk, text_col, model, provenance)
                part = staging / f"part-{len(manifest['parts']):06d}.{out_fmt}"
                write_frame(annotated, part, out_fmt, header=False)
                summary.add(chunk_summary)
                manifest["parts"].append(part.name)
                manifest["part_columns"].append([str(c) for c in annotated.columns])
                manifest["rows"] += len(chunk)
                manifest["summary"] = {**asdict(summary), "outputs": []}
                _write_manifest(manifest_path, manifest)
                bar.update(len(chunk))
    except KeyboardInterrupt:
        if not manifest["parts"]:  # nothing worth resuming: leave no trace
            shutil.rmtree(staging, ignore_errors=True)
            raise
        raise Interrupted(manifest["rows"], str(staging)) from None
    except BaseException:
        if not manifest["parts"]:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if not manifest["parts"]:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(f"{source} has a header but no rows to annotate")
    # The union of the parts' columns, in first-seen order; annotation columns last.
    own = list(dict.fromkeys(c for cols in manifest["part_columns"] for c in cols))
    added = [c for c in own if c in set(manifest["part_columns"][0][-len(model.labels) - 3 :])]
    columns = [c for c in own if c not in added] + added
    _join_parts(
        [staging / p for p in manifest["parts"]],
        manifest["part_columns"],
        columns,
        target,
        out_fmt,
        provenance,
    )
    shutil.rmtree(staging, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    summary.outputs = [str(target)]
    summary.provenance = provenance
    logger.info("%s -> %s: %s", source, target, summary.line())
    return summary


def _annotate_to_stdout(
    model: InferenceModel,
    path: str | os.PathLike[str],
    text_col: str,
    threshold: float | None,
    raw: bool,
    fmt: str | None,
    chunk_rows: int,
    progress: bool,
    calibrated: bool,
    encoding: str,
) -> AnnotationSummary:
    """Annotate into a temporary file, then copy it to standard output."""
    import sys
    import tempfile

    source = Path(path)
    out_fmt = output_format(detect_format(source, allowed=ANNOTATION_FORMATS), fmt)
    with tempfile.TemporaryDirectory(prefix="eqn-") as folder:
        target = Path(folder) / f"out.{out_fmt}"
        summary = annotate_file(
            model,
            source,
            target,
            text_col,
            threshold,
            raw,
            out_fmt,
            chunk_rows,
            progress=progress,
            calibrated=calibrated,
            encoding=encoding,
        )
        with target.open("rb") as stream:
            shutil.copyfileobj(stream, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    summary.outputs = ["-"]
    return summary


def annotate_paths(
    model: InferenceModel,
    paths: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    **options: Any,
) -> AnnotationSummary:
    """Annotate files or folders of files; with several, ``output`` is a folder.

    With several files, one that cannot be annotated does not stop the others: it
    is listed in ``failed`` with its error. With ``resume``, files whose output is
    already complete are skipped.
    """
    files = expand_inputs(paths)
    several = len(files) > 1 or any(Path(p).is_dir() for p in paths)
    total = AnnotationSummary()
    started = time.perf_counter()
    for file in files:
        fmt = output_format(detect_format(file, allowed=ANNOTATION_FORMATS), options.get("fmt"))
        if output is None:
            target = default_output(file, fmt)
        elif several:
            Path(output).mkdir(parents=True, exist_ok=True)
            target = Path(output) / default_output(file, fmt).name
        else:
            target = Path(output)
        staging = target.with_name(f".{target.name}.parts")
        if options.get("resume") and target.is_file() and not staging.exists():
            logger.info("%s is complete: skipped", target)
            total.skipped.append(str(target))
            continue
        try:
            total.add(annotate_file(model, file, None if output is None else target, **options))
        except (InputError, OutputExistsError) as error:
            if not several:
                raise
            total.failed.append(f"{file}: {error}")
    total.seconds = time.perf_counter() - started
    return total
