"""Fuzz the readers, the file annotator, resume and the model loader.

Five targets, each seeded:

* byte mutations of small CSV/TSV/JSONL/text files, annotated and read as datasets;
* Parquet files of random Arrow types (integers with nulls, floats with NaN, decimals,
  dates, timestamps with and without zones, lists, structs, dictionaries, binary),
  annotated to Parquet (every type and value must come back), CSV and JSONL;
* CSV headers with odd names (duplicates, empty, spaces, quotes, Unicode, names of
  eqn's own columns): the output header must be the input's, then eqn's columns;
* resume after a change (the input's content at the same size and mtime, the
  threshold, raw energies, the text column, the format), after a finished run or an
  interrupted one: the result must be refused or redone, never a stale output;
* damaged model folders (files removed, truncated or flipped, config keys removed
  or retyped, labels renamed): loading must give a typed error or a working model.

A *crash* is any exception other than eqn's typed errors. A *wrong output* is one
that succeeded but differs from what the input holds. A tiny random-weight LSTM model
stands in for the real one: the model is not what is being tested.

    python benchmarks/fuzz_inputs.py > benchmarks/results/fuzz.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

import pandas as pd

from eqn.annotation.files import annotate_file
from eqn.data import Dataset, ReaderOptions, read_table
from eqn.data.readers import iter_chunks
from eqn.errors import InputError, OutputExistsError
from eqn.model.estimator import EQN

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_structured  # noqa: E402

SEEDS = {
    "csv": b'id,text,extra\n1,"I love this, truly",x\n2,"So angry ""now""",y\n3,meh,z\n',
    "tsv": b"id\ttext\n1\tI love this\n2\tso sad\n",
    "jsonl": b'{"id": 12345678901234567890, "text": "I love it", "score": 0.1}\n'
    b'{"id": 2, "text": "meh"}\n',
    "txt": b"I love this\nso sad\nwhat a surprise\n",
}
DATASET_SEEDS = {
    "csv": b'text,labels\nI love it,joy\nso sad,sadness\n"a, b",joy\n',
    "jsonl": b'{"text": "I love it", "labels": "joy"}\n{"text": "meh", "labels": "sadness"}\n',
    "tsv": b"text\tlabels\nI love it\tjoy\nso sad\tsadness\n",
}
PIECES = [
    b'"',
    b",",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xe9",
    b"\\",
    b"text",
    b"\t",
    b"{}",
    b"\xed\xa0\x80",
    b"null",
    b"42",
    b"[",
    b"]",
    b":",
]


def mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        op, pos = rnd.random(), rnd.randrange(len(b) + 1)
        if op < 0.4:
            b[pos:pos] = rnd.choice(PIECES)
        elif op < 0.7 and len(b) > 1:
            del b[pos : pos + rnd.randint(1, 8)]
        else:
            b[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 4)))
    return bytes(b)


def tiny_model() -> EQN:
    texts = ["I love it", "so sad", "what a surprise", "I am angry", "thank you", "scary night"]
    labels = [["joy"], ["sadness"], ["surprise"], ["anger"], ["joy"], ["fear"]]
    data = Dataset.from_lists(texts, labels)
    return EQN(
        backbone="lstm",
        epochs=1,
        batch_size=2,
        dense_dim=8,
        backbone_options={"embedding_dim": 8, "hidden_size": 8, "max_length": 12},
    ).fit(data, data, progress=False)


def read_all(path: Path, fmt: str) -> pd.DataFrame:
    return pd.concat(list(iter_chunks(path, fmt, chunk_rows=2)), ignore_index=True)


