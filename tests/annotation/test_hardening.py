"""Bad and unusual files: a typed error or a correct output, never silent damage."""

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

import eqn.annotation.engines as ENGINES
import eqn.annotation.files as A
from eqn.errors import InputError
from eqn.model.estimator import EQN


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


def no_leftovers(folder):
    return not [p for p in folder.iterdir() if p.name.endswith(".parts")]


def test_jsonl_keys_that_change_between_chunks_keep_their_columns(model, tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [{"id": 1, "early": "e1", "text": "I love it"}, {"id": 2, "text": "so sad"}]
    rows += [{"text": "so angry", "late": "l3", "id": 3}, {"id": 4, "text": "yay", "late": "l4"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    for fmt in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"out.{fmt}"
        A.annotate_file(model, path, out, chunk_rows=2, progress=False)
        frame = (
            pd.read_csv(out, dtype=str, keep_default_na=False)
            if fmt == "csv"
            else pd.read_parquet(out)
            if fmt == "parquet"
            else pd.read_json(out, lines=True)
        )
        if fmt != "jsonl":  # JSONL objects carry their own keys, in any order
            assert list(frame.columns[:4]) == ["id", "early", "text", "late"], fmt
        assert [str(v) for v in frame["id"]] == ["1", "2", "3", "4"]
        assert list(frame["text"]) == [r["text"] for r in rows]
        late = [v if isinstance(v, str) else "" for v in frame["late"]]
        assert late == ["", "", "l3", "l4"], fmt


def test_pass_through_values_are_exact(model, tmp_path):
    path = tmp_path / "ids.jsonl"
    big = [12345678901234567890, 12345678901234567891]
    path.write_text(
        "\n".join(json.dumps({"id": b, "score": 0.1, "text": "I love it"}) for b in big) + "\n"
    )
    A.annotate_file(model, path, tmp_path / "o.csv", progress=False)
    text = (tmp_path / "o.csv").read_text()
    assert "12345678901234567890,0.1," in text and "12345678901234567891,0.1," in text
    A.annotate_file(model, path, tmp_path / "o.jsonl", progress=False)
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == big


def test_latin1_is_refused_by_name_and_read_when_declared(model, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes('text\n"café au lait, I love it"\n'.encode("latin-1"))
    with pytest.raises(InputError, match=r"not valid utf-8: byte 0xe9.*encoding='latin-1'"):
        A.annotate_file(model, path, progress=False)
    assert no_leftovers(tmp_path)
    A.annotate_file(model, path, tmp_path / "o.csv", progress=False, encoding="latin-1")
    assert "café au lait" in (tmp_path / "o.csv").read_text(encoding="utf-8")


def test_a_utf8_byte_order_mark_is_not_part_of_the_header(model, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext\nI love it\n".encode())
    A.annotate_file(model, path, tmp_path / "o.csv", progress=False)
    assert pd.read_csv(tmp_path / "o.csv").columns[0] == "text"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("newlines.csv", b"\n\n\n", "no header and no rows"),
        ("bom.csv", b"\xef\xbb\xbf", "no header and no rows"),
        ("null.jsonl", b'{"text": "a"}\nnull\n', "line 2: expected a JSON object"),
        ("number.jsonl", b'{"text": "a"}\n42\n', "line 2: expected a JSON object"),
        ("quote.csv", b'text\n"never closed\n', "malformed CSV"),
        ("header.csv", b"text\n", "header but no rows"),
    ],
)
def test_odd_files_give_a_typed_error_and_leave_nothing(model, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        A.annotate_file(model, path, progress=False)
    assert no_leftovers(tmp_path)
    assert not (tmp_path / A.default_output(path, A.detect_format(path)).name).exists()


def test_output_format_follows_the_output_suffix(model, tmp_path):
    path = tmp_path / "in.csv"
    pd.DataFrame({"text": ["I love it", "so sad"]}).to_csv(path, index=False)
    A.annotate_file(model, path, tmp_path / "out.parquet", progress=False)
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 2
    metadata = json.loads(pq.read_schema(tmp_path / "out.parquet").metadata[b"eqn"])
    assert metadata["model_hash"] == model.model_hash and "calibrated" in metadata


def test_dash_writes_to_standard_output(model, tmp_path, capfdbinary):
    path = tmp_path / "in.csv"
    pd.DataFrame({"text": ["I love it", "so sad"]}).to_csv(path, index=False)
    summary = A.annotate_file(model, path, "-", progress=False)
    out = capfdbinary.readouterr().out.decode()
    assert out.startswith("text,") and out.count("\n") == 3
    assert summary.outputs == ["-"] and not (tmp_path / "-").exists()


def test_a_txt_file_is_one_text_per_line(model, tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("I am so happy today\nThis makes me angry\nWhat a surprise\n")
    summary = A.annotate_file(model, path, progress=False)
    out = pd.read_csv(tmp_path / "lines.eqn.csv")
    assert list(out["text"])[1] == "This makes me angry" and summary.rows == 3


def test_outputs_follow_the_umask(model, tmp_path):
    import os
    import stat

    path = tmp_path / "in.csv"
    pd.DataFrame({"text": ["I love it"]}).to_csv(path, index=False)
    old = os.umask(0o022)
    try:
        A.annotate_file(model, path, tmp_path / "o.csv", progress=False)
        model.save(tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "o.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o755


def test_a_folder_run_annotates_the_good_files_and_lists_the_bad(model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("text\nI am thrilled\n")
    (folder / "b.csv").write_text("")
    (folder / "c.csv").write_text("text\nThis is sad\n")
    summary = A.annotate_paths(model, [folder], tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.eqn.csv", "c.eqn.csv"]
    assert len(summary.failed) == 1 and "b.csv" in summary.failed[0]
    again = A.annotate_paths(model, [folder], tmp_path / "out", resume=True, progress=False)
    assert len(again.skipped) == 2 and not again.outputs


def test_a_rerun_without_resume_keeps_an_interrupted_run(model, tmp_path, monkeypatch):
    from eqn.errors import Interrupted, OutputExistsError

    path = tmp_path / "in.csv"
    pd.DataFrame({"text": ["I love it"] * 30}).to_csv(path, index=False)
    real, calls = ENGINES.annotate_texts, []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ENGINES, "annotate_texts", interrupt_second)
    with pytest.raises(Interrupted, match="10 finished rows are kept"):
        A.annotate_file(model, path, chunk_rows=10, progress=False)
    monkeypatch.undo()
    with pytest.raises(OutputExistsError, match="left 10 finished rows.*resume=True"):
        A.annotate_file(model, path, chunk_rows=10, progress=False)
    summary = A.annotate_file(model, path, chunk_rows=10, resume=True, progress=False)
    assert summary.rows == 30


def test_the_text_column_is_checked_before_the_output(model, tmp_path):
    path = tmp_path / "in.csv"
    pd.DataFrame({"body": ["I love it"]}).to_csv(path, index=False)
    (tmp_path / "in.eqn.csv").write_text("already here")
    with pytest.raises(InputError, match="column 'text' not found"):
        A.annotate_file(model, path, progress=False)


def test_jsonl_output_keeps_odd_column_names_and_big_numbers(model, tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b'text,"odd\x00name",n\nI love it,x,12345678901234567890\n')
    A.annotate_file(model, path, tmp_path / "o.jsonl", progress=False)
    record = json.loads((tmp_path / "o.jsonl").read_text())
    assert record["odd\x00name"] == "x" and record["n"] == "12345678901234567890"


def test_sep_and_batch_size(model, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("id;text\n1;I love it\n2;so sad\n")
    A.annotate_file(model, path, tmp_path / "o.csv", sep=";", batch_size=1, progress=False)
    assert list(pd.read_csv(tmp_path / "o.csv")["text"]) == ["I love it", "so sad"]
    with pytest.raises(InputError, match="batch_size must be at least 1"):
        model.score(["a"], batch_size=0)


def test_a_ragged_first_row_is_refused_not_shifted(model, tmp_path):
    path = tmp_path / "rag.csv"
    path.write_text("id,text\n1,hello,extra,more\n2,bye\n")
    with pytest.raises(InputError, match="line 2 has 4 fields, but the header has 2"):
        A.annotate_file(model, path, tmp_path / "o.csv", progress=False)
    assert not (tmp_path / "o.csv").exists()
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('id,text\n1,"hello, there"\n2,bye\n')
    A.annotate_file(model, quoted, tmp_path / "q.csv", progress=False)
    assert list(pd.read_csv(tmp_path / "q.csv")["text"]) == ["hello, there", "bye"]


def test_outputs_that_are_not_files_are_refused_never_replaced(model, tmp_path):
    import os

    from eqn.errors import OutputExistsError

    path = tmp_path / "in.csv"
    path.write_text("text\nhello\n")
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputExistsError, match="is a folder; name an output file"):
        A.annotate_file(model, path, tmp_path / "folder", force=True, progress=False)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OutputExistsError, match="not a regular file"):
        A.annotate_file(model, path, tmp_path / "fifo", force=True, progress=False)
    assert (tmp_path / "folder").is_dir() and not (tmp_path / "fifo").is_file()


def test_a_lone_surrogate_is_a_typed_error_not_a_tokenizer_traceback(model, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "\\ud800 broken"}\n')
    with pytest.raises(InputError, match=r"is not valid Unicode: it holds '\\ud800'"):
        A.annotate_file(model, path, tmp_path / "o.jsonl", progress=False)
    with pytest.raises(InputError, match="lone UTF-16 surrogate"):
        model.energies(["caf\udce9"])


def test_resume_never_reports_a_stale_output_as_done(model, tmp_path):
    import os

    from eqn.errors import OutputExistsError

    path = tmp_path / "in.csv"
    path.write_text("text\nI love it\n")
    A.annotate_file(model, path, progress=False)
    again = A.annotate_file(model, path, resume=True, progress=False)
    assert again.skipped == [str(tmp_path / "in.eqn.csv")]
    with pytest.raises(OutputExistsError, match=r"not from this input .*\(threshold\)"):
        A.annotate_file(model, path, resume=True, threshold=3.0, progress=False)
    stat = path.stat()
    path.write_text("text\nI hate it\n")  # same size and the same mtime: only the content differs
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(OutputExistsError, match=r"\(the input's content\)"):
        A.annotate_file(model, path, resume=True, progress=False)
    A.annotate_file(model, path, force=True, progress=False)
    assert "I hate it" in (tmp_path / "in.eqn.csv").read_text()
    model.with_precision("bf16")  # another precision is another output
    try:
        with pytest.raises(OutputExistsError, match=r"\(precision\)"):
            A.annotate_file(model, path, resume=True, progress=False)
    finally:
        model.with_precision("fp32")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,text,id", r"names column 'id' twice \(columns 1 and 3\)"),
        (",text,", "column 1 of the header has no name"),
    ],
)
def test_header_names_are_kept_exactly_or_refused_by_name(model, tmp_path, header, message):
    path = tmp_path / "h.csv"
    path.write_text(f"{header}\n1,hello,2\n")
    with pytest.raises(InputError, match=message):
        A.annotate_file(model, path, tmp_path / "o.csv", progress=False)
    assert not (tmp_path / "o.csv").exists()


def test_jsonl_values_are_written_as_json_never_as_python(model, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"o": {"a": 1, "b": null, "c": true}, "l": [1, "x"], "text": "hi"}\n')
    A.annotate_file(model, path, tmp_path / "o.csv", progress=False)
    row = pd.read_csv(tmp_path / "o.csv", dtype=str).iloc[0]
    assert json.loads(row["o"]) == {"a": 1, "b": None, "c": True}
    assert json.loads(row["l"]) == [1, "x"]
    (tmp_path / "inf.jsonl").write_text('{"v": Infinity, "text": "that was scary"}\n')
    with pytest.raises(InputError, match="column 'v' holds Infinity, which JSON cannot hold"):
        A.annotate_file(model, tmp_path / "inf.jsonl", tmp_path / "o.jsonl", progress=False)
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_nested_parquet_values_keep_their_type_or_become_json(model, tmp_path, suffix):
    import pyarrow as pa

    source = tmp_path / "nest.parquet"
    table = pa.table(
        {
            "text": ["hi", "so sad"],
            "l": [[1, 2], None],
            "s": [{"a": 1, "b": "x"}, {"a": 2, "b": None}],
        }
    )
    pq.write_table(table, source)
    out = tmp_path / f"out{suffix}"
    A.annotate_file(model, source, out, progress=False)
    if suffix == ".parquet":
        schema = pq.read_schema(out)
        assert schema.field("l").type == table.schema.field("l").type
        assert schema.field("s").type == table.schema.field("s").type
    elif suffix == ".jsonl":
        first = json.loads(out.read_text().splitlines()[0])
        assert first["l"] == [1, 2] and first["s"] == {"a": 1, "b": "x"}
    else:
        row = pd.read_csv(out, dtype=str).iloc[0]
        assert json.loads(row["l"]) == [1, 2] and json.loads(row["s"]) == {"a": 1, "b": "x"}


@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_jsonl_keys_a_record_lacks_stay_missing_whatever_the_chunks(model, tmp_path, chunk_rows):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1, "text": "I love it"}\n{"b": null, "text": "so sad"}\n{"a": 2}\n')
    A.annotate_file(model, path, tmp_path / "o.jsonl", chunk_rows=chunk_rows, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [sorted(k for k in r if k in ("a", "b", "text")) for r in rows] == [
        ["a", "text"],
        ["b", "text"],
        ["a"],
    ]
    assert rows[1]["b"] is None and rows[2]["eqn_flag"] == "empty"
    A.annotate_file(model, path, tmp_path / "o.csv", chunk_rows=chunk_rows, progress=False)
    cells = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert cells["a"].tolist() == ["1", "", "2"] and cells["b"].tolist() == ["", "", ""]


def test_nan_is_refused_in_jsonl_naming_the_column(model, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"v": NaN, "text": "hi"}\n')
    with pytest.raises(InputError, match="column 'v' holds NaN, which JSON cannot hold"):
        A.annotate_file(model, path, tmp_path / "o.jsonl", progress=False)
    A.annotate_file(model, path, tmp_path / "o.csv", progress=False)  # CSV keeps it


def test_parquet_types_survive_every_output(model, tmp_path):
    import datetime
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "n": pa.array([1, None], pa.int64()),
            "d": pa.array([decimal.Decimal("1.10"), None], pa.decimal128(5, 2)),
            "ts": pa.array([datetime.datetime(2020, 1, 1, 12, 0, 0, 5), None], pa.timestamp("us")),
            "s": pa.array([{"a": 3}, None], pa.struct([("a", pa.int64())])),
            "text": ["I love it", "so sad"],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    A.annotate_file(model, tmp_path / "in.parquet", tmp_path / "o.parquet", progress=False)
    written = pq.read_table(tmp_path / "o.parquet")
    for column in table.column_names:
        assert written.schema.field(column).type == table.schema.field(column).type
        assert written.column(column).to_pylist() == table.column(column).to_pylist()
    A.annotate_file(model, tmp_path / "in.parquet", tmp_path / "o.csv", progress=False)
    cells = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert cells["n"].tolist() == ["1", ""] and cells["d"].tolist() == ["1.10", ""]
    assert json.loads(cells["s"][0]) == {"a": 3}
    A.annotate_file(model, tmp_path / "in.parquet", tmp_path / "o.jsonl", progress=False)
    first = json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])
    assert first["n"] == 1 and first["ts"] == "2020-01-01T12:00:00.000005"
    binary = pa.table({"b": pa.array([b"\x00"]), "text": ["hi"]})
    pq.write_table(binary, tmp_path / "bin.parquet")
    with pytest.raises(InputError, match="column 'b' holds binary data, which CSV cannot keep"):
        A.annotate_file(model, tmp_path / "bin.parquet", tmp_path / "b.csv", progress=False)
    assert not (tmp_path / "b.csv").exists()


def test_a_file_over_the_row_limit_is_refused_before_any_row_is_scored(
    model, tmp_path, monkeypatch
):
    from eqn.errors import LimitError

    path = tmp_path / "in.csv"
    path.write_text("text\n" + "I love it\n" * 5)
    scored = []
    monkeypatch.setattr(type(model), "score", lambda self, *a, **k: scored.append(1))
    with pytest.raises(LimitError, match="has more than 3 rows, the limit here"):
        A.annotate_file(model, path, tmp_path / "o.csv", chunk_rows=2, max_rows=3, progress=False)
    assert scored == [] and not (tmp_path / "o.csv").exists()
