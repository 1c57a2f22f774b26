"""The structured fuzz targets of ``fuzz_inputs.py``: Parquet types, CSV headers, resume
after a change, damaged model folders. Each case's outcome is ``ok``, ``typed error``,
``crash: ...`` or ``wrong: ...``."""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
import random
import shutil
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from eqn.annotation.files import annotate_file
from eqn.errors import EqnError, OutputExistsError
from eqn.model.estimator import EQN

TEXTS = ["I love it", "so sad", "what a surprise", "", "I am angry", "thank you"]


def _outcome(check: Callable[[], str]) -> str:
    try:
        return check()
    except EqnError:
        return "typed error"
    except Exception:
        return "crash: " + traceback.format_exc().strip().splitlines()[-1][:120]


# -- Parquet and Arrow types ---------------------------------------------------------------
def _column(rnd: random.Random, rows: int) -> tuple[pa.DataType, list[Any]]:
    def maybe(value: Any) -> Any:
        return None if rnd.random() < 0.2 else value

    kind = rnd.randrange(14)
    if kind == 0:
        tops = {pa.int8(): 100, pa.int16(): 30000, pa.int32(): 2**31 - 1, pa.int64(): 2**62}
        width = rnd.choice([*tops, pa.uint64()])
        top = tops.get(width, 2**64 - 1)
        return width, [maybe(rnd.randint(0, top)) for _ in range(rows)]
    if kind == 1:
        specials = [math.nan, math.inf, 1.4e-45, 0.1, -0.0, 1e300]
        return pa.float64(), [maybe(rnd.choice(specials)) for _ in range(rows)]
    if kind == 2:
        return pa.float32(), [maybe(rnd.choice([0.1, 1.4e-45, 3.5])) for _ in range(rows)]
    if kind == 3:
        return pa.bool_(), [maybe(rnd.random() < 0.5) for _ in range(rows)]
    if kind == 4:
        pieces = ["a", "é", "\u200b", "\t", '"', ",", "\n", "日本", "null", "007", ""]
        text = ["".join(rnd.choices(pieces, k=3)) for _ in range(rows)]
        return pa.string(), [maybe(t) for t in text]
    if kind == 5:
        scale = rnd.randint(0, 4)
        values = [decimal.Decimal(rnd.randint(-9999, 9999)).scaleb(-scale) for _ in range(rows)]
        return pa.decimal128(9, scale), [maybe(v) for v in values]
    if kind == 6:
        day = datetime.date(1970, 1, 1)
        return pa.date32(), [
            maybe(day + datetime.timedelta(rnd.randint(-9999, 9999))) for _ in range(rows)
        ]
    if kind == 7:
        unit, zone = rnd.choice(["s", "ms", "us"]), rnd.choice([None, "UTC", "Europe/Paris"])
        start = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc if zone else None)
        stamps = [start + datetime.timedelta(seconds=rnd.randint(0, 10**9)) for _ in range(rows)]
        return pa.timestamp(unit, tz=zone), [maybe(t) for t in stamps]
    if kind == 8:
        return pa.list_(pa.int64()), [
            maybe([rnd.randint(0, 9)] * rnd.randint(0, 3)) for _ in range(rows)
        ]
    if kind == 9:
        kind_ = pa.struct([("a", pa.int64()), ("b", pa.string())])
        return kind_, [maybe({"a": maybe(rnd.randint(0, 9)), "b": maybe("x")}) for _ in range(rows)]
    if kind == 10:
        return pa.dictionary(pa.int32(), pa.string()), [
            maybe(rnd.choice(["x", "y"])) for _ in range(rows)
        ]
    if kind == 11:
        return pa.binary(), [maybe(bytes([rnd.randrange(256)])) for _ in range(rows)]
    if kind == 12:
        return pa.large_string(), [maybe("big") for _ in range(rows)]
    return pa.null(), [None] * rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def check_parquet(model: EQN, folder: Path, rnd: random.Random) -> str:
    rows = rnd.randint(1, 6)
    columns = {f"c{i}": _column(rnd, rows) for i in range(rnd.randint(1, 4))}
    arrays = {name: pa.array(values, kind) for name, (kind, values) in columns.items()}
    arrays["text"] = pa.array([rnd.choice(TEXTS) for _ in range(rows)])
    source = folder / "in.parquet"
    pq.write_table(pa.table(arrays), source)
    table = pq.read_table(source)  # what the file holds (Parquet stores seconds as ms)
    fmt = rnd.choice(["parquet", "csv", "jsonl"])
    target = folder / f"out.{fmt}"

    def run() -> str:
        annotate_file(
            model, source, target, chunk_rows=rnd.randint(1, 4), force=True, progress=False
        )
        if fmt == "parquet":
            written = pq.read_table(target)
            for name in table.column_names:
                want, got = table.schema.field(name).type, written.schema.field(name).type
                if want != got:
                    return f"wrong: column {name} {want} became {got}"
                if not all(
                    map(_same, table.column(name).to_pylist(), written.column(name).to_pylist())
                ):
                    return f"wrong: values of {name} ({want}) changed"
        elif fmt == "csv":
            written_csv = pd.read_csv(target, dtype=str, keep_default_na=False)
            if (
                len(written_csv) != rows
                or list(written_csv.columns[: len(table.column_names)]) != table.column_names
            ):
                return "wrong: rows or columns of the CSV"
        else:
            lines = target.read_text(encoding="utf-8").splitlines()
            records = [json.loads(line) for line in lines]  # strict JSON: no NaN
            if len(records) != rows:
                return "wrong: rows of the JSONL"
            for name in table.column_names:
                for value, record in zip(table.column(name).to_pylist(), records, strict=True):
                    if (
                        isinstance(value, int)
                        and not isinstance(value, bool)
                        and record[name] != value
                    ):
                        return f"wrong: integer {value} in {name} became {record[name]}"
        return "ok"

    return _outcome(run)