def check_annotation(model: EQN, folder: Path, fmt: str, data: bytes) -> str:
    path = folder / f"in.{fmt}"
    path.write_bytes(data)
    out = folder / "out.jsonl"
    out.unlink(missing_ok=True)
    try:
        annotate_file(model, path, out, chunk_rows=2, progress=False, force=True)
    except (InputError, OutputExistsError):
        return "typed error"
    except Exception:
        return "crash: " + traceback.format_exc().strip().splitlines()[-1][:120]
    expected = read_all(path, fmt)
    got = pd.read_json(out, lines=True, dtype=False)
    if len(got) != len(expected):
        return f"wrong: {len(got)} rows written, {len(expected)} read"
    for column in expected.columns:
        if column not in got.columns:
            return f"wrong: column {column!r} missing"
        want = ["" if v is None else str(v) for v in expected[column]]
        have = ["" if v is None else str(v) for v in got[column]]
        if column in ("id",) and fmt != "jsonl":
            have = [str(v) for v in got[column]]
        if want != have and fmt != "jsonl":
            return f"wrong: column {column!r} changed"
    return "annotated"


def check_reader(folder: Path, fmt: str, data: bytes) -> str:
    path = folder / f"data.{fmt}"
    path.write_bytes(data)
    try:
        dataset = read_table(path, ReaderOptions())
    except InputError:
        return "typed error"
    except Exception:
        return "crash: " + traceback.format_exc().strip().splitlines()[-1][:120]
    if not all(t.strip() for t in dataset.texts) or dataset.gold.shape[0] != len(dataset.texts):
        return "wrong: empty text or misaligned gold"
    return "read"


def main() -> int:
    """Print the table; exit status 1 if any case crashed or gave a wrong output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotate", type=int, default=600)
    parser.add_argument("--read", type=int, default=1600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parquet", type=int, default=300)
    parser.add_argument("--headers", type=int, default=300)
    parser.add_argument("--resume", type=int, default=120)
    parser.add_argument("--model-folders", type=int, default=120)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    model = tiny_model()
    annotate_outcomes: Counter[str] = Counter()
    read_outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.annotate):
            fmt = list(SEEDS)[i % len(SEEDS)]
            outcome = check_annotation(model, folder, fmt, mutate(SEEDS[fmt], rnd))
            annotate_outcomes[
                outcome.split(":")[0] if outcome.startswith("wrong") else outcome
            ] += 1
            if outcome.startswith(("crash", "wrong")):
                print(f"<!-- annotate {fmt} #{i}: {outcome} -->")
        for i in range(args.read):
            fmt = list(DATASET_SEEDS)[i % len(DATASET_SEEDS)]
            outcome = check_reader(folder, fmt, mutate(DATASET_SEEDS[fmt], rnd))
            read_outcomes[outcome.split(":")[0] if outcome.startswith("wrong") else outcome] += 1
            if outcome.startswith(("crash", "wrong")):
                print(f"<!-- read {fmt} #{i}: {outcome} -->")
        structured = fuzz_structured.run_all(model, folder, rnd, args)

    def count(outcomes: Counter[str], prefix: str) -> int:
        return sum(n for k, n in outcomes.items() if k.startswith(prefix))

    print("# Fuzzing the readers and the file annotator\n")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. Seed {args.seed}. "
        "Command: `python benchmarks/fuzz_inputs.py "
        f"--annotate {args.annotate} --read {args.read} --parquet {args.parquet} "
        f"--headers {args.headers} --resume {args.resume} --model-folders {args.model_folders}`\n"
    )
    print("| target | cases | annotated or read | typed errors | crashes | wrong outputs |")
    print("|---|---|---|---|---|---|")
    targets = [
        ("file annotator", annotate_outcomes, args.annotate, "annotated"),
        ("dataset reader", read_outcomes, args.read, "read"),
        *((name, outcomes, sum(outcomes.values()), "ok") for name, outcomes in structured),
    ]
    for name, outcomes, total, ok in targets:
        print(
            f"| {name} | {total} | {outcomes[ok]} | {outcomes['typed error']} | "
            f"{count(outcomes, 'crash')} | {count(outcomes, 'wrong')} |"
        )
    every = [annotate_outcomes, read_outcomes, *(o for _, o in structured)]
    bad = sum(count(o, p) for o in every for p in ("crash", "wrong"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
