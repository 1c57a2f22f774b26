"""``eqn train``: CoEQN (Model 1), relabelling, EQN (Model 2) and the baselines."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from eqn.cli.common import (
    DatasetArg,
    DatasetOptions,
    DeviceOpt,
    ProgressOpt,
    console,
    fail,
    parse_key_values,
    refuse_options,
    reporting_errors,
    with_dataset_options,
)

NAME = "train"

# Backbone options with a flag of their own.
BACKBONE_FLAGS = {
    "model_name_or_path": "--model-name",
    "finetune": "--finetune",
    "pooling": "--pooling",
    "max_length": "--max-length",
}


def parse_stages(stage: str, multilabel: bool) -> list[str]:
    from eqn.experiments.pipeline import PIPELINE, STAGES

    stages: list[str] = []
    for part in (p.strip() for p in stage.split(",") if p.strip()):
        if part == "all":
            stages += PIPELINE
        elif part == "baseline":
            stages.append("M" if multilabel else "S")
        elif part in STAGES:
            stages.append(part)
        else:
            fail(f"unknown stage {part!r}; use all, baseline, or {', '.join(STAGES)}", "--stage")
    return stages


def backbone_options(backbone: str, pairs: list[str], named: dict[str, Any]) -> dict[str, Any]:
    """Options from ``--option key=value`` and the named flags that were given."""
    from eqn.backbones import backbone_class

    options = parse_key_values(pairs, "--option")
    fields = {field.name for field in dataclasses.fields(backbone_class(backbone).Options)}
    for key, value in named.items():
        if value is None:
            continue
        if key not in fields:
            fail(f"backbone {backbone!r} has no option {key!r}", BACKBONE_FLAGS[key])
        options[key] = value
    return options


def results_table(title: str, record: dict[str, Any], stages: list[str]) -> Table:
    from eqn.core.metrics import headline

    table = Table(title=escape(title))
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
    return table


StageOpt = Annotated[
    str | None,
    typer.Option(
        help="Stages, comma-separated: all (coeqn,relabel,eqn), coeqn, relabel, eqn, "
        "S, M, or baseline (S for single-label data, M for multi-label). Default: the "
        "recipe's.",
        show_default=False,
    ),
]

RecipeOpt = Annotated[
    str | None,
    typer.Option(
        help="How the run's model is made: paper (CoEQN, relabel, EQN), paper-warm, "
        "student-coeqn, student-m, student-m-gold (teachers taught to one student) or "
        "plain (M or S). "
        "Default: plain, the recipe study's choice (benchmarks/recipe_study.md): the best "
        "mean dev rank on GoEmotions and XED. "
        "The options below change one factor of it.",
        show_default=False,
    ),
]

WarmStartOpt = Annotated[
    bool | None,
    typer.Option(
        "--warm-start/--fresh-start",
        help="Model 2 starts from Model 1's weights, or from the pretrained ones. "
        "Default: warm for single-label data with the transformer, else fresh.",
        show_default=False,
    ),
]

RelabelFoldsOpt = Annotated[
    int | None,
    typer.Option(
        help="1: relabel with Model 1 (the paper). K >= 2: relabel out of fold, each "
        "text scored by a Model 1 trained on the other K-1 folds."
    ),
]

FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Continue from this model (a folder, or 'default' for the shipped one): one "
        "fine-tuning stage from its weights, configuration and labels. DATA may be a "
        "Label Studio or Argilla JSON export or a ratings table (text_id, rater, text, "
        "labels); several annotators become vote fractions.",
    ),
]

BaselineOpt = Annotated[
    bool,
    typer.Option(
        help="Without --stage (or with all): also train the plain classifier (M, or S for "
        "single-label data) and say which is better on your dev split."
    ),
]
SelectOpt = Annotated[
    str,
    typer.Option(
        help="The run's model: eqn (the recipe's model), or best (the better of it and the "
        "plain classifier, M or S, on dev)."
    ),
]
HeldOutOpt = Annotated[
    float, typer.Option(help="With --from: the share of the new data held out to judge it.")
]
AddLabelsOpt = Annotated[
    bool,
    typer.Option(help="With --from: learn labels the annotators chose that the model lacks."),
]

GoldWeightOpt = Annotated[
    float | None,
    typer.Option(
        help="W from 0 to below 1: Model 2 learns W * full labels + (1 - W) * relabelled "
        "energies (distillation keeping a share of the hard labels)."
    ),
]

TeachersOpt = Annotated[
    int | None,
    typer.Option(
        help="N >= 2: relabel with the mean energies of N CoEQN teachers of their own "
        "seeds (seed*N .. seed*N+N-1); then 'all' means relabel,eqn."
    ),
]
LossOpt = Annotated[str | None, typer.Option(help="EQN loss: mse (the paper's) or bce.")]
TeacherLossOpt = Annotated[str | None, typer.Option(help="The teachers' loss: mse or bce.")]


# What --from ignores: a continued model keeps its parent's configuration and labels.
NOT_WITH_FROM = (
    *("recipe", "stage", "backbone", "model_name", "finetune", "pooling", "max_length"),
    *("option", "loss", "imbalance", "batch_size", "lr", "head_lr", "warm_start"),
    *("relabel_folds", "teachers", "teacher_loss", "gold_weight", "resume", "max_train"),
    *("max_eval", "max_steps", "baseline", "select", "labels"),
)


@with_dataset_options
@reporting_errors
def command(
    context: typer.Context,
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for models and run.json.")],
    recipe: RecipeOpt = None,
    stage: StageOpt = None,
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
    loss: LossOpt = None,
    imbalance: Annotated[
        str, typer.Option(help="none, pos_weight, oversample or undersample.")
    ] = "pos_weight",
    epochs: Annotated[int, typer.Option(help="Epochs per model.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    lr: Annotated[float | None, typer.Option(help="Learning rate (backbone default).")] = None,
    head_lr: Annotated[float | None, typer.Option(help="Head learning rate.")] = None,
    warm_start: WarmStartOpt = None,
    relabel_folds: RelabelFoldsOpt = None,
    teachers: TeachersOpt = None,
    teacher_loss: TeacherLossOpt = None,
    gold_weight: GoldWeightOpt = None,
    resume: Annotated[
        bool, typer.Option(help="Reuse finished stages; continue from checkpoints.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace existing models and outputs.")] = False,
    max_train: Annotated[int | None, typer.Option(help="Quick mode: train on a subset.")] = None,
    max_eval: Annotated[int | None, typer.Option(help="Quick mode: dev/test subsets.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many steps, leaving a checkpoint.")
    ] = None,
    progress: ProgressOpt = True,
    device: DeviceOpt = "auto",
    baseline: BaselineOpt = True,
    select: SelectOpt = "eqn",
    from_model: FromOpt = None,
    held_out: HeldOutOpt = 0.2,
    add_labels: AddLabelsOpt = False,
    data: DatasetOptions = DatasetOptions(),
) -> None:
    """Train CoEQN (Model 1), relabel the training set, train EQN (Model 2), or a baseline."""
    if from_model is not None:
        continued = (from_model, held_out, add_labels)
        _continue(context, dataset, out, continued, epochs, force, progress, device, data)
        return
    refuse_options(context, ("held_out", "add_labels"), "used only with --from MODEL")
    from eqn.experiments.pipeline import run_pipeline
    from eqn.experiments.recipes import DEFAULT_RECIPE, get_recipe
    from eqn.model.config import ModelConfig

    splits = data.load(dataset).limit(max_train, max_eval, data.seed)
    chosen = get_recipe(recipe or DEFAULT_RECIPE).with_options(  # checked, names the choices
        cast(Any, loss), warm_start, relabel_folds, teachers, cast(Any, teacher_loss), gold_weight
    )
    named: dict[str, Any] = {"model_name_or_path": model_name, "finetune": finetune}
    named |= {"pooling": pooling, "max_length": max_length}
    config = ModelConfig(
        backbone=backbone,
        backbone_options=backbone_options(backbone, option or [], named),
        loss=chosen.loss,
        imbalance=cast(Any, imbalance),  # checked by ModelConfig, which names the choices
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        head_learning_rate=head_lr,
        seed=data.seed,
    )
    plain = "M" if splits.train.is_multilabel else "S"
    stages = _stages(chosen, stage, plain, baseline)
    _refuse_unused(context, stages)
    _refuse_unused_comparison(context, stages, plain, whole=stage in (None, "all"))
    record = run_pipeline(
        splits,
        config,
        out,
        stages,
        warm_start=chosen.warm_start,
        force=force,
        resume=resume,
        max_steps=max_steps,
        progress=progress,
        relabel=chosen.relabel,
        device=device,
    )
    record["recipe"] = chosen.name
    _report_run(record, stages, plain, select, out, dataset)


def _stages(recipe: Any, stage: str | None, plain: str, baseline: bool) -> list[str]:
    """The recipe's stages, or those ``--stage`` names; and the plain classifier beside."""
    multilabel = plain == "M"
    stages = recipe.stages_for(multilabel) if stage is None else parse_stages(stage, multilabel)
    if recipe.relabel.teachers > 1 and stage == "all":
        stages = [s for s in stages if s != "coeqn"]  # the teachers replace Model 1
    if baseline and stage in (None, "all") and plain not in stages:
        stages.append(plain)  # one more model, so the user sees what EQN is worth here
    return stages