# -- CSV headers ---------------------------------------------------------------------------
HEADER_PIECES = [
    "id",
    "text",
    "",
    " ",
    "é",
    '"q"',
    "macro_emotion",
    "joy",
    "a b",
    "1",
    "text ",
    "\ufeffx",
]


def check_header(model: EQN, folder: Path, rnd: random.Random) -> str:
    names = [rnd.choice(HEADER_PIECES) for _ in range(rnd.randint(1, 4))]
    if "text" not in names:
        names.insert(rnd.randrange(len(names) + 1), "text")
    if names[0].startswith("\ufeff"):
        names.insert(0, "id")  # a file that starts with U+FEFF starts with its encoding's mark
    source = folder / "h.csv"
    frame = pd.DataFrame([[f"v{i}" if n != "text" else "I love it" for i, n in enumerate(names)]])
    source.write_text(frame.to_csv(index=False, header=names), encoding="utf-8")
    target = folder / "h.out.csv"

    def run() -> str:
        annotate_file(model, source, target, force=True, progress=False)
        with target.open(encoding="utf-8", newline="") as stream:
            import csv

            header = next(csv.reader(stream))
        if header[: len(names)] != names:
            return f"wrong: header {names} became {header[: len(names)]}"
        return "ok"

    return _outcome(run)


# -- resume after a change -----------------------------------------------------------------
def check_resume(model: EQN, folder: Path, rnd: random.Random) -> str:
    source = folder / "r.csv"
    rows = [rnd.choice(TEXTS) or "meh" for _ in range(rnd.randint(3, 8))]
    source.write_text("text,body\n" + "".join(f"{t},{t[::-1]}\n" for t in rows), encoding="utf-8")
    target = folder / "r.out.csv"
    target.unlink(missing_ok=True)
    for leftover in folder.glob(".r.out.csv.parts"):
        shutil.rmtree(leftover)
    options: dict[str, Any] = {"chunk_rows": 2, "progress": False}
    interrupted = rnd.random() < 0.5
    if interrupted:
        _interrupt_after_one_chunk(model, source, target, options)
    else:
        annotate_file(model, source, target, **options)
    change = rnd.choice(["content", "threshold", "raw", "text_col", "none"])
    changed = dict(options)
    if change == "content":
        stat = source.stat()
        text = source.read_text(encoding="utf-8")
        source.write_text(
            text.replace("o", "0", 1) if "o" in text else text.replace("e", "3", 1),
            encoding="utf-8",
        )
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif change == "threshold":
        changed["threshold"] = 3.3
    elif change == "raw":
        changed["raw"] = True
    elif change == "text_col":
        changed["text_col"] = "body"

    def run() -> str:
        try:
            annotate_file(model, source, target, resume=True, **changed)
        except OutputExistsError:
            return "ok" if change != "none" else "wrong: an unchanged run was refused"
        fresh = folder / "r.fresh.csv"
        annotate_file(model, source, fresh, force=True, **changed)
        if target.read_bytes() != fresh.read_bytes():
            return f"wrong: resume after a {change} change kept a stale output"
        return "ok"

    return _outcome(run)


