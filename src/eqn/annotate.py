"""Annotation of texts and files with micro-emotion energies (paper eq. 8).

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
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from eqn.data import DataError, missing_column_error
from eqn.io import atomic_write
from eqn.model import EQN, annotation_frame

logger = logging.getLogger(__name__)

Format = Literal["csv", "tsv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "parquet")
_SUFFIX_FORMAT = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
OUTPUT_TAG = ".eqn"
FLAG_COLUMN = "eqn_flag"
DEFAULT_CHUNK_ROWS = 4096
MANIFEST = "manifest.json"

DEFAULT_MODEL_NAME = "goemotions-minilm-eqn"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / DEFAULT_MODEL_NAME


def load(path: str | os.PathLike[str] | None = None) -> EQN:
    """Load a saved model; with no path, the default GoEmotions EQN model shipped with eqn."""
    target = Path(path) if path is not None else DEFAULT_MODEL_DIR
    if path is None and not (target / "config.json").is_file():
        raise FileNotFoundError(
            f"the default model is missing from {target}; reinstall eqn, or pass a model folder "
            "made by 'eqn train' (--model PATH)"
        )
    return EQN.load(target)


# ---------------------------------------------------------------------------
# In-memory annotation


@dataclass
class AnnotationSummary:
    """What an annotation run did, for the closing summary line."""

    rows: int = 0
    empty: int = 0
    truncated: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.rows} rows in {self.seconds:.1f}s ({self.rows_per_second:.0f} rows/s); "
            f"{self.empty} empty (all-zero energies, flagged), "
            f"{self.truncated} truncated to the model's length"
        )

    def add(self, other: AnnotationSummary) -> None:
        self.rows += other.rows
        self.empty += other.empty
        self.truncated += other.truncated
        self.outputs += other.outputs


def _max_length(model: EQN) -> int | None:
    return model.config.backbone_options.get("max_length")


def annotate_texts(
    model: EQN,
    texts: Sequence[Any],
    threshold: float | None = None,
    raw: bool = False,
    batch_size: int | None = None,
) -> tuple[pd.DataFrame, AnnotationSummary]:
    """Annotate texts; empty or missing ones get all-zero energies and a flag."""
    values = ["" if _is_missing(t) else str(t) for t in texts]
    empty = np.array([not v.strip() for v in values], dtype=bool)
    energies = np.zeros((len(values), len(model.labels)), dtype=np.float32)
    flags = np.array([""] * len(values), dtype=object)
    flags[empty] = "empty"
    keep = np.flatnonzero(~empty)
    truncated = 0
    if len(keep):
        backbone = model.model_.backbone
        kept_texts = [values[i] for i in keep]
        items = backbone.encode(kept_texts)
        limit = _max_length(model)
        if limit is not None:
            long = np.array([backbone.item_length(item) >= limit for item in items])
            flags[keep[long]] = "truncated"
            truncated = int(long.sum())
        from eqn.training import predict_energies

        lengths = [backbone.item_length(item) for item in items]
        energies[keep] = predict_energies(
            model.model_, items, lengths, batch_size or model.config.eval_batch_size
        )
    frame = annotation_frame(
        values, energies, model.labels, model.threshold_ if threshold is None else threshold, raw
    )
    frame.loc[empty, "macro_emotion"] = ""
    frame[FLAG_COLUMN] = flags
    return frame, AnnotationSummary(rows=len(values), empty=int(empty.sum()), truncated=truncated)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


# ---------------------------------------------------------------------------
# Files


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    found = _SUFFIX_FORMAT.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"cannot tell the format of {path} from its suffix; use .csv, .tsv, .jsonl or "
            ".parquet, or pass --format"
        )
    return found


def default_output(path: Path, fmt: str) -> Path:
    """``reviews.csv`` -> ``reviews.eqn.csv`` (in the output format's suffix)."""
    return path.with_name(f"{path.stem}{OUTPUT_TAG}.{fmt}")


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
                and p.suffix.lower() in _SUFFIX_FORMAT
                and not p.stem.endswith(OUTPUT_TAG)
            )
            if not found:
                raise DataError(f"{path} holds no .csv, .tsv, .jsonl or .parquet file to annotate")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path} does not exist")
    return files


def iter_chunks(
    path: Path, fmt: str, chunk_rows: int, skip_rows: int = 0
) -> Iterator[pd.DataFrame]:
    """The input as DataFrame chunks of strings, starting after ``skip_rows`` rows."""
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: it has no rows")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        seen = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            if seen + len(frame) <= skip_rows:
                seen += len(frame)
                continue
            yield frame.iloc[max(0, skip_rows - seen) :]
            seen += len(frame)
        return
    if fmt == "jsonl":
        reader = pd.read_json(path, lines=True, chunksize=chunk_rows, dtype=False)
    else:
        reader = pd.read_csv(
            path,
            sep="\t" if fmt == "tsv" else ",",
            chunksize=chunk_rows,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            encoding_errors="replace",
        )
    # Rows are skipped after parsing: a quoted field may span lines, so line
    # offsets would be wrong. Parsing is cheap next to the model.
    seen = 0
    try:
        for frame in reader:
            if seen + len(frame) <= skip_rows:
                seen += len(frame)
                continue
            yield frame.iloc[max(0, skip_rows - seen) :]
            seen += len(frame)
    except (pd.errors.ParserError, ValueError) as error:
        raise DataError(f"{path}: malformed input near row {seen + 1}: {error}") from None


