import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from eqn.cli import app
from eqn.core import metrics as M
from eqn.data import DatasetSplits
from eqn.experiments.evaluate import evaluate_model
from eqn.experiments.report import FIGURES
from eqn.model.estimator import EQN

runner = CliRunner()
TOP_KEYS = {
    "samples",
    "multilabel",
    "paper",
    "thresholded",
    "model",
    "dataset",
    "split",
    "labels",
    "label_count_distribution",
    "calibration",
    "micro_emotions",
    "pearson",
    "headline",
}


@pytest.fixture
def splits(tiny_dataset):
    return DatasetSplits(tiny_dataset, tiny_dataset, tiny_dataset, {"dataset": "sentences"})


def test_report_folder_has_every_file_with_a_stable_schema(tiny_model_dir, splits, tmp_path):
    model = EQN.load(tiny_model_dir)
    result = evaluate_model(
        model, splits, "test", tmp_path, against=model, baseline=model, progress=False
    )
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert TOP_KEYS | {"stability", "baseline"} <= set(saved)
    assert set(saved["paper"]) == {
        "assumes_gold_label_count",
        "sample",
        "per_label",
        "hits_by_label_count",
        "top_n_single_label",
        "accuracy_by_max",
    }
    assert set(saved["thresholded"]) == {"tuned_on", "keep_top", "global", "per_label"}
    assert saved["stability"]["spearman_overall"] == pytest.approx(1.0)
    assert saved["stability"]["annotation_jaccard"] == 1.0
    assert "ece" in saved["calibration"] and saved["calibrated"] is True
    # calibration is fitted on dev; here dev is the test split, so it must help
    assert saved["calibration"]["ece"] < saved["calibration_uncalibrated"]["ece"]
    assert result["headline"] == saved["headline"]
    for name in FIGURES:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 300
            assert np.asarray(image.convert("L")).std() > 0  # not a blank canvas
    page = (tmp_path / "index.html").read_text()
    assert all(f'src="{name}"' in page for name in FIGURES)
    report = (tmp_path / "report.md").read_text()
    assert "after calibration on dev" in report
    # a model against itself disputes no micro-emotion
    assert saved["stability"]["micro_emotion_disputes"] == 0
    assert "0 are macro/micro swaps" in report
    for heading in ("Table 4", "Table 5", "Table 6", "tuned on dev", "What top-k_i assumes"):
        assert heading in report


def test_mismatched_labels_are_refused(tiny_model_dir, tmp_path):
    from eqn.data import Dataset

    other = Dataset.from_lists(["a", "b"], [["x"], ["y"]])
    with pytest.raises(ValueError, match="the model's labels .* differ from the dataset's"):
        evaluate_model(EQN.load(tiny_model_dir), DatasetSplits(other, other, other), "test")


def test_calibration_by_hand():
    energies = np.array([[9.5, 0.5], [8.5, 1.5]])
    gold = np.array([[1, 0], [0, 0]], dtype=bool)
    result = M.calibration(energies, gold, bins=2)
    low, high = result["bins"]
    assert (low["count"], high["count"]) == (2, 2)
    assert high["gold_share"] == 0.5 and high["mean_energy"] == pytest.approx(9.0)
    # ECE = 0.5*|0.5-0.9| + 0.5*|0-0.1|
    assert result["ece"] == pytest.approx(0.25)


