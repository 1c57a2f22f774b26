import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import eqn.annotation.engines as ENGINES
import eqn.annotation.files as A
from eqn.cli import app
from eqn.data import DataError
from eqn.data.readers import detect_format
from eqn.model.estimator import EQN
from tests.conftest import SENTENCES

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


@pytest.fixture
def reviews(tmp_path):
    rows = [{"id": i, "text": text} for i, (text, _) in enumerate(SENTENCES * 3)]
    rows[4]["text"] = ""
    rows[7]["text"] = "word " * 40  # longer than the model's 12-word limit
    path = tmp_path / "reviews.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_csv_file_gets_an_eqn_output_beside_it(model, reviews):
    summary = A.annotate_file(model, reviews, chunk_rows=10, progress=False)
    output = reviews.with_name("reviews.eqn.csv")
    assert summary.outputs == [str(output)]
    frame = pd.read_csv(output, keep_default_na=False)
    assert list(frame.columns) == [
        "id",
        "text",
        *model.labels,
        "macro_emotion",
        "micro_emotions",
        "eqn_flag",
    ]
    assert len(frame) == 36 and frame["id"].tolist() == list(range(36))
    assert frame.loc[4, "eqn_flag"] == "empty" and frame.loc[7, "eqn_flag"] == "truncated"
    values = frame[list(model.labels)].to_numpy()
    assert values.min() >= 0 and np.allclose(values, values.round(2))
    assert not list(reviews.parent.glob(".*parts"))


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "parquet"])
def test_other_formats_in_and_out(model, reviews, tmp_path, fmt):
    frame = pd.read_csv(reviews, keep_default_na=False)
    source = tmp_path / f"in.{fmt}"
    if fmt == "tsv":
        frame.to_csv(source, sep="\t", index=False)
    elif fmt == "jsonl":
        frame.to_json(source, orient="records", lines=True)
    else:
        frame.to_parquet(source)
    A.annotate_file(model, source, chunk_rows=7, progress=False)
    output = tmp_path / f"in.eqn.{fmt}"
    result = (
        pd.read_csv(output, sep="\t")
        if fmt == "tsv"
        else pd.read_json(output, lines=True)
        if fmt == "jsonl"
        else pd.read_parquet(output)
    )
    assert len(result) == 36 and "macro_emotion" in result.columns
    converted = A.annotate_file(model, source, tmp_path / "out.csv", fmt="csv", progress=False)
    assert len(pd.read_csv(converted.outputs[0])) == 36


def test_a_format_its_output_name_contradicts_is_written_with_a_warning(
    model, reviews, tmp_path, caplog
):
    A.annotate_file(model, reviews, tmp_path / "out.csv", fmt="jsonl", progress=False)
    assert "out.csv: written as jsonl, as asked, though its name says csv" in caplog.text
    assert pd.read_json(tmp_path / "out.csv", lines=True).shape[0] == 36
    caplog.clear()
    A.annotate_file(model, reviews, tmp_path / "tasks.json", fmt="label-studio", progress=False)
    A.annotate_file(model, reviews, tmp_path / "out.tsv", progress=False)
    assert "as asked" not in caplog.text


def test_a_folder_of_files_with_an_output_folder(model, reviews, tmp_path):
    pd.read_csv(reviews).to_json(tmp_path / "more.jsonl", orient="records", lines=True)
    summary = A.annotate_paths(model, [tmp_path], tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "more.eqn.jsonl",
        "reviews.eqn.csv",
    ]
    assert summary.rows == 72


def test_missing_text_column_lists_the_columns_found(model, reviews):
    with pytest.raises(DataError, match=r"column 'body' not found .* found columns: 'id', 'text'"):
        A.annotate_file(model, reviews, text_col="body", progress=False)
    assert not reviews.with_name("reviews.eqn.csv").exists()
    assert not list(reviews.parent.glob(".*.parts"))


