import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eqn import data as D
from eqn.data import DataError, Dataset, ReaderOptions
from tests.conftest import SENTENCES


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- the in-memory form ------------------------------------------------------


def test_from_lists_builds_multi_hot_gold():
    ds = Dataset.from_lists(["a", "b"], [["joy"], ["joy", "fear"]])
    assert ds.labels == ("fear", "joy")
    np.testing.assert_array_equal(ds.gold, [[0, 1], [1, 1]])
    assert ds.is_multilabel and list(ds.labels_per_sample) == [1, 2]
    assert ds.gold_names(1) == ["fear", "joy"]


def test_from_lists_rejects_unknown_labels_and_mismatched_lengths():
    with pytest.raises(DataError, match="unknown label 'anger' for text 0"):
        Dataset.from_lists(["a"], [["anger"]], labels=["joy"])
    with pytest.raises(DataError, match="got 2 texts but 1 label lists"):
        Dataset.from_lists(["a", "b"], [["joy"]])


def test_dataset_checks_gold_shape_and_label_names():
    with pytest.raises(DataError, match="gold must have shape"):
        Dataset(["a"], ("x", "y"), np.zeros((1, 3)))
    with pytest.raises(DataError, match="duplicate label name 'x' at positions 0 and 1"):
        Dataset(["a"], ("x", "x"), np.zeros((1, 2)))
    with pytest.raises(DataError, match="label list is empty"):
        Dataset([], (), np.zeros((0, 0)))
    with pytest.raises(DataError, match=r"label names at positions \[1\] are empty"):
        Dataset(["a"], ("x", " "), np.zeros((1, 2)))


# --- the generic reader ------------------------------------------------------


def test_read_csv_with_names_and_several_labels(sentences_csv):
    ds = D.read_table(sentences_csv)
    assert len(ds) == len(SENTENCES)
    assert "gratitude" in ds.labels and ds.gold_names(0) == ["gratitude", "love"]


def test_read_tsv_jsonl_and_parquet_agree(tmp_path, sentences_csv):
    frame = pd.read_csv(sentences_csv)
    frame.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    with (tmp_path / "s.jsonl").open("w") as handle:
        for text, labels in SENTENCES:
            handle.write(json.dumps({"text": text, "labels": labels.split(",")}) + "\n")
    frame.to_parquet(tmp_path / "s.parquet")
    reference = D.read_table(sentences_csv)
    for name in ("s.tsv", "s.jsonl", "s.parquet"):
        ds = D.read_table(tmp_path / name)
        assert ds.texts == reference.texts
        np.testing.assert_array_equal(ds.gold, reference.gold)


def test_integer_ids_with_label_file(tmp_path):
    write(tmp_path / "labels.txt", "joy\nanger\nfear\n")
    write(tmp_path / "d.csv", 'text,labels\nhello there,0\nso cross,"1,2"\n')
    ds = D.read_table(tmp_path / "d.csv", labels=tmp_path / "labels.txt")
    assert ds.labels == ("joy", "anger", "fear")
    np.testing.assert_array_equal(ds.gold, [[1, 0, 0], [0, 1, 1]])


def test_integer_ids_without_names_are_numbered(tmp_path):
    write(tmp_path / "d.csv", "text,labels\nhello,0\nbye,2\n")
    assert D.read_table(tmp_path / "d.csv").labels == ("0", "1", "2")


def test_label_separator_option(tmp_path):
    write(tmp_path / "d.csv", "text,labels\nhello,joy|love\n")
    ds = D.read_table(tmp_path / "d.csv", ReaderOptions(label_sep="|"))
    assert ds.gold_names(0) == ["joy", "love"]


def test_six_emotions_format_is_a_reader_configuration(tmp_path):
    write(tmp_path / "t.txt", "i feel great today;joy\ni am so scared;fear\n")
    ds = D.read_table(
        tmp_path / "t.txt", D.DATASETS["6emotions"].options, labels=D.DATASETS["6emotions"].labels
    )
    assert ds.gold_names(0) == ["joy"] and ds.gold_names(1) == ["fear"]