def test_energy_agreement_detects_reversal():
    a = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    result = M.energy_agreement(a, -a, ["x", "y"])
    assert result["spearman_per_label"]["x"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        M.energy_agreement(a, a[:2], ["x", "y"])


def test_energy_agreement_compares_the_annotations_themselves():
    first = np.array([[9.0, 6.0, 0.0, 0.0], [8.0, 1.0, 7.0, 0.0], [2.0, 9.0, 0.0, 0.0]])
    second = np.array([[9.0, 0.0, 6.0, 0.0], [8.0, 1.0, 7.0, 0.0], [9.0, 2.0, 0.0, 0.0]])
    result = M.energy_agreement(first, second, ["a", "b", "c", "d"], thresholds=(5.0, 5.0))
    # kept sets: {a,b} vs {a,c}; {a,c} vs {a,c}; {b} vs {a}
    assert result["annotation_jaccard"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    # micro sets: {b} vs {c}; {c} vs {c}; none on either side for the third text
    assert result["micro_emotion_jaccard"] == pytest.approx(0.5)
    assert result["texts_with_micro_emotions"] == 2
    dice = result["kept_dice_per_label"]
    assert dice["a"] == pytest.approx(0.8) and dice["b"] == 0.0
    assert dice["c"] == pytest.approx(2 / 3) and dice["d"] is None
    assert result["kept_dice_per_label_mean"] == pytest.approx((0.8 + 0 + 2 / 3) / 3)
    assert "annotation_jaccard" not in M.energy_agreement(first, second, ["a", "b", "c", "d"])
    # b and c of the first text: each kept by one model only, 1.0 from the threshold
    assert (result["micro_emotion_disputes"], result["threshold_flips"]) == (2, 2)
    assert result["macro_micro_swaps"] == 0 and result["borderline_flip_share"] == 0.0


def test_micro_emotion_disputes_split_into_swaps_and_borderline_flips():
    first = np.array([[9.0, 8.0, 0.0], [9.0, 5.5, 0.0], [9.0, 8.0, 0.0]])
    second = np.array([[8.0, 9.0, 0.0], [9.0, 4.8, 0.0], [9.0, 1.0, 0.0]])
    result = M.energy_agreement(first, second, ["a", "b", "c"], thresholds=(5.0, 5.0))
    # text 1: same kept set {a, b}, other order; texts 2-3: b kept by the first only
    assert result["micro_emotion_disputes"] == 4
    assert (result["macro_micro_swaps"], result["threshold_flips"]) == (2, 2)
    # text 2's flip sits within 1.0 of the threshold on both sides; text 3's does not
    assert result["borderline_flip_share"] == pytest.approx(0.5)
    per_label = M.energy_agreement(
        first, second, ["a", "b", "c"], thresholds=(np.full(3, 5.0), 5.0)
    )
    assert per_label["borderline_flip_share"] == pytest.approx(0.5)


def test_micro_emotion_pairs():
    energies = np.array([[9.0, 6.0, 0.5], [8.0, 7.0, 1.0], [1.0, 2.0, 9.0]])
    gold = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1]], dtype=bool)
    report = M.micro_emotion_report(energies, gold, ["a", "b", "c"], threshold=5.0)
    assert report["top_pairs"][0]["labels"] == ["a", "b"] and report["top_pairs"][0]["texts"] == 2
    assert report["texts_with_micro_emotions"] == pytest.approx(2 / 3)


def test_cli_evaluate_on_a_csv(tiny_model_dir, sentences_csv, tmp_path):
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-d",
            str(sentences_csv),
            "-m",
            str(tiny_model_dir),
            "-o",
            str(tmp_path / "r"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").is_file()
    bad = runner.invoke(
        app, ["evaluate", "-d", str(sentences_csv), "-m", str(tiny_model_dir), "--split", "valid"]
    )
    assert bad.exit_code == 2 and "unknown split 'valid'" in bad.output


def run_compare(data, out, *options):
    """``eqn compare`` on ``data`` with one epoch and no progress bars."""
    return runner.invoke(
        app,
        ["compare", "-d", str(data), "--epochs", "1", "--no-progress", "-o", str(out), *options],
    )


def test_compare_writes_table_3(sentences_csv, tmp_path):
    result = run_compare(sentences_csv, tmp_path, "--backbones", "cnn,lstm")
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    from eqn.experiments.recipes import DEFAULT_RECIPE

    columns = ["M", "CoEQN", "EQN"]
    if DEFAULT_RECIPE not in ("paper", "plain"):  # eqn train's default, beside the paper's
        columns.append(f"EQN ({DEFAULT_RECIPE})")
    models = {(r["backbone"], r["model"]) for r in comparison["rows"]}
    assert models == {(b, m) for b in ("cnn", "lstm") for m in columns}
    table = (tmp_path / "comparison.md").read_text()
    assert f"| backbone | {' | '.join(columns)} |" in table and "Training time" in table
    assert "starting from: cnn pretrained/fresh weights, lstm pretrained/fresh weights" in table
    bad = runner.invoke(app, ["compare", "-d", str(sentences_csv), "--backbones", "gru"])
    assert bad.exit_code == 2 and "unknown backbone 'gru'" in bad.output


def test_compare_shows_the_recipes_asked_for_beside_the_papers(sentences_csv, tmp_path):
    options = ["--backbones", "cnn", "--recipe", "student-m", "--recipe", "paper"]
    result = run_compare(sentences_csv, tmp_path, *options)
    assert result.exit_code == 0, result.output
    table = (tmp_path / "comparison.md").read_text()
    assert "| backbone | M | CoEQN | EQN | EQN (student-m) |" in table
    student = json.loads((tmp_path / "cnn" / "recipe-student-m" / "run.json").read_text())
    assert student["relabel"]["teachers"] == 3 and student["config"]["loss"] == "bce"


def test_compare_warm_start_flag_reaches_model_2(sentences_csv, tmp_path):
    result = run_compare(sentences_csv, tmp_path, "--backbones", "lstm", "--warm-start")
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "lstm" / "run.json").read_text())
    assert run["stages"]["eqn"]["warm_start"] is True
    assert "lstm warm (Model 1 weights)" in (tmp_path / "comparison.md").read_text()