def _refuse_unused(context: typer.Context, stages: list[str]) -> None:
    """The options the user set that none of the run's stages would use."""
    ran = f"(stages: {', '.join(stages)})"
    # With an EQN stage they still count: who relabelled sets its default warm start.
    if not {"relabel", "eqn"} & set(stages):
        relabelling = ("teachers", "teacher_loss", "gold_weight", "relabel_folds")
        refuse_options(context, relabelling, f"not used, as no stage relabels {ran}")
    if "eqn" not in stages:
        refuse_options(context, ("warm_start",), f"not used, as no EQN stage runs {ran}")
    if not {"coeqn", "eqn"} & set(stages):
        refuse_options(context, ("loss",), f"not used, as plain classifiers fix theirs {ran}")


def _refuse_unused_comparison(
    context: typer.Context, stages: list[str], plain: str, whole: bool
) -> None:
    """--baseline and --select when the run has no plain classifier beside another model."""
    ran = f"(stages: {', '.join(stages)})"
    if not whole:
        why = "the plain classifier is added only to a whole recipe, without --stage"
        refuse_options(context, ("baseline",), why)
    elif set(stages) == {plain}:
        refuse_options(context, ("baseline",), f"the recipe trains the plain classifier {ran}")
    if plain not in stages or set(stages) == {plain}:
        refuse_options(
            context,
            ("select",),
            f"nothing to choose between, as no plain classifier is trained beside another "
            f"model {ran}",
            fix="leave it out, or give a recipe without --stage (it trains the plain one beside)",
        )


