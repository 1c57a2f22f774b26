"""Annotation with Ray Data, for data that has outgrown one machine (the blocks layout,
chosen for any input or output URI such as ``s3://bucket/prefix``).

Ray Data reads each input file on the cluster (``read_parquet``, ``read_csv`` with
every column a string, ``read_text`` for JSONL and plain text), a pool of actors
annotates its blocks (one model per actor, a GPU each when the cluster has them),
and the workers write the output, one part file per block:

    TARGET/part-TTTTTT-BBBB.EXT   (TTTTTT: the write task, in input order)
    TARGET/_eqn_run.json          (written last: the run's signature and summary)

No row passes through the driver: it plans, hashes nothing itself (a worker reads
the input to hash it) and collects a few counts per block. Values keep the readers'
rules: CSV cells as written (``007`` stays ``007``), JSONL records as parsed,
Parquet with its Arrow types; the parts are written by eqn's own writers.

Resume is per input file: a file whose ``_eqn_run.json`` matches the run's signature
is skipped; a file without one is redone from its start (its stale parts removed).
Ray's block numbering is never trusted across runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from eqn.annotation.engines import annotate_chunk
from eqn.annotation.options import AnnotateOptions
from eqn.annotation.texts import AnnotationSummary
from eqn.annotation.writers import write_frame
from eqn.data.chunks import _check_header, _object_frame, arrow_frame
from eqn.data.formats import (
    SUFFIX_FORMATS,
    jsonl_record,
    missing_column_error,
    python_encoding,
)
from eqn.errors import ConfigError, InputError, OutputExistsError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.fs as pafs

    from eqn.model.inference import InferenceModel

logger = logging.getLogger(__name__)

RUN_RECORD = "_eqn_run.json"
IO_CPUS = 0.25  # logical CPUs of a read or write task: they mostly wait on storage
PART_FORMATS = ("csv", "tsv", "jsonl", "parquet")


def is_uri(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a location on a pyarrow filesystem (``s3://``, ``gs://``, ...)."""
    return "://" in str(path)


class ModelLoader(Protocol):
    """What each actor calls once to get its model (pickled to the workers)."""

    def load(self) -> InferenceModel: ...


@dataclass(frozen=True)
class SavedModel:
    """A saved model folder, loaded in each actor as ``eqn.load`` would."""

    path: str | None
    runtime: str = "auto"
    device: str = "cpu"
    threads: int | None = None
    precision: str = "fp32"

    def load(self) -> InferenceModel:
        from eqn.model.runtime import load_model

        if self.threads is not None and self.runtime == "torch":
            import torch

            torch.set_num_threads(self.threads)
        return load_model(
            self.path,
            device=self.device,
            runtime=self.runtime,
            threads=self.threads,
            precision=self.precision,
        )


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    import pyarrow.fs as pafs

    if is_uri(location):
        try:
            return pafs.FileSystem.from_uri(location)
        except Exception as error:  # pyarrow raises several types for unknown schemes
            raise InputError(f"cannot open {location}: {error}") from None
    return pafs.LocalFileSystem(), str(Path(location).resolve())


def _join(base: str, name: str) -> str:
    return str(PurePosixPath(base) / name)


@dataclass(frozen=True)
class _Source:
    """One input file: where it is, and how to read it."""

    uri: str
    path: str
    fmt: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    def __str__(self) -> str:  # how a failed input is named in a run's summary
        return self.uri


def expand_locations(locations: Sequence[str]) -> list[_Source]:
    """Files, folders and prefixes (local or URIs) as the annotatable files inside them."""
    import pyarrow.fs as pafs

    sources: list[_Source] = []
    for location in locations:
        fs, path = _filesystem(location)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise InputError(f"{location} does not exist")
        if info.type == pafs.FileType.Directory:
            found = fs.get_file_info(pafs.FileSelector(path, recursive=False))
            paths = sorted(f.path for f in found if f.type == pafs.FileType.File)
            paths = [p for p in paths if _format_of(p) is not None]
            if not paths:
                raise InputError(f"{location} holds no .csv, .tsv, .jsonl, .txt or .parquet file")
        else:
            paths = [path]
        for item in paths:
            fmt = _format_of(item)
            if fmt is None:
                raise InputError(
                    f"cannot tell the format of {item} from its suffix; use .csv, .tsv, "
                    ".jsonl, .txt or .parquet"
                )
            sources.append(_Source(_uri_of(location, item), item, fmt))
    return sources