def test_never_overwrites_without_being_asked(model, reviews):
    A.annotate_file(model, reviews, progress=False)
    with pytest.raises(FileExistsError, match="already exists; pass force=True"):
        A.annotate_file(model, reviews, progress=False)
    A.annotate_file(model, reviews, force=True, progress=False)
    with pytest.raises(FileExistsError, match="is the input file; pass in_place=True"):
        A.annotate_file(model, reviews, output=reviews, progress=False)
    A.annotate_file(model, reviews, in_place=True, progress=False)
    assert "macro_emotion" in pd.read_csv(reviews).columns


def test_interrupted_run_leaves_no_output_and_resumes_without_redoing_rows(
    model, reviews, monkeypatch
):
    straight = A.annotate_file(
        model, reviews, reviews.with_name("straight.csv"), chunk_rows=10, progress=False
    )
    real = ENGINES.annotate_texts
    calls = []

    def failing(model_, texts, *args, **kwargs):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(model_, texts, *args, **kwargs)

    monkeypatch.setattr(ENGINES, "annotate_texts", failing)
    with pytest.raises(KeyboardInterrupt):
        A.annotate_file(model, reviews, chunk_rows=10, progress=False)
    output = reviews.with_name("reviews.eqn.csv")
    assert not output.exists()
    calls.clear()
    A.annotate_file(model, reviews, chunk_rows=10, resume=True, progress=False)
    assert calls == [10, 6]  # only the rows not done before
    assert output.read_bytes() == reviews.with_name("straight.csv").read_bytes()
    assert straight.rows == 36


def test_resume_refuses_changed_options(model, reviews, monkeypatch):
    real, calls = ENGINES.annotate_texts, []

    def second_chunk_interrupts(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ENGINES, "annotate_texts", second_chunk_interrupts)
    with pytest.raises(KeyboardInterrupt):
        A.annotate_file(model, reviews, chunk_rows=10, progress=False)
    monkeypatch.undo()
    with pytest.raises(DataError, match="the input or the options changed"):
        A.annotate_file(model, reviews, chunk_rows=10, threshold=1.0, resume=True, progress=False)


def test_bad_inputs(model, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty: it has no rows"):
        A.annotate_file(model, tmp_path / "empty.csv", progress=False)
    (tmp_path / "header.csv").write_text("text\n")
    with pytest.raises(DataError, match="has a header but no rows"):
        A.annotate_file(model, tmp_path / "header.csv", progress=False)
    (tmp_path / "notes.xyz").write_text("a")
    with pytest.raises(DataError, match="cannot tell the format"):
        A.annotate_file(model, tmp_path / "notes.xyz", progress=False)
    with pytest.raises(DataError, match="does not exist"):
        A.annotate_paths(model, [tmp_path / "missing.csv"])
    with pytest.raises(DataError, match="unknown format 'xlsx'"):
        detect_format(tmp_path / "a.csv", "xlsx")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="holds no .csv"):
        A.expand_inputs([tmp_path / "folder"])


def test_cli_text_and_stdin(tiny_model_dir):
    result = runner.invoke(app, ["annotate", "--model", str(tiny_model_dir), "--text", "I love it"])
    assert result.exit_code == 0, result.output
    assert "macro-emotion" in result.output
    result = runner.invoke(
        app, ["annotate", "-", "--model", str(tiny_model_dir)], input="so scared\n\n"
    )
    assert result.exit_code == 0 and "empty text" in result.output


def test_cli_stdin_to_a_file(tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        ["annotate", "-", "-m", str(tiny_model_dir), "-o", str(out)],
        input="so scared\nthanks a lot\n",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["so scared", "thanks a lot"]


def test_cli_file_and_errors(tiny_model_dir, reviews):
    result = runner.invoke(
        app, ["annotate", str(reviews), "-m", str(tiny_model_dir), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "36 rows" in result.output and "1 empty" in result.output
    again = runner.invoke(app, ["annotate", str(reviews), "-m", str(tiny_model_dir)])
    assert again.exit_code == 2 and "--force" in again.output
    nothing = runner.invoke(app, ["annotate", "-m", str(tiny_model_dir)])
    assert nothing.exit_code == 2 and "give files" in nothing.output
    bad_col = runner.invoke(
        app, ["annotate", str(reviews), "-m", str(tiny_model_dir), "--force", "--text-col", "body"]
    )
    assert bad_col.exit_code == 2 and "found columns" in bad_col.output