def test_missing_column_names_the_columns_found(tmp_path):
    write(tmp_path / "d.csv", "sentence,emotion\nhello,joy\n")
    with pytest.raises(
        DataError,
        match=r"column 'text' not found .* found columns: 'sentence', 'emotion'. Set text_col",
    ):
        D.read_table(tmp_path / "d.csv")
    with pytest.raises(DataError, match=r"column 'labels' not found .*Set label_col"):
        D.read_table(tmp_path / "d.csv", ReaderOptions(text_col="sentence"))


def test_empty_texts_are_reported_with_lines_or_dropped(tmp_path):
    write(tmp_path / "d.csv", 'text,labels\nhello,joy\n,joy\n"   ",fear\nbye,fear\n')
    with pytest.raises(
        DataError, match=r"2 empty or missing text\(s\) at line\(s\) 3, 4.*on_empty='drop'"
    ):
        D.read_table(tmp_path / "d.csv")
    ds = D.read_table(tmp_path / "d.csv", on_empty="drop")
    assert ds.texts == ["hello", "bye"]
    assert ds.reports[0].dropped_empty_lines == (3, 4)


def test_null_texts_in_jsonl_are_empty(tmp_path):
    write(
        tmp_path / "d.jsonl", '{"text": "hi", "labels": "joy"}\n{"text": null, "labels": "joy"}\n'
    )
    with pytest.raises(DataError, match=r"1 empty or missing text\(s\) at line\(s\) 2"):
        D.read_table(tmp_path / "d.jsonl")


def test_unknown_label_names_the_line(tmp_path):
    write(tmp_path / "d.csv", "text,labels\nhello,joy\nbye,joyy\n")
    with pytest.raises(DataError, match=r"line 3: unknown label 'joyy'"):
        D.read_table(tmp_path / "d.csv", labels=["joy", "fear"])


def test_id_out_of_range_names_the_line(tmp_path):
    write(tmp_path / "d.csv", "text,labels\nhello,0\nbye,5\n")
    with pytest.raises(DataError, match=r"line 3: label id 5 is out of range; there are 2 labels"):
        D.read_table(tmp_path / "d.csv", labels=["joy", "fear"])


def test_non_integer_token_when_ids_are_expected(tmp_path):
    write(tmp_path / "d.csv", "text,labels\nhello,joy\n")
    with pytest.raises(DataError, match=r"line 2: label 'joy' is not an integer id"):
        D.read_table(tmp_path / "d.csv", ReaderOptions(label_format="ids"), labels=["joy"])


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="is empty: it has no rows"):
        D.read_table(write(tmp_path / "d.csv", ""))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist or is not a file"):
        D.read_table(tmp_path / "nope.csv")


def test_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match="cannot tell the format"):
        D.read_table(write(tmp_path / "d.xyz", "a"))


def test_txt_needs_a_separator(tmp_path):
    with pytest.raises(DataError, match="a .txt file needs a field separator"):
        D.read_table(write(tmp_path / "d.txt", "text,labels\na,b\n"))


def test_headerless_needs_column_names():
    with pytest.raises(DataError, match="a file without a header needs column_names"):
        ReaderOptions(header=False)


def test_bad_label_format_option():
    with pytest.raises(DataError, match="label_format must be"):
        ReaderOptions(label_format="words")  # type: ignore[arg-type]


def test_undecodable_bytes_are_refused_with_the_encoding_option(tmp_path):
    path = write(tmp_path / "d.csv", b"text,labels\ncaf\xe9 time,joy\nfine,fear\n")
    with pytest.raises(DataError, match=r"not valid utf-8: byte 0xe9 .*encoding='latin-1'"):
        D.read_table(path)
    ds = D.read_table(path, ReaderOptions(encoding="latin-1"))
    assert ds.texts[0] == "café time"


def test_duplicate_names_in_label_file(tmp_path):
    write(tmp_path / "labels.txt", "joy\nfear\njoy\n")
    write(tmp_path / "d.csv", "text,labels\nhello,0\n")
    with pytest.raises(DataError, match="duplicate label name 'joy' at positions 0 and 2"):
        D.read_table(tmp_path / "d.csv", labels=tmp_path / "labels.txt")


def test_malformed_line_is_named(tmp_path):
    write(tmp_path / "d.txt", "good text;joy\nbad;text;joy\n")
    with pytest.raises(DataError, match=r"line 2 has 3 fields, but the first row has 2"):
        D.read_table(tmp_path / "d.txt", D.DATASETS["6emotions"].options)