def _split_query(uri: str) -> tuple[str, str]:
    """``s3://b/k?endpoint_override=...`` as the location and its options (kept on joins)."""
    base, _, query = uri.partition("?")
    return base, f"?{query}" if query else ""


def _uri_of(location: str, item: str) -> str:
    """A file found under ``location`` as a URI with the same scheme and options."""
    if not is_uri(location):
        return item
    base, query = _split_query(location)
    return f"{base.split('://', 1)[0]}://{item}{query}"


def _format_of(path: str) -> str | None:
    return SUFFIX_FORMATS.get(PurePosixPath(path).suffix.lower())


def _content_hash(uri: str) -> str:
    """sha256 of a file's bytes, read where this runs (a Ray worker, not the driver)."""
    fs, path = _filesystem(uri)
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


HEAD_LIMIT = 64 << 20  # a header, or a first record, longer than this is refused


def _head(source: _Source) -> bytes:
    """The file's first bytes, up to the end of its first line that is not blank (its
    header or first JSONL record, however long)."""
    fs, path = _filesystem(source.uri)
    head = b""
    with fs.open_input_stream(path) as stream:
        while True:
            chunk = bytes(stream.read(1 << 16))
            head += chunk
            if not chunk or b"\n" in head.lstrip():
                return head
            if len(head) > HEAD_LIMIT:
                raise InputError(
                    f"{source.uri}: its first line is longer than {HEAD_LIMIT >> 20} MiB; "
                    "check that the file has line breaks"
                )


