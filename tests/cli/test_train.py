"""eqn train: recipes, stages, the plain classifier beside, options it refuses."""

import json

import pytest
from typer.testing import CliRunner

from eqn.cli import app

runner = CliRunner()


def test_train_runs_the_pipeline_on_a_csv(sentences_csv, tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        str(sentences_csv),
        "-o",
        str(out),
        "--recipe",
        "paper",  # the paper's pipeline, whatever eqn train's default
        "--backbone",
        "cnn",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--option",
        "channels=4",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "eqn" / "model.safetensors").is_file()
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["backbone_options"]["channels"] == 4
    # the plain classifier trains beside it, and the user hears which is better on dev
    assert (out / "M" / "model.safetensors").is_file() or (
        out / "S" / "model.safetensors"
    ).is_file()
    assert "the plain classifier" in result.output and record["selected"] == "eqn"
    assert record["comparison"]["better"] in ("eqn", "M", "S")
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backbone", "gru"], "unknown backbone 'gru'"),
        (["--stage", "fit"], "unknown stage 'fit'"),
        (["--loss", "mae"], "loss must be one of mse, bce"),
        (["--backbone", "ann", "--pooling", "cls"], "backbone 'ann' has no option 'pooling'"),
        (["--option", "nokey"], "--option needs key=value"),
        (["--recipe", "magic"], "unknown recipe 'magic'; recipes: paper, paper-warm"),
        (["--recipe", "student-m", "--relabel-folds", "3"], "either out of fold or with"),
        (["--teacher-loss", "hinge"], "teacher_loss must be one of mse, bce"),
    ],
)
def test_train_refuses_bad_options(extra, message, sentences_csv, tmp_path):
    result = runner.invoke(app, ["train", str(sentences_csv), "-o", str(tmp_path), *extra])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_train_from_a_model_reads_a_ratings_table_or_an_argilla_export(tiny_model_dir, tmp_path):
    from eqn.model.estimator import EQN

    labels = EQN.load(tiny_model_dir).labels
    rows = ["text_id,rater,text,labels"]
    for i in range(12):
        rows += [f"{i},ana,I feel {labels[i % 2]} today {i},{labels[i % 2]}", f"{i},ben,,"]
    (tmp_path / "ratings.csv").write_text("\n".join(rows) + "\n")
    records = [
        {
            "id": str(i),
            "fields": {"text": f"text {i}"},
            "responses": {"emotion": [{"value": [labels[i % 2]], "user_id": "u1"}]},
        }
        for i in range(12)
    ]
    (tmp_path / "records.json").write_text(json.dumps(records))
    for source, annotations in (("ratings.csv", 24), ("records.json", 12)):
        out = tmp_path / f"run-{source}"
        args = ["train", str(tmp_path / source), "--from", str(tiny_model_dir), "-o", str(out)]
        result = runner.invoke(app, [*args, "--epochs", "1", "--no-progress"])
        assert result.exit_code == 0, result.output
        data = json.loads((out / "run.json").read_text())["data"]
        assert data["annotations"] == annotations and data["annotated_tasks"] == 12


def test_train_help_names_every_recipe():
    from eqn.experiments.recipes import DEFAULT_RECIPE, RECIPES

    result = runner.invoke(app, ["train", "--help"], terminal_width=400)
    for name in RECIPES:
        assert name in result.output
    assert f"Default: {DEFAULT_RECIPE}," in " ".join(result.output.split())


def test_train_with_the_plain_recipe_trains_the_classifier_alone(sentences_csv, tmp_path):
    out = tmp_path / "run"
    args = ["train", str(sentences_csv), "-o", str(out), "--recipe", "plain"]
    args += ["--backbone", "ann", "--epochs", "1", "--batch-size", "4", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["recipe"] == "plain" and set(record["stages"]) == {"M"}
    assert "the plain classifier (M) alone, as recipe plain; --recipe paper" in " ".join(
        result.output.split()
    )


def test_train_compares_with_the_plain_classifier_and_select_best_keeps_the_better(
    sentences_csv, tmp_path
):
    from eqn.model.runtime import load_model

    common = ["--recipe", "paper", "--backbone", "ann", "--epochs", "1", "--batch-size", "4"]
    for select in ("eqn", "best"):
        out = tmp_path / select
        args = ["train", str(sentences_csv), "-o", str(out), *common, "--no-progress"]
        result = runner.invoke(app, [*args, "--select", select])
        assert result.exit_code == 0, result.output
        record = json.loads((out / "run.json").read_text())
        comparison = record["comparison"]
        assert set(record["stages"]) >= {"eqn", "M"} and comparison["model"] == "eqn"
        said = " ".join(result.output.split())
        assert f"on your dev split: eqn {comparison['model_dev']:.4f}" in said
        hint = "(--select best would make M the run's model)"
        assert (hint in said) == (select == "eqn" and comparison["better"] == "M")
        expected = comparison["better"] if select == "best" else "eqn"
        assert record["selected"] == expected
        assert load_model(out).source_ == str(out / expected)  # -m RUN_FOLDER


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "default", "--recipe", "plain"], "--recipe: not used with --from, which con"),
        (["--from", "m", "--teachers", "3", "--no-baseline"], "--teachers, --baseline/--no-base"),
        (["--from", "m", "--labels", "joy,love"], "--labels: not used with --from"),
        (["--held-out", "0.3"], "--held-out: used only with --from MODEL; leave it out"),
        (["--add-labels"], "--add-labels/--no-add-labels: used only with --from MODEL"),
        (["--recipe", "plain", "--teachers", "3"], "--teachers: not used, as no stage relabels"),
        (["--recipe", "plain", "--gold-weight", "0.5"], "--gold-weight: not used, as no stage"),
        (["--stage", "coeqn", "--warm-start"], "--warm-start/--fresh-start: not used, as no EQN"),
        (["--recipe", "plain", "--loss", "mse"], "--loss: not used, as plain classifiers fix"),
        (["--recipe", "plain", "--select", "best"], "--select: nothing to choose between"),
        (["--recipe", "paper", "--no-baseline", "--select", "best"], "--select: nothing to"),
        (["--stage", "coeqn", "--no-baseline"], "--baseline/--no-baseline: the plain classifier"),
        (["--recipe", "plain", "--no-baseline"], "--baseline/--no-baseline: the recipe trains"),
    ],
)
def test_train_refuses_options_it_would_ignore(args, message, sentences_csv, tmp_path):
    result = runner.invoke(app, ["train", str(sentences_csv), "-o", str(tmp_path / "r"), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not (tmp_path / "r").exists()