def _interrupt_after_one_chunk(
    model: EQN, source: Path, target: Path, options: dict[str, Any]
) -> None:
    from eqn.annotation import files

    real = files.write_frame
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        real(*args, **kwargs)

    files.write_frame = failing  # type: ignore[assignment]
    try:
        annotate_file(model, source, target, **options)
    except (KeyboardInterrupt, EqnError):
        pass
    finally:
        files.write_frame = real  # type: ignore[assignment]


# -- damaged model folders -----------------------------------------------------------------
def check_model_folder(model_dir: Path, folder: Path, rnd: random.Random) -> str:
    damaged = folder / "damaged-model"
    shutil.rmtree(damaged, ignore_errors=True)
    shutil.copytree(model_dir, damaged)
    files = sorted(p for p in damaged.rglob("*") if p.is_file())
    victim = rnd.choice(files)
    action = rnd.choice(["remove", "truncate", "flip", "config-key", "config-type", "labels"])
    if action == "remove":
        victim.unlink()
    elif action == "truncate":
        victim.write_bytes(
            victim.read_bytes()[: rnd.randint(0, max(1, victim.stat().st_size // 2))]
        )
    elif action == "flip":
        data = bytearray(victim.read_bytes())
        if data:
            data[rnd.randrange(len(data))] ^= 0xFF
        victim.write_bytes(bytes(data))
    else:
        path = damaged / "config.json"
        config = json.loads(path.read_text())
        if action == "config-key":
            section = rnd.choice([config, config.get("config", {}), config.get("thresholds", {})])
            if section:
                section.pop(rnd.choice(list(section)), None)
        elif action == "config-type":
            key = rnd.choice(list(config))
            config[key] = rnd.choice([None, 3, "x", [], {}])
        else:
            config["labels"] = [f"L{i}" for i in range(len(config.get("labels", [])))]
        path.write_text(json.dumps(config))

    def run() -> str:
        loaded = EQN.load(damaged)
        energies = loaded.energies(["I love it", "so sad"])
        if energies.shape != (2, len(loaded.labels)):
            return "wrong: energies of the wrong shape"
        return "ok"

    return _outcome(run)


def run_all(
    model: EQN, folder: Path, rnd: random.Random, args: Any
) -> list[tuple[str, Counter[str]]]:
    """Every structured target; prints a comment line per crash or wrong output."""
    model_dir = model.save(folder / "fuzz-model", force=True)
    targets: list[tuple[str, int, Callable[[], str]]] = [
        ("Parquet types", args.parquet, lambda: check_parquet(model, folder, rnd)),
        ("CSV headers", args.headers, lambda: check_header(model, folder, rnd)),
        ("resume after a change", args.resume, lambda: check_resume(model, folder, rnd)),
        ("model folders", args.model_folders, lambda: check_model_folder(model_dir, folder, rnd)),
    ]
    results = []
    for name, cases, case in targets:
        outcomes: Counter[str] = Counter()
        for i in range(cases):
            outcome = _outcome(case)
            outcomes[outcome.split(":")[0] if outcome.startswith("wrong") else outcome] += 1
            if outcome.startswith(("crash", "wrong")):
                print(f"<!-- {name} #{i}: {outcome} -->")
        results.append((name, outcomes))
    return results