def write_frame(frame: pd.DataFrame, path: Path, fmt: str, header: bool = True) -> None:
    """Write ``frame`` atomically as csv, tsv, jsonl or parquet (``header``: csv/tsv only)."""
    with atomic_write(path, "wb") as stream:
        if fmt == "parquet":
            frame.to_parquet(stream, index=False)
        elif fmt == "jsonl":
            stream.write(frame.to_json(orient="records", lines=True, force_ascii=False).encode())
        else:
            separator = "\t" if fmt == "tsv" else ","
            stream.write(frame.to_csv(index=False, header=header, sep=separator).encode())


def _join_parts(parts: Sequence[Path], columns: Sequence[str], target: Path, fmt: str) -> None:
    """Concatenate finished parts into ``target`` atomically, streaming part by part."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with atomic_write(target, "wb") as stream:
            writer = None
            for part in parts:
                table = pq.read_table(part)
                if writer is None:
                    writer = pq.ParquetWriter(stream, table.schema)
                writer.write_table(table.cast(writer.schema))
            if writer is None:
                empty = pa.table({c: pa.array([], pa.string()) for c in columns})
                writer = pq.ParquetWriter(stream, empty.schema)
            writer.close()
        return
    with atomic_write(target, "wb") as stream:
        if fmt in ("csv", "tsv"):
            header = pd.DataFrame(columns=list(columns)).to_csv(
                index=False, sep="\t" if fmt == "tsv" else ","
            )
            stream.write(header.encode())
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, stream)


def _signature(path: Path, options: dict[str, Any]) -> dict[str, Any]:
    stat = path.stat()
    return {"input": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, **options}


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    with atomic_write(path, "w", encoding="utf-8") as stream:
        json.dump(manifest, stream)


def annotate_file(
    model: EQN,
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
) -> AnnotationSummary:
    """Annotate one file, chunk by chunk, into ``output`` (default: ``NAME.eqn.FORMAT``).

    The output keeps the input's columns, then one energy column per label,
    ``macro_emotion``, ``micro_emotions`` and ``eqn_flag``. The input is never
    overwritten unless ``in_place``.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source} does not exist")
    in_fmt = detect_format(source)
    out_fmt = fmt or in_fmt
    detect_format(source, out_fmt)  # validates --format
    if in_place:
        target = source
        out_fmt = in_fmt
    else:
        target = Path(output) if output is not None else default_output(source, out_fmt)
        if target.resolve() == source.resolve():
            raise FileExistsError(
                f"{target} is the input file; pass --in-place to replace it, or choose -o"
            )
        if target.exists() and not force:
            raise FileExistsError(f"{target} already exists; pass --force to replace it")
    staging = target.with_name(f".{target.name}.parts")
    options = {
        "text_col": text_col,
        "threshold": threshold,
        "raw": raw,
        "format": out_fmt,
        "chunk_rows": chunk_rows,
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
            raise DataError(
                f"cannot resume into {target}: the input or the options changed since the "
                "interrupted run; run again without --resume"
            )
        manifest = saved
        logger.info("resuming %s after %d rows", source, manifest["rows"])
    else:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    _write_manifest(manifest_path, manifest)

    summary = AnnotationSummary(**{**manifest["summary"], "seconds": 0.0})
    summary.outputs = []
    started = time.perf_counter()
    columns: list[str] | None = manifest.get("columns")
    bar = tqdm(desc=source.name, unit="rows", initial=manifest["rows"], disable=not progress)
    try:
        for chunk in iter_chunks(source, in_fmt, chunk_rows, skip_rows=manifest["rows"]):
            if text_col not in chunk.columns:
                raise missing_column_error(text_col, chunk.columns, source, "--text-col")
            frame, chunk_summary = annotate_texts(model, chunk[text_col].tolist(), threshold, raw)
            annotated = chunk.reset_index(drop=True)
            extra = frame.drop(columns=["text"])
            clashes = [c for c in extra.columns if c in annotated.columns]
            if clashes:
                extra = extra.rename(columns={c: f"eqn_{c}" for c in clashes})
            annotated = pd.concat([annotated, extra], axis=1)
            columns = list(annotated.columns)
            part = staging / f"part-{len(manifest['parts']):06d}.{out_fmt}"
            write_frame(annotated, part, out_fmt, header=False)
            summary.add(chunk_summary)
            manifest["parts"].append(part.name)
            manifest["rows"] += len(chunk)
            manifest["columns"] = columns
            manifest["summary"] = {**asdict(summary), "outputs": []}
            _write_manifest(manifest_path, manifest)
            bar.update(len(chunk))
    except DataError:
        if not manifest["parts"]:  # nothing worth resuming: leave no trace
            shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        bar.close()
    if columns is None:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{source} has a header but no rows to annotate")
    _join_parts([staging / p for p in manifest["parts"]], columns, target, out_fmt)
    shutil.rmtree(staging, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    summary.outputs = [str(target)]
    logger.info("%s -> %s: %s", source, target, summary.line())
    return summary


def annotate_paths(
    model: EQN,
    paths: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    **options: Any,
) -> AnnotationSummary:
    """Annotate files or folders of files; with several, ``output`` is a folder."""
    files = expand_inputs(paths)
    several = len(files) > 1 or any(Path(p).is_dir() for p in paths)
    total = AnnotationSummary()
    started = time.perf_counter()
    for file in files:
        target = None
        if output is not None:
            if several:
                Path(output).mkdir(parents=True, exist_ok=True)
                fmt = options.get("fmt") or detect_format(file)
                target = Path(output) / default_output(file, fmt).name
            else:
                target = Path(output)
        total.add(annotate_file(model, file, target, **options))
    total.seconds = time.perf_counter() - started
    return total
