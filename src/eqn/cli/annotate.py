"""``eqn annotate``: texts, stdin, files and folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from eqn.cli.common import (
    DeviceOpt,
    ModelOpt,
    PrecisionOpt,
    ProgressOpt,
    RuntimeOpt,
    console,
    err_console,
    fail,
    in_cli_words,
    refuse_options,
    reporting_errors,
)
from eqn.core.annotation import AnnotatedEnergies
from eqn.errors import Interrupted

if TYPE_CHECKING:
    from eqn.annotation.options import AnnotateOptions
    from eqn.annotation.ray_engine import RayEngine
    from eqn.annotation.texts import AnnotationSummary
    from eqn.model.inference import InferenceModel
    from eqn.model.scoring import ScoredTexts

NAME = "annotate"


def provenance_line(provenance: dict) -> str:
    kind = "calibrated" if provenance["calibrated"] else "uncalibrated"
    return (
        f"model {provenance['model']} ({provenance['model_hash']}), eqn "
        f"{provenance['eqn_version']}, {provenance['runtime']} runtime, {kind} energies, "
        f"threshold {provenance['threshold']:.2f}"
    )


def energy_bar(value: float) -> str:
    """A bar of 20 cells for 0-10, in half cells: its length grows with the energy."""
    cells = max(0.0, value) * 2
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")


def render(batch: AnnotatedEnergies, top: int = 5) -> None:
    """A readable terminal view: each text with its top emotions as bars, showing the
    energies a file would hold (below h: 0 and not listed, unless ``raw``)."""
    for row, text in enumerate(batch.texts):
        if batch.empty[row]:
            console.print("[yellow](empty text: all energies 0)[/]\n")
            continue
        table = Table(title=escape(text[:100]), title_justify="left", show_edge=False)
        table.add_column("emotion")
        table.add_column("energy", justify="right")
        table.add_column("0 ........ 10", no_wrap=True)
        macro = batch.macro_emotion(row)
        pairs = zip(batch.labels, batch.energies[row], strict=True)
        energies = sorted(pairs, key=lambda pair: -pair[1])
        for rank, (label, value) in enumerate(energies[:top]):
            if value <= 0 and rank > 0:
                break
            style = "bold magenta" if label == macro else "cyan"
            bar = energy_bar(value)
            table.add_row(f"[{style}]{escape(label)}[/]", f"{value:.2f}", f"[{style}]{bar}[/]")
        console.print(table)
        micro = ", ".join(f"{label} {e:.2f}" for label, e in batch.micro_emotions(row))
        flag = f"  [yellow]({batch.flags[row]})[/]" if batch.flags and batch.flags[row] else ""
        console.print(
            f"macro-emotion: [bold magenta]{escape(macro or '-')}[/]  "
            f"micro-emotions: {escape(micro or 'none above the threshold')}{flag}\n"
        )


InputsOpt = Annotated[
    list[str] | None,
    typer.Argument(
        help="CSV/TSV/JSONL/Parquet files or folders; '-' reads one text per line from stdin."
    ),
]

OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file ('-': standard output), or folder for several inputs "
        "(default: NAME.eqn.FORMAT); a URI (s3://...) means --layout blocks.",
    ),
]

LayoutOpt = Annotated[
    str,
    typer.Option(
        help="files: one output file per input (the default). blocks: Ray Data reads, "
        "annotates and writes a folder of part files per input from the workers, so no "
        "row passes through this process; implied by an input or output URI "
        "(s3://, gs://, ...). Needs the ray extra."
    ),
]

UncalibratedOpt = Annotated[
    bool,
    typer.Option(
        "--uncalibrated",
        help="The model's own energies (the paper's, clipped to 0-10) and their threshold, "
        "instead of calibrated ones.",
    ),
]

FmtOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Output format: csv, tsv, jsonl, parquet or label-studio (a JSON array of "
        "pre-annotated tasks; default: the input's format); for --text "
        "and stdin, json or jsonl prints the annotation objects instead of the table.",
    ),
]

EngineOpt = Annotated[
    str,
    typer.Option(
        help="local (this process) or ray (a pool of Ray actors, one model each; needs "
        "the ray extra). Same outputs either way."
    ),
]

RayAddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join (default: RAY_ADDRESS, or a local cluster)."),
]

RayActorsOpt = Annotated[
    int | None,
    typer.Option(help="Ray actors (default: one per cluster CPU, or per GPU)."),
]


@reporting_errors
def command(
    context: typer.Context,
    inputs: InputsOpt = None,
    text: Annotated[
        list[str] | None, typer.Option("--text", "-t", help="A text to annotate (repeatable).")
    ] = None,
    model_path: ModelOpt = None,
    output: OutputOpt = None,
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the text.")] = "text",
    threshold: Annotated[
        float | None,
        typer.Option(help="Threshold h for micro-emotions, 0-10 (default: the model's tuned h)."),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Keep unthresholded energies in the columns.")
    ] = False,
    uncalibrated: UncalibratedOpt = False,
    fmt: FmtOpt = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run without redoing rows.")
    ] = False,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Replace the input file with its annotation.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    chunk_rows: Annotated[int, typer.Option(help="Rows per streamed chunk.")] = 4096,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of CSV/TSV/JSONL inputs (UTF-8, BOM or not).")
    ] = "utf-8",
    sep: Annotated[
        str | None, typer.Option(help="Field separator of CSV-like inputs (default , or tab).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Texts per forward pass (default: the model's, 128).")
    ] = None,
    top: Annotated[int, typer.Option(help="Emotions shown per text in the terminal view.")] = 5,
    progress: ProgressOpt = True,
    device: DeviceOpt = "auto",
    runtime: RuntimeOpt = "auto",
    precision: PrecisionOpt = "fp32",
    engine: EngineOpt = "local",
    layout: LayoutOpt = "files",
    ray_address: RayAddressOpt = None,
    ray_actors: RayActorsOpt = None,
) -> None:
    """Annotate texts with an energy per emotion, the macro-emotion and micro-emotions."""
    from eqn.annotation.options import AnnotateOptions
    from eqn.model.runtime import load_model

    if not inputs and not text:
        fail("give files, folders, '-' for stdin, or --text \"...\"")
    if engine not in ("local", "ray"):
        fail(f"unknown engine {engine!r}; choose local or ray", "--engine")
    if layout not in ("files", "blocks"):
        fail(f"unknown layout {layout!r}; choose files or blocks", "--layout")
    from eqn.annotation.ray_data import is_uri

    if (
        engine == "local"
        and layout == "files"
        and not any(map(is_uri, [*(inputs or []), output or ""]))
    ):
        why = "used only with --engine ray or --layout blocks"
        refuse_options(context, ("ray_address", "ray_actors"), why)
    model = load_model(model_path, device=device, runtime=runtime, precision=precision)
    texts = list(text or [])
    files = [i for i in inputs or [] if i != "-"]
    if inputs and "-" in inputs:
        texts += _stdin_lines(encoding)
    if texts:
        calibrated = not uncalibrated and model.is_calibrated
        h = model.resolve_threshold(threshold, calibrated)
        scored = model.score(texts, batch_size, calibrated=calibrated)  # scored once
        if output is not None and not files:
            _write_texts(model.annotate_scored(scored, h, raw), Path(output), fmt, force)
        else:
            _show_texts(model, scored, h, raw, fmt, top)
    if files:
        options = AnnotateOptions(
            text_col=text_col,
            threshold=threshold,
            raw=raw,
            calibrated=not uncalibrated,
            fmt=fmt,
            chunk_rows=chunk_rows,
            resume=resume,
            in_place=in_place,
            force=force,
            progress=progress,
            encoding=encoding,
            sep=sep,
            batch_size=batch_size,
        )
        ray = {"address": ray_address, "actors": ray_actors, "device": device}
        _run_files(model, model_path, files, output, options, engine, layout, ray)


def _run_files(
    model: InferenceModel,
    model_path: Path | None,
    files: list[str],
    output: str | None,
    options: AnnotateOptions,
    engine: str,
    layout: str,
    ray: dict[str, Any],
) -> None:
    """Files by layout and engine: Ray Data blocks, Ray actors, or this process."""
    from eqn.annotation.ray_data import is_uri

    if layout == "blocks" or any(is_uri(location) for location in [*files, output or ""]):
        _annotate_blocks(
            model, model_path, files, output, options, ray["device"], ray["address"], ray["actors"]
        )
        return
    runner = None
    if engine == "ray":
        from eqn.annotation.ray_engine import RayEngine

        runner = RayEngine(
            model_path,
            model.runtime,
            ray["device"],
            address=ray["address"],
            actors=ray["actors"],
            precision=getattr(model, "precision", "fp32"),
        )
    _annotate_files(model, files, None if output is None else Path(output), options, runner)


def _annotate_blocks(
    model: InferenceModel,
    model_path: Path | None,
    files: list[str],
    output: str | None,
    options: AnnotateOptions,
    device: str,
    address: str | None,
    actors: int | None,
) -> None:
    """--layout blocks: Ray Data reads, annotates and writes; this process plans."""
    from eqn.annotation.ray_data import RayDataEngine, SavedModel, annotate_blocks

    if options.in_place or output == "-":
        fail("--layout blocks writes a folder of parts; it cannot use --in-place or -o -")
    loader = SavedModel(
        None if model_path is None else str(model_path.resolve()),
        model.runtime,
        device,
        precision=getattr(model, "precision", "fp32"),
    )
    engine = RayDataEngine(loader, address=address, actors=actors)
    try:
        summary = annotate_blocks(model, files, output, options, engine)
    finally:
        engine.close()
    _report(summary)


def _stdin_lines(encoding: str) -> list[str]:
    """One text per line of standard input, decoded strictly with ``--encoding``."""
    lines = []
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            lines.append(raw.decode(encoding).rstrip("\r\n"))
        except UnicodeDecodeError as error:
            fail(
                f"standard input, line {number}, is not valid {encoding}: byte "
                f"0x{raw[error.start : error.start + 1].hex()} cannot be decoded; give its "
                "encoding",
                "--encoding",
            )
        except LookupError:
            fail(f"unknown text encoding {encoding!r}", "--encoding")
    return lines


def _write_texts(batch: AnnotatedEnergies, output: Path, fmt: str | None, force: bool) -> None:
    from eqn.annotation.texts import AnnotationSummary
    from eqn.annotation.writers import write_frame
    from eqn.data.formats import OUTPUT_FORMATS, detect_format

    out_fmt = detect_format(output, fmt, allowed=OUTPUT_FORMATS)
    if output.exists() and not force:
        fail(f"{output} already exists", "--force")
    write_frame(batch.frame(), output, out_fmt)
    err_console.print(f"wrote {output}: {AnnotationSummary.of(batch).line()}", markup=False)


def _show_texts(
    model: InferenceModel, scored: ScoredTexts, h: float, raw: bool, fmt: str | None, top: int
) -> None:
    if fmt in ("json", "jsonl"):
        # For scripts: the annotation schema, one array (json) or one object a line.
        records = [r.to_dict() for r in model.annotate_scored(scored, h, raw).records()]
        if fmt == "json":
            sys.stdout.write(json.dumps(records, ensure_ascii=False) + "\n")
        else:
            sys.stdout.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        render(model.annotate_scored(scored, h, raw), top)


def _annotate_files(
    model: InferenceModel,
    files: list[str],
    output: Path | None,
    options: AnnotateOptions,
    runner: RayEngine | None,
) -> None:
    from eqn.annotation.files import annotate_paths

    try:
        summary = annotate_paths(model, files, output, options, engine=runner)
    except Interrupted as stopped:
        err_console.print(
            f"interrupted: {stopped.rows_kept} finished rows are kept in {stopped.where}; "
            "run the same command with --resume to continue",
            markup=False,
        )
        raise typer.Exit(130) from None
    finally:
        if runner is not None:
            runner.close()
    _report(summary)


def _report(summary: AnnotationSummary) -> None:
    """The closing lines of a file run: outputs, skips, the summary, failures."""
    for path in summary.outputs:
        err_console.print(f"wrote {path}", markup=False)
    for path in summary.skipped:
        err_console.print(f"skipped {path}: already complete", markup=False)
    err_console.print(summary.line(), markup=False)
    if summary.provenance:
        err_console.print(provenance_line(summary.provenance), markup=False)
    if summary.failed:
        for problem in summary.failed:
            err_console.print(f"failed: {in_cli_words(problem)}", markup=False)
        fail(
            f"{len(summary.failed)} of {len(summary.failed) + len(summary.outputs)} files "
            "could not be annotated; the others were written"
        )