def _check_first_record(source: _Source, options: AnnotateOptions) -> None:
    """The text key must be in the first JSONL record (as the local engine checks);
    later records without it are missing texts."""
    text = _head(source).decode(python_encoding(options.encoding), errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise InputError(f"{source.uri} is empty: it has no rows")
    record = jsonl_record(first, 1, Path(source.uri))
    if options.text_col not in record:
        raise missing_column_error(options.text_col, record, source.uri, "text_col")


def _csv_header(source: _Source, sep: str, encoding: str) -> list[str]:
    """The header row, read from the file's first bytes (the driver reads no rows)."""
    import csv

    text = _head(source).decode(python_encoding(encoding), errors="replace")
    header = next(csv.reader(io.StringIO(text), delimiter=sep), None)
    if not header:
        raise InputError(f"{source.uri} is empty: it has no header")
    _check_header(Path(source.uri), header)
    return header


def _read(source: _Source, options: AnnotateOptions, blocks: int | None) -> Any:
    """The input as a Ray Dataset, values kept by the readers' rules."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import ray.data

    fs, path = _filesystem(source.uri)
    if source.fmt == "parquet":
        return ray.data.read_parquet(
            path, filesystem=fs, override_num_blocks=blocks, num_cpus=IO_CPUS
        )
    if source.fmt == "jsonl":
        _check_first_record(source, options)
    if source.fmt in ("jsonl", "txt"):
        return ray.data.read_text(
            path,
            filesystem=fs,
            encoding=python_encoding(options.encoding),
            drop_empty_lines=source.fmt == "jsonl",
            override_num_blocks=blocks,
            num_cpus=IO_CPUS,
        )
    sep = options.sep or ("\t" if source.fmt == "tsv" else ",")
    header = _csv_header(source, sep, options.encoding)
    return ray.data.read_csv(
        path,
        filesystem=fs,
        read_options=pacsv.ReadOptions(encoding=python_encoding(options.encoding)),
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
        override_num_blocks=blocks,
        num_cpus=IO_CPUS,
    )


def _frame_of(table: pa.Table, source: _Source) -> pd.DataFrame:
    """A block as the local readers would give it."""
    if source.fmt == "jsonl":
        lines = table.column("text").to_pylist()
        return _object_frame([jsonl_record(line, 0, Path(source.uri)) for line in lines])
    return arrow_frame(table)


class _BlockAnnotator:
    """A Ray Data actor: one model; each batch in, its output file's bytes out."""

    def __init__(
        self, loader: ModelLoader, source: _Source, options: AnnotateOptions, out_fmt: str
    ) -> None:
        self.model = loader.load()
        self.source, self.options, self.out_fmt = source, options, out_fmt

    def __call__(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        frame = _frame_of(table, self.source)
        annotated, summary = annotate_chunk(self.model, frame, Path(self.source.uri), self.options)
        with tempfile.TemporaryDirectory(prefix="eqn-part-") as folder:
            part = Path(folder) / f"part.{self.out_fmt}"
            write_frame(annotated, part, self.out_fmt)
            payload = part.read_bytes()
        return pa.table(
            {
                "payload": pa.array([payload], pa.large_binary()),
                "rows": [summary.rows],
                "empty": [summary.empty],
                "truncated": [summary.truncated],
            }
        )


class _PartSink:
    """Writes each annotated block's bytes as one part file, from the worker."""

    def __init__(self, target: str, suffix: str) -> None:
        self.target, self.suffix = target, suffix
        self.summary = AnnotationSummary()

    def write(self, blocks: Iterable[Any], ctx: Any) -> list[dict[str, int]]:
        fs, folder = _filesystem(self.target)
        counts = []
        for number, block in enumerate(blocks):
            rows = block.to_pylist() if hasattr(block, "to_pylist") else block.to_dict("records")
            for offset, row in enumerate(rows):
                name = f"part-{ctx.task_idx:06d}-{number:04d}-{offset:04d}{self.suffix}"
                with fs.open_output_stream(_join(folder, name)) as stream:
                    stream.write(row["payload"])
                counts.append({k: int(row[k]) for k in ("rows", "empty", "truncated")})
        return counts

    def on_write_complete(self, result: Any) -> None:
        for counts in result.write_returns:
            for count in counts:
                self.summary.add(AnnotationSummary(**count))


def _as_datasink(sink: _PartSink) -> Any:
    """The sink as a Ray ``Datasink`` (imported here: Ray is an optional extra)."""
    from ray.data import Datasink

    class PartDatasink(Datasink):
        def write(self, blocks: Iterable[Any], ctx: Any) -> list[dict[str, int]]:
            return sink.write(blocks, ctx)

        def on_write_complete(self, write_result: Any) -> None:
            sink.on_write_complete(write_result)

        @property
        def supports_distributed_writes(self) -> bool:
            return True

    return PartDatasink()


def join_cluster(
    what: str, address: str | None, num_cpus: int | None, actors: int | None
) -> tuple[Any, bool]:
    """Ray, joined to ``address`` (None: ``RAY_ADDRESS`` or a new local cluster of
    ``num_cpus``), quietly; and whether this call started it (so it stops it)."""
    try:
        import ray
    except ImportError as error:
        raise ConfigError(
            f"{what} needs Ray: pip install 'eqn[ray]'", parameter="engine"
        ) from error
    if actors is not None and actors < 1:
        raise ConfigError(f"actors must be at least 1, got {actors}", parameter="actors")
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=False,
        )
    return ray, started


class RayDataEngine:
    """Reads, annotates and writes with Ray Data; no row passes through the driver.

    ``loader`` gives each actor its model (:class:`SavedModel` for a folder).
    ``address``: a running cluster, or None for ``RAY_ADDRESS`` or a local one.
    ``actors``: the pool size (default: one per CPU, or one per GPU when the model
    runs on GPUs).
    """

    def __init__(
        self,
        loader: ModelLoader,
        address: str | None = None,
        actors: int | None = None,
        num_cpus: int | None = None,
        use_gpus: bool | None = None,
    ) -> None:
        ray, self._started = join_cluster("the Ray Data layout", address, num_cpus, actors)
        self._ray = ray
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # parts in input order
        # Quiet by default, as the rest of eqn: Ray Data logs each run's plan at INFO.
        logging.getLogger("ray.data").setLevel(max(logger.getEffectiveLevel(), logging.ERROR))
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        self.use_gpus = gpus > 0 if use_gpus is None else use_gpus
        cpus = max(1, int(resources.get("CPU", 1)))
        self.actors = actors or (gpus if self.use_gpus else cpus)
        self.threads = 1 if self.use_gpus else max(1, cpus // self.actors)
        self.loader = loader

    def annotate(
        self, model: InferenceModel, source: _Source, target: str, options: AnnotateOptions
    ) -> AnnotationSummary:
        """Annotate one input file into the part folder ``target``; resumable per file."""
        out_fmt = options.fmt or ("csv" if source.fmt == "txt" else source.fmt)
        if out_fmt not in PART_FORMATS:
            raise InputError(
                f"the blocks layout writes {', '.join(PART_FORMATS)} parts; {out_fmt} is one "
                "document per input, so use the per-file layout for it",
                parameter="fmt",
            )
        threshold = model.resolve_threshold(options.threshold, options.calibrated)
        options = options.replace(threshold=threshold, fmt=out_fmt)
        hashing = self._ray.remote(num_cpus=0.1)(_content_hash).remote(source.uri)
        signature = {
            "input": source.uri,
            "content_sha256": self._ray.get(hashing),
            **_output_options(model, options),
        }
        fs, folder = _filesystem(target)
        previous = _read_record(fs, folder)
        if previous is not None and previous.get("signature") == signature:
            if options.resume:
                logger.info("%s: already complete, skipped", target)
                skipped = AnnotationSummary(**previous["summary"])
                skipped.skipped, skipped.outputs = [target], []
                return skipped
            if not options.force:
                raise OutputExistsError(
                    f"{target} already holds this annotation; pass resume=True to skip it, "
                    "or force=True to redo it",
                    parameter="force",
                )
        _clear_target(fs, folder, previous, options)
        summary = self._run(source, target, options, out_fmt)
        summary.provenance = model.provenance(options.calibrated, threshold)
        summary.outputs = [target]
        record = {"signature": signature, "summary": asdict(summary)}
        with fs.open_output_stream(_join(folder, RUN_RECORD)) as stream:
            stream.write(json.dumps(record, indent=1).encode())
        return summary

    def _run(
        self, source: _Source, target: str, options: AnnotateOptions, out_fmt: str
    ) -> AnnotationSummary:
        import time

        started = time.perf_counter()
        dataset = _read(source, options, blocks=None)
        annotated = dataset.map_batches(
            _BlockAnnotator,
            fn_constructor_args=(self._actor_loader(), source, options, out_fmt),
            batch_size=options.chunk_rows,
            batch_format="pyarrow",
            compute=self._ray.data.ActorPoolStrategy(size=self.actors),
            # Below the threads it runs: the read and write tasks need room beside the
            # actors, or a pool that takes every CPU waits for input forever.
            num_cpus=0 if self.use_gpus else max(0.5, self.threads - IO_CPUS * 2),
            num_gpus=1 if self.use_gpus else 0,
        )
        sink = _PartSink(target, f".{out_fmt}")
        try:
            annotated.write_datasink(_as_datasink(sink), ray_remote_args={"num_cpus": IO_CPUS})
        except self._ray.exceptions.RayTaskError as error:
            raise error.as_instanceof_cause() from None
        sink.summary.seconds = time.perf_counter() - started
        return sink.summary

    def _actor_loader(self) -> ModelLoader:
        if isinstance(self.loader, SavedModel):
            device = "cuda" if self.use_gpus else "cpu"
            return SavedModel(
                self.loader.path, self.loader.runtime, device, self.threads, self.loader.precision
            )
        return self.loader

    def close(self) -> None:
        """Stop the local cluster if this engine started it."""
        if self._started:
            self._ray.shutdown()


def _output_options(model: InferenceModel, options: AnnotateOptions) -> dict[str, Any]:
    """Every option that changes the output, and the model that makes it."""
    provenance = model.provenance(options.calibrated, options.threshold or 0.0)
    return {
        "text_col": options.text_col,
        "threshold": options.threshold,
        "calibrated": options.calibrated,
        "raw": options.raw,
        "format": options.fmt,
        "chunk_rows": options.chunk_rows,
        "encoding": options.encoding,
        "sep": options.sep,
        "model_hash": provenance["model_hash"],
        "runtime": provenance["runtime"],
        "precision": provenance.get("precision", "fp32"),
        "labels": list(model.labels),
    }


def _read_record(fs: pafs.FileSystem, folder: str) -> dict[str, Any] | None:
    import pyarrow.fs as pafs

    path = _join(folder, RUN_RECORD)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        return json.loads(stream.read())


def _clear_target(
    fs: pafs.FileSystem, folder: str, previous: dict[str, Any] | None, options: AnnotateOptions
) -> None:
    """Make room for a run in ``folder``, refusing to discard what was not asked to go."""
    import pyarrow.fs as pafs

    info = fs.get_file_info(folder)
    if info.type == pafs.FileType.File:
        raise OutputExistsError(
            f"{folder} is a file; the blocks layout writes a folder of parts there",
            parameter="output",
        )
    if info.type == pafs.FileType.NotFound:
        fs.create_dir(folder, recursive=True)
        return
    contents = fs.get_file_info(pafs.FileSelector(folder, recursive=False))
    if not contents:
        return
    if previous is not None and not options.force:
        raise OutputExistsError(
            f"{folder} holds a complete output that is not from this input or these options; "
            "pass force=True to replace it",
            parameter="force",
        )
    if previous is None and not (options.resume or options.force):
        raise OutputExistsError(
            f"{folder} holds parts of an unfinished run; pass resume=True to redo that file, "
            "or force=True",
            parameter="resume",
        )
    strays = [f.path for f in contents if not PurePosixPath(f.path).name.startswith("part-")]
    strays = [s for s in strays if PurePosixPath(s).name != RUN_RECORD]
    if strays:
        raise OutputExistsError(
            f"{folder} holds files eqn did not write ({PurePosixPath(strays[0]).name}); "
            "choose an empty folder",
            parameter="output",
        )
    fs.delete_dir_contents(folder)


def part_target(source: _Source, output: str | None, several: bool, out_fmt: str) -> str:
    """Where one input's parts go: OUTPUT itself for one input, else OUTPUT/NAME.eqn.FMT/."""
    name = f"{PurePosixPath(source.name).stem}.eqn.{out_fmt}"
    if output is None:
        if is_uri(source.uri):
            location, query = _split_query(source.uri)
            return location.rsplit("/", 1)[0] + "/" + name + query
        return str(Path(source.path).parent / name)
    return _join_uri(output, name) if several else output


def _join_uri(base: str, name: str) -> str:
    location, query = _split_query(base)
    return location.rstrip("/") + "/" + name + query


def annotate_blocks(
    model: InferenceModel,
    locations: Sequence[str],
    output: str | None,
    options: AnnotateOptions,
    engine: RayDataEngine,
) -> AnnotationSummary:
    """Annotate files, folders or prefixes (local or URIs) with Ray Data, one part
    folder per input file; one file that fails does not stop the others."""
    sources = expand_locations(locations)
    several = len(sources) > 1 or any(_is_folder(location) for location in locations)

    def annotate_one(source: _Source) -> AnnotationSummary:
        out_fmt = options.fmt or ("csv" if source.fmt == "txt" else source.fmt)
        target = part_target(source, output, several, out_fmt)
        return engine.annotate(model, source, target, options)

    return AnnotationSummary.of_each(sources, annotate_one, several)


def _is_folder(location: str) -> bool:
    import pyarrow.fs as pafs

    fs, path = _filesystem(location)
    return bool(fs.get_file_info(path).type == pafs.FileType.Directory)