def test_malformed_jsonl_line_is_named(tmp_path):
    write(tmp_path / "d.jsonl", '{"text": "a", "labels": "joy"}\n{"text": "b", \n')
    with pytest.raises(DataError, match=r"line 2: not valid JSON"):
        D.read_table(tmp_path / "d.jsonl")


def test_bad_on_empty_value(sentences_csv):
    with pytest.raises(DataError, match="on_empty must be 'error' or 'drop'"):
        D.read_table(sentences_csv, on_empty="skip")  # type: ignore[arg-type]


# --- splits --------------------------------------------------------------------


def test_single_file_gets_a_seeded_stratified_split(tmp_path):
    rows = [(f"sentence number {i}", ["joy", "fear", "anger"][i % 3]) for i in range(90)]
    pd.DataFrame(rows, columns=["text", "labels"]).to_csv(tmp_path / "d.csv", index=False)
    first = D.load_files(tmp_path / "d.csv", seed=3)
    again = D.load_files(tmp_path / "d.csv", seed=3)
    other = D.load_files(tmp_path / "d.csv", seed=4)
    assert first.split_info["method"] == "stratified" and first.split_info["seed"] == 3
    assert first.split_info["sizes"] == {"train": 72, "dev": 9, "test": 9}
    assert first.test.texts == again.test.texts and first.test.texts != other.test.texts
    assert (first.test.gold.sum(axis=0) == 3).all()  # each label kept its share
    all_texts = set(first.train.texts) | set(first.dev.texts) | set(first.test.texts)
    assert len(all_texts) == 90


def test_split_labels_are_the_union_over_files(tmp_path):
    write(tmp_path / "train.csv", "text,labels\na,joy\nb,fear\n")
    write(tmp_path / "dev.csv", "text,labels\nc,anger\n")
    write(tmp_path / "test.csv", "text,labels\nd,joy\n")
    splits = D.load_splits(str(tmp_path))
    assert splits.labels == ("anger", "fear", "joy")
    assert splits.split_info["method"] == "given"


def test_bad_split_sizes(sentences_csv):
    ds = D.read_table(sentences_csv)
    with pytest.raises(DataError, match="sum below 1"):
        D.stratified_split(ds, 0.6, 0.5)


def test_unknown_split_name(sentences_csv):
    splits = D.load_files(sentences_csv)
    with pytest.raises(DataError, match="unknown split 'valid'"):
        splits["valid"]


# --- named datasets ------------------------------------------------------------


def test_unknown_dataset():
    with pytest.raises(DataError, match="neither a named dataset"):
        D.load_splits("nonexistent-dataset-name")
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        D.get_spec("nope")


def test_data_dir_without_the_files(tmp_path):
    with pytest.raises(DataError, match=r"does not hold dataset 'goemotions': missing train.tsv"):
        D.resolve_dataset_dir("goemotions", data_dir=tmp_path)


def test_no_network_no_copy_says_how_to_point_at_a_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("EQN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EQN_DATA_DIR", raising=False)
    with pytest.raises(
        DataError,
        match=r"Point eqn at a local copy: give its folder \(data_dir=/path/to/goemotions",
    ):
        D.resolve_dataset_dir("goemotions", base_url="http://127.0.0.1:9/")
    with pytest.raises(DataError, match=r"dataset '6emotions' was not found.*EQN_DATA_DIR"):
        D.resolve_dataset_dir("6emotions")


def test_goemotions_loads_with_official_sizes(needs_goemotions):
    splits = D.load_dataset("goemotions", data_dir=needs_goemotions)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (43410, 5426, 5427)
    assert len(splits.labels) == 28 and splits.labels[0] == "admiration"
    assert splits.labels == D.GOEMOTIONS_LABELS


def test_goemotions_test_label_counts_match_the_paper(needs_goemotions):
    test = D.load_dataset("goemotions", data_dir=needs_goemotions).test
    assert test.describe()["labels_per_sample"] == {1: 4590, 2: 774, 3: 61, 4: 2}


def test_env_data_dir_as_parent_folder(needs_goemotions, monkeypatch, tmp_path):
    monkeypatch.setenv("EQN_DATA_DIR", str(needs_goemotions.parent))
    monkeypatch.setenv("EQN_HOME", str(tmp_path))
    assert D.resolve_dataset_dir("goemotions").resolve() == needs_goemotions.resolve()


