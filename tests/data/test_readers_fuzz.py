"""Arbitrary bytes through every reader: a correct table or a typed error, nothing else."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqn.data import ReaderOptions, read_table
from eqn.data.readers import iter_chunks
from eqn.errors import InputError

SEEDS = [
    b"text,labels\nI love it,joy\nso sad,sadness\n",
    b'text,labels\n"quoted, with comma",joy\n"multi\nline",anger\n',
    b'{"text": "I love it", "labels": "joy"}\n{"text": "meh", "labels": "sadness"}\n',
    b"I love it;joy\nso sad;sadness\n",
]
PIECES = [
    b'"',
    b",",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xe9",
    b"{",
    b"}",
    b"\t",
    b";",
    b"null",
    b"42",
    b"\xed\xa0\x80",
    b"text",
    b"labels",
]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data)))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            data[position:position] = draw(st.sampled_from(PIECES))
        elif choice == 1:
            del data[position : position + draw(st.integers(1, 8))]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".txt"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated())
def test_dataset_reader_returns_a_table_or_a_typed_error(tmp_path, suffix, data):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(data)
    options = (
        ReaderOptions(sep=";", header=False, column_names=("text", "labels"))
        if suffix == ".txt"
        else ReaderOptions()
    )
    try:
        dataset = read_table(path, options)
    except InputError:
        return
    assert len(dataset.texts) == len(dataset.gold) and all(t.strip() for t in dataset.texts)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "txt"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated())
def test_annotation_reader_returns_chunks_or_a_typed_error(tmp_path, fmt, data):
    path = tmp_path / f"data.{fmt}"
    path.write_bytes(data)
    try:
        frames = list(iter_chunks(path, fmt, chunk_rows=2))
    except InputError:
        return
    assert all(len(frame) <= 2 for frame in frames)
