"""The ``eqn`` command line: a thin Typer layer over the library's functions."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from eqn import __version__
from eqn.data import DATASETS, DataError, DatasetSplits, ReaderOptions, load_splits

app = typer.Typer(
    name="eqn",
    help="Micro-emotion annotation with energy scores (Expansion Quantization Network).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    _configure_logging(verbose)


def fail(message: str) -> None:
    """Print a clean error and exit with status 2 (bad input), without a traceback."""
    err_console.print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(2)


# Options shared by every command that reads a labelled dataset.
DatasetArg = Annotated[
    str,
    typer.Argument(
        help=f"A named dataset ({', '.join(DATASETS)}), a file, or a folder of split files."
    ),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Folder holding a named dataset's files.")
]
TextColOpt = Annotated[str, typer.Option("--text-col", help="Column holding the text.")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="Column holding the label(s).")]
LabelSepOpt = Annotated[
    str, typer.Option("--label-sep", help="Separator between several labels in one cell.")
]
LabelsOpt = Annotated[
    str | None,
    typer.Option("--labels", help="Label names: a file (one per line) or a comma-separated list."),
]
SepOpt = Annotated[str | None, typer.Option("--sep", help="Field separator for .txt files.")]
NoHeaderOpt = Annotated[
    bool, typer.Option("--no-header", help="The file has no header; columns are text,labels.")
]
DropEmptyOpt = Annotated[
    bool, typer.Option("--drop-empty", help="Drop empty texts instead of failing.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (splits and training).")]


def read_dataset(
    dataset: str,
    data_dir: Path | None = None,
    text_col: str = "text",
    label_col: str = "labels",
    label_sep: str = ",",
    labels: str | None = None,
    sep: str | None = None,
    no_header: bool = False,
    drop_empty: bool = False,
    seed: int = 0,
) -> DatasetSplits:
    """Load a dataset from CLI-style options, turning data errors into clean exits."""
    label_names: str | list[str] | None = labels
    if labels is not None and not Path(labels).is_file():
        label_names = [name.strip() for name in labels.split(",") if name.strip()]
    try:
        options = ReaderOptions(
            text_col=text_col,
            label_col=label_col,
            label_sep=label_sep or None,
            sep=sep,
            header=not no_header,
            column_names=(text_col, label_col) if no_header else None,
        )
        return load_splits(
            dataset,
            data_dir=data_dir,
            options=options,
            labels=label_names,
            on_empty="drop" if drop_empty else "error",
            seed=seed,
        )
    except DataError as error:
        fail(str(error))
        raise  # unreachable: fail() exits


@app.command()
def version() -> None:
    """Print the eqn version."""
    console.print(f"eqn {__version__}")


@app.command()
def info(
    dataset: DatasetArg,
    data_dir: DataDirOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "labels",
    label_sep: LabelSepOpt = ",",
    labels: LabelsOpt = None,
    sep: SepOpt = None,
    no_header: NoHeaderOpt = False,
    drop_empty: DropEmptyOpt = False,
    seed: SeedOpt = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Describe a dataset: split sizes, labels and the gold label-count distribution."""
    splits = read_dataset(
        dataset, data_dir, text_col, label_col, label_sep, labels, sep, no_header, drop_empty, seed
    )
    summary = {split: splits[split].describe() for split in ("train", "dev", "test")}
    if as_json:
        console.print_json(json.dumps({"split_info": splits.split_info, **summary}))
        return
    table = Table(
        title=f"{dataset}: {len(splits.labels)} labels ({splits.split_info['method']} splits)"
    )
    table.add_column("split")
    table.add_column("rows", justify="right")
    counts = sorted({k for s in summary.values() for k in s["labels_per_sample"]})
    for k in counts:
        table.add_column(f"{k} label{'s' if k != 1 else ''}", justify="right")
    for split, described in summary.items():
        table.add_row(
            split,
            str(described["rows"]),
            *(str(described["labels_per_sample"].get(k, 0)) for k in counts),
        )
    console.print(table)
    console.print("labels: " + ", ".join(splits.labels))


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse, else as strings."""
    options: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            fail(f"--option needs key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def _stages(stage: str, multilabel: bool) -> list[str]:
    from eqn.pipeline import PIPELINE, STAGES

    stages: list[str] = []
    for part in (p.strip() for p in stage.split(",") if p.strip()):
        if part == "all":
            stages += PIPELINE
        elif part == "baseline":
            stages.append("M" if multilabel else "S")
        elif part in STAGES:
            stages.append(part)
        else:
            fail(f"unknown stage {part!r}; use all, baseline, or {', '.join(STAGES)}")
    return stages


@app.command()
def train(
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for models and run.json.")],
    stage: Annotated[
        str,
        typer.Option(
            help="Stages, comma-separated: all (coeqn,relabel,eqn), coeqn, relabel, eqn, "
            "S, M, or baseline (S for single-label data, M for multi-label)."
        ),
    ] = "all",
    backbone: Annotated[
        str, typer.Option(help="ann, cnn, lstm, textcnn or transformer.")
    ] = "transformer",
    model_name: Annotated[
        str | None, typer.Option(help="transformer: Hugging Face name or local folder.")
    ] = None,
    finetune: Annotated[str | None, typer.Option(help="transformer: full, lora or frozen.")] = None,
    pooling: Annotated[str | None, typer.Option(help="transformer: mean or cls.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens (or words) per text.")] = None,
    option: Annotated[
        list[str] | None, typer.Option(help="Backbone option key=value (repeatable).")
    ] = None,
    loss: Annotated[str, typer.Option(help="EQN loss: mse (the paper's) or bce.")] = "mse",
    imbalance: Annotated[
        str, typer.Option(help="none, pos_weight, oversample or undersample.")
    ] = "pos_weight",
    epochs: Annotated[int, typer.Option(help="Epochs per model.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    lr: Annotated[float | None, typer.Option(help="Learning rate (backbone default).")] = None,
    head_lr: Annotated[float | None, typer.Option(help="Head learning rate.")] = None,
    warm_start: Annotated[
        bool, typer.Option(help="Model 2 starts from Model 1's weights, not the pretrained ones.")
    ] = False,
    relabel_folds: Annotated[
        int,
        typer.Option(
            help="1: relabel with Model 1 (the paper). K >= 2: relabel out of fold, each "
            "text scored by a Model 1 trained on the other K-1 folds."
        ),
    ] = 1,
    resume: Annotated[
        bool, typer.Option(help="Reuse finished stages; continue from checkpoints.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace existing models and outputs.")] = False,
    max_train: Annotated[int | None, typer.Option(help="Quick mode: train on a subset.")] = None,
    max_eval: Annotated[int | None, typer.Option(help="Quick mode: dev/test subsets.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many steps, leaving a checkpoint.")
    ] = None,
    data_dir: DataDirOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "labels",
    label_sep: LabelSepOpt = ",",
    labels: LabelsOpt = None,
    sep: SepOpt = None,
    no_header: NoHeaderOpt = False,
    drop_empty: DropEmptyOpt = False,
    seed: SeedOpt = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train CoEQN (Model 1), relabel the training set, train EQN (Model 2), or a baseline."""
    from eqn.backbones import ConfigError, backbone_class
    from eqn.config import ModelConfig
    from eqn.pipeline import StageError, run_pipeline

    splits = read_dataset(
        dataset, data_dir, text_col, label_col, label_sep, labels, sep, no_header, drop_empty, seed
    )
    try:
        splits = splits.limit(max_train, max_eval, seed)
    except DataError as error:
        fail(str(error))
    options = _parse_options(option or [])
    try:
        fields = backbone_class(backbone).Options.__dataclass_fields__
    except ConfigError as error:
        fail(str(error))
    for key, value in (
        ("model_name_or_path", model_name),
        ("finetune", finetune),
        ("pooling", pooling),
        ("max_length", max_length),
    ):
        if value is not None:
            if key not in fields:
                fail(f"backbone {backbone!r} has no option {key!r}")
            options[key] = value
    try:
        config = ModelConfig(
            backbone=backbone,
            backbone_options=options,
            loss=loss,
            imbalance=imbalance,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=lr,
            head_learning_rate=head_lr,
            seed=seed,
        )
    except (ConfigError, TypeError) as error:
        fail(str(error))
    stages = _stages(stage, splits.train.is_multilabel)
    try:
        record = run_pipeline(
            splits,
            config,
            out,
            stages,
            warm_start=warm_start,
            force=force,
            resume=resume,
            max_steps=max_steps,
            progress=progress,
            relabel_folds=relabel_folds,
        )
    except (StageError, FileExistsError, FileNotFoundError, DataError) as error:
        fail(str(error))
    from eqn.metrics import headline

    table = Table(title=f"{dataset}: test split")
    table.add_column("model")
    columns = ["dev_tuned_macro_f1", "topk_macro_f1", "topk_hit_rate", "accuracy_by_max"]
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("train s", justify="right")
    for name in stages:
        result = record["stages"].get(name, {})
        if "metrics" in result:
            row = headline(result["metrics"]["test"])
            table.add_row(
                name,
                *(f"{row.get(c, float('nan')):.4f}" for c in columns),
                f"{result['train_seconds']:.0f}",
            )
    console.print(table)
    console.print(f"run record: {out / 'run.json'}")