def test_six_emotions_loads(needs_six_emotions):
    splits = D.load_dataset("6emotions", data_dir=needs_six_emotions)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (16000, 2000, 2000)
    assert not splits.train.is_multilabel


# --- downloads against a local server -------------------------------------------


@pytest.fixture
def serve_folder():
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None  # keep test output quiet
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_download_verifies_and_caches(needs_goemotions, serve_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("EQN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EQN_DATA_DIR", raising=False)
    monkeypatch.setenv("EQN_GOEMOTIONS_URL", serve_folder(needs_goemotions))
    splits = D.load_dataset("goemotions")
    cached = tmp_path / "home" / "datasets" / "goemotions"
    assert len(splits.test) == 5427 and (cached / "train.tsv").is_file()
    assert not [p for p in cached.parent.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_bad_download_gives_sha_error_and_no_cache_entry(
    damage, needs_goemotions, serve_folder, tmp_path, monkeypatch
):
    served = tmp_path / "served"
    served.mkdir()
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        shutil.copy(needs_goemotions / name, served / name)
    raw = (served / "dev.tsv").read_bytes()
    (served / "dev.tsv").write_bytes(
        raw.replace(b"a", b"b", 1) if damage == "corrupt" else raw[:1000]
    )
    home = tmp_path / "home"
    monkeypatch.setenv("EQN_HOME", str(home))
    monkeypatch.delenv("EQN_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"sha256 mismatch for .*dev.tsv.*corrupt or truncated"):
        D.load_dataset("goemotions", base_url=serve_folder(served))
    datasets = home / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []


def test_too_few_texts_to_split_is_a_clear_error(tmp_path):
    path = write(tmp_path / "two.csv", "text,labels\nI love it,joy\nso sad,sadness\n")
    with pytest.raises(DataError, match="2 texts are too few to carve dev and test splits"):
        D.load_files(path)


def test_a_huge_label_id_is_refused_before_allocating(tmp_path):
    path = write(tmp_path / "huge.csv", "text,labels\nI love it,999999999\nso sad,1\n")
    with pytest.raises(DataError, match=r"line 2: label id 999999999 would make 1000000000"):
        D.read_table(path)


def test_sparse_label_ids_without_names_are_refused(tmp_path):
    path = write(tmp_path / "sparse.csv", "text,labels\nI love it,0\nso sad,5\nwow,9999\n")
    with pytest.raises(DataError, match=r"label id 9999 would make 10000 unnamed labels for 3"):
        D.read_table(path)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("joy;love", "holds ';', which separates micro-emotions"),
        ("joy:1", "holds ':', which separates a micro-emotion from its energy"),
        ("joy\tlove", "holds the invisible character U\\+0009"),
        ("joy\u200b", "holds the invisible character U\\+200B"),
        (" joy", "starts or ends with a space"),
    ],
)
def test_unusable_label_names_are_refused_by_name(name, problem):
    with pytest.raises(DataError, match=problem):
        Dataset.from_lists(["I love it", "so sad"], [[name], ["sadness"]])


def test_count_rows_gives_progress_totals(tmp_path):
    import pandas as pd

    from eqn.data.readers import count_rows

    write(tmp_path / "a.csv", "text\nI love it\nso sad\n")
    assert count_rows(tmp_path / "a.csv", "csv") == 2
    pd.DataFrame({"text": ["a", "b", "c"]}).to_parquet(tmp_path / "a.parquet")
    assert count_rows(tmp_path / "a.parquet", "parquet") == 3
    assert count_rows(tmp_path / "missing.csv", "csv") is None


def test_label_cells_with_another_separator_are_warned_about(tmp_path, caplog):
    import logging

    from eqn.data.readers import ReaderOptions, read_table

    path = tmp_path / "pipes.csv"
    path.write_text("text,labels\nI was scared and shocked,fear|surprise\nHappy,joy\n")
    with caplog.at_level(logging.WARNING):
        read_table(path, ReaderOptions())
    assert "contain '|' (e.g. 'fear|surprise')" in caplog.text and "label_sep='|'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        read_table(path, ReaderOptions(label_sep="|"))
    assert "label cell" not in caplog.text