def _report_run(
    record: dict[str, Any], stages: list[str], plain: str, select: str, out: Path, dataset: str
) -> None:
    """The results table, the model against the plain classifier, and the verdict."""
    from eqn.experiments.pipeline import verdict
    from eqn.experiments.recipes import PLAIN
    from eqn.experiments.verdicts import comparison_line, select_model
    from eqn.io import write_json

    console.print(results_table(f"{dataset}: test split", record, stages))
    scored = [name for name in stages if "dev" in record["stages"].get(name, {})]
    main = next((name for name in reversed(scored) if name != plain), None)
    if main is None:
        main = scored[-1] if scored else None
    if main is not None:
        chosen = select_model(record, main, plain, select)
        comparison = record["comparison"]
        if comparison is not None and main != plain:
            line = comparison_line(comparison)
            if comparison["better"] != main and chosen == main:
                line += f" (--select best would make {plain} the run's model)"
            console.print(line, markup=False)
        elif main == plain and record.get("recipe") == PLAIN:
            console.print(
                f"the plain classifier ({plain}) alone, as recipe plain; --recipe paper (or "
                f"another) trains an EQN model with {plain} beside it and compares them on your "
                "dev split",
                markup=False,
            )
        if chosen != main:
            console.print(f"--select best: the run's model is {plain}", markup=False)
        write_json(out / "run.json", record)
        console.print(verdict(record, chosen), markup=False)
    console.print(f"run record: {out / 'run.json'}", markup=False)


def _continue(
    context: typer.Context,
    dataset: str,
    out: Path,
    continued: tuple[str, float, bool],
    epochs: int,
    force: bool,
    progress: bool,
    device: str,
    data: DatasetOptions,
) -> None:
    """``--from``: fine-tune a model on new annotations and judge it against its parent."""

    from eqn.data.annotations import annotation_format, read_annotations
    from eqn.experiments.continued import NewData, annotated_data, continue_training
    from eqn.model.estimator import EQN, default_model_dir

    why = "not used with --from, which continues the model as it was made"
    refuse_options(context, NOT_WITH_FROM, why)
    from_model, held_out, add_labels = continued
    if not 0 < held_out < 1:
        fail(f"the held-out share must be between 0 and 1, got {held_out}", "--held-out")
    source = default_model_dir() if from_model == "default" else Path(from_model)
    parent = EQN.load(source, device=device)
    path = Path(dataset)
    if annotation_format(path, data.sep, data.encoding) is not None:
        annotations = read_annotations(path, data.reader_options())
        new = annotated_data(
            annotations, parent.labels, held_out, data.seed, dataset, add_labels=add_labels
        )
    else:
        splits = dataclasses.replace(data, labels=",".join(parent.labels)).load(dataset)
        origin = {"source": dataset, "format": "labelled file", "held_out": "its dev split"}
        new = NewData(splits.train, splits.dev, origin)
    record = continue_training(parent, new, out, epochs, force, progress)
    scores = record["held_out_macro_f1"]
    judged = "better than or as good as" if record["better_than_parent"] else "WORSE than"
    console.print(
        f"continued from {parent.name}: held-out macro F1 {scores['parent']:.4f} -> "
        f"{scores['continued']:.4f} ({record['held_out_texts']} texts), {judged} its parent. "
        f"Calibration and h {record['calibration_and_h']}.",
        markup=False,
    )
    console.print(f"model: {record['model']}; run record: {out / 'run.json'}", markup=False)