@app.command()
def evaluate(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="A named dataset, a file, or a folder of splits.")
    ],
    model_path: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Model folder (default: the shipped model)."),
    ] = None,
    split: Annotated[str, typer.Option(help="Split to score: test, dev or train.")] = "test",
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("eqn-report"),
    against: Annotated[
        Path | None, typer.Option(help="Another model: report the stability of energies.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="A baseline model: per-label F1 beside the model's.")
    ] = None,
    max_eval: Annotated[int | None, typer.Option(help="Quick mode: dev/test subsets.")] = None,
    data_dir: DataDirOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "labels",
    label_sep: LabelSepOpt = ",",
    labels: LabelsOpt = None,
    sep: SepOpt = None,
    no_header: NoHeaderOpt = False,
    drop_empty: DropEmptyOpt = False,
    seed: SeedOpt = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Write a report folder: metrics.json, report.md, figures and index.html."""
    from eqn.annotate import load
    from eqn.evaluate import evaluate_model

    splits = read_dataset(
        dataset, data_dir, text_col, label_col, label_sep, labels, sep, no_header, drop_empty, seed
    )
    if split not in ("train", "dev", "test"):
        fail(f"unknown split {split!r}; choose train, dev or test")
    try:
        splits = splits.limit(None, max_eval, seed)
        model = load(model_path)
        other = load(against) if against else None
        base = load(baseline) if baseline else None
        result = evaluate_model(
            model,
            splits,
            split,
            out,
            against=other,
            baseline=base,
            model_name=str(model_path or "default model"),
            progress=progress,
        )
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    table = Table(title=f"{result['model']} on {result['dataset']} {split}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result["headline"].items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    console.print(f"report: {out / 'index.html'}")


@app.command()
def serve(
    model_path: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Model folder (default: the shipped model)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    max_texts: Annotated[int, typer.Option(help="Most texts per request (413 above).")] = 64,
    max_text_chars: Annotated[
        int, typer.Option(help="Longest text in characters (422 above).")
    ] = 5000,
    max_batch: Annotated[int, typer.Option(help="Most texts in one micro-batch.")] = 256,
    inference_batch: Annotated[
        int, typer.Option(help="Length-sorted sub-batch size within a micro-batch.")
    ] = 32,
    max_wait_ms: Annotated[float, typer.Option(help="Longest wait to fill a batch.")] = 5.0,
    max_upload_mb: Annotated[float, typer.Option(help="Largest CSV upload, in MiB.")] = 10.0,
) -> None:
    """Serve the HTTP API (/v1/annotate, /v1/labels, /v1/model, /healthz) and the web page."""
    try:
        import uvicorn

        from eqn.service import ServiceLimits, create_app
    except ImportError:
        fail("eqn serve needs the serve extra: pip install 'eqn[serve]'")
    try:
        limits = ServiceLimits(
            max_texts=max_texts,
            max_text_chars=max_text_chars,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            inference_batch=inference_batch,
            max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        )
    except ValueError as error:
        fail(str(error))
    uvicorn.run(create_app(model_path=model_path, limits=limits), host=host, port=port)


@app.command()
def compare(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="A named dataset, a file, or a folder of splits.")
    ],
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
    data_dir: DataDirOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "labels",
    label_sep: LabelSepOpt = ",",
    labels: LabelsOpt = None,
    sep: SepOpt = None,
    no_header: NoHeaderOpt = False,
    drop_empty: DropEmptyOpt = False,
    seed: SeedOpt = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """The paper's Table 3: baseline, CoEQN and EQN for each backbone, same data and seed."""
    finished_runs: dict[str, str] = {}
    for item in from_run or []:
        name, _, folder = item.partition("=")
        if not name.strip() or not folder.strip():
            fail(f"--from-run expects BACKBONE=RUN_FOLDER, got {item!r}")
        finished_runs[name.strip()] = folder.strip()
    from eqn.backbones import ConfigError, backbone_class
    from eqn.config import ModelConfig
    from eqn.evaluate import compare_backbones
    from eqn.pipeline import StageError

    splits = read_dataset(
        dataset, data_dir, text_col, label_col, label_sep, labels, sep, no_header, drop_empty, seed
    )
    names = [b.strip() for b in backbones.split(",") if b.strip()]
    options: dict[str, dict[str, Any]] = {}
    try:
        splits = splits.limit(max_train, max_eval, seed)
        for name in names:
            fields = backbone_class(name).Options.__dataclass_fields__
            options[name] = {"finetune": finetune} if name == "transformer" else {}
            if max_length is not None and "max_length" in fields:
                options[name]["max_length"] = max_length
        config = ModelConfig(
            loss=loss, imbalance=imbalance, epochs=epochs, batch_size=batch_size, seed=seed
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
        )
    except (ConfigError, DataError, StageError, FileExistsError) as error:
        fail(str(error))
    from eqn.evaluate import comparison_markdown

    console.print(comparison_markdown(comparison), markup=False, highlight=False)
    console.print(f"tables: {out / 'comparison.md'}")


def render_annotations(frame: Any, labels: Sequence[str], top: int = 5) -> None:
    """A readable terminal view: each text with its top emotions as bars."""
    for _, row in frame.iterrows():
        if row.get("eqn_flag") == "empty":
            console.print("[yellow](empty text: all energies 0)[/]\n")
            continue
        table = Table(title=str(row["text"])[:100], title_justify="left", show_edge=False)
        table.add_column("emotion")
        table.add_column("energy", justify="right")
        table.add_column("0 ........ 10", no_wrap=True)
        energies = sorted(((label, float(row[label])) for label in labels), key=lambda p: -p[1])
        for rank, (label, value) in enumerate(energies[:top]):
            if value <= 0 and rank > 0:
                break
            style = "bold magenta" if label == row["macro_emotion"] else "cyan"
            bar = "█" * int(round(value * 2)) + ("▌" if (value * 2) % 1 >= 0.5 else "")
            table.add_row(f"[{style}]{label}[/]", f"{value:.2f}", f"[{style}]{bar}[/]")
        console.print(table)
        micro = row["micro_emotions"] or "none above the threshold"
        flag = f"  [yellow]({row['eqn_flag']})[/]" if row.get("eqn_flag") else ""
        console.print(
            f"macro-emotion: [bold magenta]{row['macro_emotion'] or '-'}[/]  "
            f"micro-emotions: {micro}{flag}\n"
        )


@app.command()
def annotate(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="CSV/TSV/JSONL/Parquet files or folders; '-' reads one text per line from stdin."
        ),
    ] = None,
    text: Annotated[
        list[str] | None, typer.Option("--text", "-t", help="A text to annotate (repeatable).")
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="Model folder (default: the shipped GoEmotions EQN model)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file, or folder for several inputs (default: NAME.eqn.FORMAT).",
        ),
    ] = None,
    text_col: TextColOpt = "text",
    threshold: Annotated[
        float | None,
        typer.Option(help="Threshold h for micro-emotions (default: the model's tuned value)."),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Keep unthresholded energies in the columns.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="Output format: csv, tsv, jsonl or parquet (default: the input's)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run without redoing rows.")
    ] = False,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Replace the input file with its annotation.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    chunk_rows: Annotated[int, typer.Option(help="Rows per streamed chunk.")] = 4096,
    top: Annotated[int, typer.Option(help="Emotions shown per text in the terminal view.")] = 5,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Annotate texts with an energy per emotion, the macro-emotion and micro-emotions."""
    from eqn.annotate import annotate_paths, annotate_texts, load

    if not inputs and not text:
        fail("give files, folders, '-' for stdin, or --text \"...\"")
    try:
        model = load(model_path)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    texts = list(text or [])
    files = [i for i in inputs or [] if i != "-"]
    if inputs and "-" in inputs:
        texts += [line.rstrip("\n") for line in sys.stdin]
    if texts:
        frame, summary = annotate_texts(model, texts, threshold, raw)
        if output is None or files:
            # The terminal shows every energy as a bar; micro-emotions stay thresholded.
            frame, _ = annotate_texts(model, texts, threshold, raw=True)
        if output is not None and not files:
            from eqn.annotate import detect_format, write_frame

            try:
                out_fmt = detect_format(output, fmt)
            except DataError as error:
                fail(str(error))
            if output.exists() and not force:
                fail(f"{output} already exists; pass --force to replace it")
            write_frame(frame, output, out_fmt)
            err_console.print(f"wrote {output}: {summary.line()}")
        else:
            render_annotations(frame, model.labels, top)
    if files:
        try:
            summary = annotate_paths(
                model,
                files,
                output,
                text_col=text_col,
                threshold=threshold,
                raw=raw,
                fmt=fmt,
                chunk_rows=chunk_rows,
                resume=resume,
                in_place=in_place,
                force=force,
                progress=progress,
            )
        except (DataError, FileExistsError) as error:
            fail(str(error))
        for path in summary.outputs:
            err_console.print(f"wrote {path}")
        err_console.print(summary.line())


if __name__ == "__main__":  # pragma: no cover
    app()
