"""The eqn app and the commands without a test file of their own."""

import json

import pytest
from typer.testing import CliRunner

from eqn.annotation.select import DEFAULT_STRATEGY
from eqn.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("info", "train", "version"):
        assert command in result.output


def test_info_on_a_csv(sentences_csv):
    result = runner.invoke(app, ["info", str(sentences_csv), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["split_info"]["method"] in ("stratified", "random")
    assert sum(summary[s]["rows"] for s in ("train", "dev", "test")) == 12


def test_info_missing_column_is_a_clean_error(sentences_csv):
    result = runner.invoke(app, ["info", str(sentences_csv), "--text-col", "sentence"])
    assert result.exit_code == 2
    assert "column 'sentence' not found" in result.output and "'text', 'labels'" in result.output


def test_info_on_goemotions(needs_goemotions):
    result = runner.invoke(
        app, ["info", "goemotions", "--data-dir", str(needs_goemotions), "--json"]
    )
    assert result.exit_code == 0
    assert json.loads(result.output)["test"]["labels_per_sample"] == {
        "1": 4590,
        "2": 774,
        "3": 61,
        "4": 2,
    }


def test_calibrate_writes_a_calibrated_copy_and_annotate_can_skip_it(
    tiny_model_dir, sentences_csv, tmp_path
):
    out = tmp_path / "calibrated"
    result = runner.invoke(
        app,
        [
            "calibrate",
            str(tiny_model_dir),
            "-d",
            str(sentences_csv),
            "-o",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ECE" in result.output and (out / "calibration.json").is_file()
    refused = runner.invoke(
        app,
        [
            "calibrate",
            str(tiny_model_dir),
            "-d",
            str(sentences_csv),
            "--split",
            "test",
            "-o",
            str(out),
        ],
    )
    assert refused.exit_code == 2 and "never on test" in refused.output
    outputs = {}
    for extra in ([], ["--uncalibrated"]):
        target = tmp_path / f"t{len(extra)}.csv"
        shown = runner.invoke(
            app,
            [
                "annotate",
                str(sentences_csv),
                "--model",
                str(out),
                "-o",
                str(target),
                "--no-progress",
                *extra,
            ],
        )
        assert shown.exit_code == 0, shown.output
        kind = "uncalibrated" if extra else "calibrated"
        assert f", {kind} energies, threshold" in " ".join(shown.output.split())
        outputs[kind] = target.read_text()
    assert outputs["calibrated"] != outputs["uncalibrated"]


def test_user_strings_are_never_markup_or_emoji(tmp_path):
    import csv

    from tests.conftest import SENTENCES

    path = tmp_path / "tfn:train [bold]x :smile:.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "labels"])
        writer.writerows(SENTENCES * 2)
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "[bold]x :smile:" in " ".join(result.output.split())
    assert "\N{SMILING FACE WITH OPEN MOUTH AND SMILING EYES}" not in result.output
    missing = runner.invoke(app, ["info", str(path), "--text-col", ":train: [red]"])
    assert missing.exit_code == 2
    assert ":train: [red]" in missing.output and "\N{TRAIN}" not in missing.output


def test_annotate_text_prints_no_warnings_or_loading_bars(tiny_bert, tmp_path):
    import subprocess
    import sys

    from eqn.data import Dataset
    from eqn.model.estimator import EQN
    from tests.conftest import SENTENCES

    data = Dataset.from_lists([t for t, _ in SENTENCES], [lbl.split(",") for _, lbl in SENTENCES])
    options = {"model_name_or_path": str(tiny_bert), "finetune": "lora", "max_length": 16}
    model = EQN(backbone="transformer", backbone_options=options, epochs=1).fit(
        data, data, progress=False
    )
    folder = model.save(tmp_path / "m")
    result = subprocess.run(
        [sys.executable, "-m", "eqn", "annotate", "--model", str(folder), "--text", "I love it"],
        capture_output=True,
        text=True,
        env={
            "HF_HUB_OFFLINE": "1",
            "PATH": "/usr/bin:/bin",
            "EQN_HOME": str(tmp_path / "cache"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "macro-emotion" in result.stdout


def test_an_unknown_encoder_offline_fails_at_once_with_a_clear_error(monkeypatch):
    import time

    from eqn.backbones import build
    from eqn.errors import ConfigError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backbone = build("transformer", {"model_name_or_path": "nobody/no-such-encoder"})
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="neither a model folder nor in the local"):
        backbone.prepare(["a text"])
    assert time.perf_counter() - started < 10


def test_text_and_stdin_as_json_for_scripts(tiny_model_dir):
    result = runner.invoke(
        app,
        [
            "annotate",
            "--model",
            str(tiny_model_dir),
            "--text",
            "I love it",
            "--text",
            "",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [set(r) for r in records] == [
        {"text", "energies", "macro_emotion", "micro_emotions", "flag"}
    ] * 2
    assert records[1]["flag"] == "empty" and records[1]["macro_emotion"] == ""
    lines = runner.invoke(
        app,
        ["annotate", "--model", str(tiny_model_dir), "-", "--format", "jsonl"],
        input="I love it\nso sad\n",
    )
    assert [json.loads(x)["text"] for x in lines.stdout.splitlines()] == ["I love it", "so sad"]


def test_explain_gives_word_level_attributions(tiny_bert, tmp_path):
    from eqn.data import Dataset
    from eqn.model.estimator import EQN
    from tests.conftest import SENTENCES

    data = Dataset.from_lists([t for t, _ in SENTENCES], [lbl.split(",") for _, lbl in SENTENCES])
    options = {"model_name_or_path": str(tiny_bert), "finetune": "lora", "max_length": 16}
    folder = (
        EQN(backbone="transformer", backbone_options=options, epochs=1)
        .fit(data, data, progress=False)
        .save(tmp_path / "m")
    )
    result = runner.invoke(
        app,
        [
            "explain",
            "--model",
            str(folder),
            "--text",
            "I am so happy today",
            "--label",
            "joy",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [t["token"] for t in body["tokens"]] == ["I", "am", "so", "happy", "today"]
    assert body["label"] == "joy" and 0 <= body["energy"] <= 10
    piped = runner.invoke(app, ["explain", "--model", str(folder), "--text", "I am so happy"])
    assert piped.exit_code == 0, piped.output
    lines = piped.stdout.strip().splitlines()  # piped: the attributions as plain text
    assert [line.split("\t")[0] for line in lines[1:]] == ["I", "am", "so", "happy"]
    assert all(float(line.split("\t")[1]) == float(line.split("\t")[1]) for line in lines[1:])
    from eqn.cli import common

    common.console._force_terminal = True  # a terminal: colours, and the legend
    try:
        shown = runner.invoke(app, ["explain", "--model", str(folder), "--text", "I am so happy"])
    finally:
        common.console._force_terminal = None
    assert shown.exit_code == 0 and "red raises it" in shown.output
    lstm = runner.invoke(app, ["explain", "--model", str(tmp_path / "m"), "--text", ""])
    assert lstm.exit_code == 2 and "empty text" in lstm.output


def test_terminal_bars_grow_with_the_energy():
    from eqn.cli.annotate import energy_bar

    values = [0.0, 0.2, 0.25, 0.43, 0.5, 0.71, 1.0, 2.45, 9.99, 10.0]
    lengths = [len(energy_bar(v).replace("▌", "")) + 0.5 * energy_bar(v).count("▌") for v in values]
    assert lengths == sorted(lengths) and lengths[-1] == 20.0  # 20 cells for 0-10
    assert len(energy_bar(0.43)) <= len(energy_bar(0.71))


def test_library_words_become_flags_in_cli_messages():
    from eqn.cli.common import in_cli_words

    assert in_cli_words("it exists; pass force=True to replace it") == (
        "it exists; use --force to replace it"
    )
    assert in_cli_words("continue it with resume=True") == "continue it with --resume"
    assert in_cli_words("start again with resume=False") == "start again without --resume"
    assert in_cli_words("keep unknown=True as is") == "keep unknown=True as is"
    assert in_cli_words("Set text_col to one of them") == "Set --text-col to one of them"
    assert in_cli_words("set no_such_thing") == "set no_such_thing"
    assert in_cli_words("for example encoding='latin-1'") == "for example --encoding latin-1"


def test_version_flag():
    import eqn
    from eqn.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"eqn {eqn.__version__}"


def test_stdin_is_decoded_with_the_encoding_option(tiny_model_dir):
    base = ["annotate", "-", "--model", str(tiny_model_dir), "--format", "json"]
    bad = CliRunner().invoke(app, base, input=b"caf\xe9\n")
    assert bad.exit_code == 2 and "standard input, line 1, is not valid utf-8" in bad.output
    good = CliRunner().invoke(app, [*base, "--encoding", "latin-1"], input=b"caf\xe9\n")
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)[0]["text"] == "café"


def test_eqn_select_checks_its_input_before_loading_a_model(tmp_path, monkeypatch):
    import eqn.model.runtime

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(eqn.model.runtime, "load_model", no_model)
    result = runner.invoke(app, ["select", str(tmp_path / "missing.csv"), "-n", "3"])
    assert result.exit_code == 2
    assert "missing.csv does not exist or is not a file" in result.output
    result = runner.invoke(app, ["select", str(tmp_path / "missing.csv"), "-n", "0"])
    assert "n must be at least 1, got 0 (option: -n)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-after", "3"], "--versions-dir, --train-after: used only with --allow-training"),
        (
            ["--keep-versions", "0", "--allow-training"],
            "keep must be 1 or more, got 0 (option: --k",
        ),
        (["--train-epochs", "0", "--allow-training"], "(option: --train-epochs)"),
    ],
)
def test_serve_refuses_training_options_it_would_ignore_or_cannot_use(
    args, message, tmp_path, monkeypatch
):
    # Refused before a server (or a versions folder) is made.
    uvicorn = pytest.importorskip("uvicorn")

    def no_server(*args, **kwargs):
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn, "run", no_server)
    versions = tmp_path / "versions"
    result = runner.invoke(app, ["serve", "--versions-dir", str(versions), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not versions.exists()


def test_annotate_refuses_ray_options_without_ray(sentences_csv, tmp_path, tiny_model_dir):
    out = tmp_path / "out.csv"
    args = ["annotate", str(sentences_csv), "-m", str(tiny_model_dir), "-o", str(out)]
    result = runner.invoke(app, [*args, "--ray-actors", "4", "--no-progress"])
    assert result.exit_code == 2 and not out.exists()
    assert "--ray-actors: used only with --engine ray or --layout blocks" in result.output


def test_select_refuses_a_seed_its_strategy_would_not_use(tmp_path):
    pool = tmp_path / "pool.csv"
    pool.write_text("text\nhello\n")
    result = runner.invoke(app, ["select", str(pool), "--seed", "3", "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert f"--seed: used only with --strategy random, not {DEFAULT_STRATEGY}" in result.output