def test_compare_takes_cells_from_a_finished_run(sentences_csv, tmp_path):
    common = ["--epochs", "1", "--no-progress"]
    trained = runner.invoke(
        app,
        [
            "train",
            str(sentences_csv),
            *common,
            "--backbone",
            "lstm",
            "--stage",
            "M,coeqn,relabel,eqn",
            "-o",
            str(tmp_path / "lstm_run"),
        ],
    )
    assert trained.exit_code == 0, trained.output
    result = run_compare(
        sentences_csv,
        tmp_path / "table",
        "--backbones",
        "cnn,lstm",
        "--from-run",
        f"lstm={tmp_path / 'lstm_run'}",
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "table" / "lstm").exists()  # not trained again
    comparison = json.loads((tmp_path / "table" / "comparison.json").read_text())
    run = json.loads((tmp_path / "lstm_run" / "run.json").read_text())
    lstm_eqn = next(
        r for r in comparison["rows"] if r["backbone"] == "lstm" and r["model"] == "EQN"
    )
    assert lstm_eqn["train_seconds"] == run["stages"]["eqn"]["train_seconds"]
    assert "lstm from" in (tmp_path / "table" / "comparison.md").read_text()


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("lstm", "expected BACKBONE=RUN_FOLDER, got 'lstm' \\(option: --from-run\\)"),
        ("gru={run}", "finished run\\(s\\) given for gru, which is not among the backbones"),
        ("lstm={missing}", "holds no run.json"),
        ("lstm={partial}", "lacks the stage\\(s\\) M, eqn"),
        ("lstm={seeded}", "used seed 3, this comparison 0"),
    ],
)
def test_compare_refuses_unusable_finished_runs(sentences_csv, tmp_path, argument, message):
    import re

    common = [str(sentences_csv), "--epochs", "1", "--no-progress", "--backbone", "lstm"]
    partial = tmp_path / "partial"
    trained = runner.invoke(app, ["train", *common, "--stage", "coeqn", "-o", str(partial)])
    assert trained.exit_code == 0, trained.output
    seeded = tmp_path / "seeded"
    record = json.loads((partial / "run.json").read_text())
    for stage in ("M", "eqn"):
        record["stages"][stage] = record["stages"]["coeqn"]
    record["seed"] = 3
    seeded.mkdir()
    (seeded / "run.json").write_text(json.dumps(record))
    folder = argument.format(
        run=seeded, missing=tmp_path / "nothing", partial=partial, seeded=seeded
    )
    result = run_compare(sentences_csv, tmp_path / "t", "--backbones", "lstm", "--from-run", folder)
    assert result.exit_code == 2
    assert re.search(message, " ".join(result.output.split())), result.output
