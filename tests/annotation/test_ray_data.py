"""The Ray Data path (--layout blocks, URIs): the local engine's values, in input order,
written by the workers, resumable per file; on a local S3 server too."""

import json
import os
import socket
from pathlib import Path

import pandas as pd
import pytest

from eqn.annotation import files as A
from eqn.annotation.options import AnnotateOptions
from eqn.errors import InputError, OutputExistsError
from eqn.model.estimator import EQN

ray = pytest.importorskip("ray")
from eqn.annotation.ray_data import (  # noqa: E402
    RUN_RECORD,
    RayDataEngine,
    SavedModel,
    annotate_blocks,
    is_uri,
)

OPTIONS = AnnotateOptions(chunk_rows=7, progress=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server():
    """A local S3 server (moto); its address reaches the Ray workers through the environment."""
    moto_server = pytest.importorskip("moto.server")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    settings = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    yield f"http://127.0.0.1:{port}"
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


@pytest.fixture(scope="module")
def engine(tiny_model_dir, s3_server):
    # started after the S3 settings, so that the workers inherit them
    engine = RayDataEngine(SavedModel(str(tiny_model_dir), "torch"), num_cpus=2, actors=2)
    yield engine
    engine.close()


def _rows(n):
    return [f"{i:03d}" for i in range(n)], [f"text {i}: I love it, so sad" for i in range(n)]


def _parts(folder: Path, fmt: str) -> pd.DataFrame:
    parts = sorted(folder.glob(f"part-*.{fmt}"))
    if fmt == "parquet":
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    if fmt == "jsonl":
        records = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
        return pd.DataFrame(records)
    return pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts], ignore_index=True
    )


def test_uris_are_told_from_paths():
    assert is_uri("s3://bucket/x.csv") and is_uri("gs://b/p")
    assert not is_uri("/data/x.csv") and not is_uri("x.csv")


def test_a_first_record_longer_than_one_read_is_read_whole(tmp_path):
    from eqn.annotation.ray_data import _check_first_record, expand_locations

    path = tmp_path / "long.jsonl"
    long_text = "a fine day " * 20_000  # 220 kB: more than one 64 KiB read
    path.write_text(json.dumps({"text": long_text}) + "\n" + json.dumps({"text": "x"}) + "\n")
    (source,) = expand_locations([str(path)])
    _check_first_record(source, OPTIONS)  # valid, though longer than one read
    path.write_text(json.dumps({"body": long_text}) + "\n")
    with pytest.raises(InputError, match="column 'text' not found"):
        _check_first_record(source, OPTIONS)


def test_csv_blocks_match_the_local_engine_in_order_with_values_as_written(model, engine, tmp_path):
    ids, texts = _rows(40)
    source = tmp_path / "in.csv"
    pd.DataFrame({"id": ids, "text": texts, "empty": [""] * 40}).to_csv(source, index=False)
    summary = annotate_blocks(model, [str(source)], str(tmp_path / "out"), OPTIONS, engine)
    A.annotate_file(model, source, tmp_path / "local.csv", OPTIONS)
    blocks = _parts(tmp_path / "out", "csv")
    local = pd.read_csv(tmp_path / "local.csv", dtype=str, keep_default_na=False)
    assert len(list((tmp_path / "out").glob("part-*"))) > 1  # several blocks
    pd.testing.assert_frame_equal(blocks, local)
    assert blocks["id"].iloc[7] == "007" and summary.rows == 40
    record = json.loads((tmp_path / "out" / RUN_RECORD).read_text())
    assert record["summary"]["rows"] == 40 and len(record["signature"]["content_sha256"]) == 64


def test_parquet_blocks_keep_arrow_types(model, engine, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids, texts = _rows(20)
    table = pa.table(
        {
            "n": pa.array([i if i % 3 else None for i in range(20)], pa.int64()),
            "tags": pa.array([["a", "b"]] * 20, pa.list_(pa.string())),
            "text": texts,
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    annotate_blocks(model, [str(tmp_path / "in.parquet")], str(tmp_path / "out"), OPTIONS, engine)
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    written = pa.concat_tables([pq.read_table(p) for p in parts])
    assert written.schema.field("n").type == pa.int64()
    assert written.column("n").to_pylist() == table.column("n").to_pylist()
    assert written.column("tags").to_pylist()[0] == ["a", "b"]


def test_jsonl_blocks_keep_records_as_parsed(model, engine, tmp_path):
    lines = [json.dumps({"big": 2**63 + i, "text": t}) for i, t in enumerate(_rows(15)[1])]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    annotate_blocks(model, [str(tmp_path / "in.jsonl")], str(tmp_path / "out"), OPTIONS, engine)
    parts = sorted((tmp_path / "out").glob("part-*.jsonl"))
    records = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
    assert [r["big"] for r in records] == [2**63 + i for i in range(15)]


def test_resume_is_per_input_file_never_per_block(model, engine, tmp_path):
    ids, texts = _rows(30)
    source = tmp_path / "in.csv"
    pd.DataFrame({"id": ids, "text": texts}).to_csv(source, index=False)
    out = str(tmp_path / "out")
    annotate_blocks(model, [str(source)], out, OPTIONS, engine)
    again = annotate_blocks(model, [str(source)], out, OPTIONS.replace(resume=True), engine)
    assert again.skipped == [out]
    # an unfinished run (no run record) is refused without resume, redone with it
    (tmp_path / "out" / RUN_RECORD).unlink()
    (tmp_path / "out" / "part-999999-0000-0000.csv").write_text("stale")
    with pytest.raises(OutputExistsError, match="parts of an unfinished run; pass resume=True"):
        annotate_blocks(model, [str(source)], out, OPTIONS, engine)
    redone = annotate_blocks(model, [str(source)], out, OPTIONS.replace(resume=True), engine)
    assert redone.rows == 30 and not (tmp_path / "out" / "part-999999-0000-0000.csv").exists()
    # another threshold, or another input, is never reported as done
    with pytest.raises(OutputExistsError, match="not from this input or these options"):
        annotate_blocks(
            model, [str(source)], out, OPTIONS.replace(resume=True, threshold=3.0), engine
        )


def test_bad_inputs_are_refused_by_name(model, engine, tmp_path):
    (tmp_path / "dup.csv").write_text("id,text,id\n1,hi,2\n")
    with pytest.raises(InputError, match="names column 'id' twice"):
        annotate_blocks(model, [str(tmp_path / "dup.csv")], str(tmp_path / "o"), OPTIONS, engine)
    with pytest.raises(InputError, match="does not exist"):
        annotate_blocks(model, [str(tmp_path / "nope.csv")], str(tmp_path / "o2"), OPTIONS, engine)
    (tmp_path / "in.csv").write_text("text\nhello\n")
    with pytest.raises(InputError, match="label-studio is one document per input"):
        annotate_blocks(
            model,
            [str(tmp_path / "in.csv")],
            str(tmp_path / "o3"),
            OPTIONS.replace(fmt="label-studio"),
            engine,
        )


def test_s3_in_and_out_through_a_local_server(model, engine, s3_server, tmp_path):
    import pyarrow.fs as pafs

    s3 = pafs.S3FileSystem(
        endpoint_override=s3_server, scheme="http", region="us-east-1", allow_bucket_creation=True
    )
    s3.create_dir("corpus")
    ids, texts = _rows(25)
    frame = pd.DataFrame({"id": ids, "text": texts})
    for name in ("a.csv", "b.csv"):
        with s3.open_output_stream(f"corpus/in/{name}") as stream:
            stream.write(frame.to_csv(index=False).encode())
    summary = annotate_blocks(model, ["s3://corpus/in"], "s3://corpus/out", OPTIONS, engine)
    assert summary.rows == 50 and not summary.failed
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        found = s3.get_file_info(pafs.FileSelector(f"corpus/out/{name}.eqn.csv"))
        for info in found:
            with s3.open_input_stream(info.path) as stream:
                (folder / Path(info.path).name).write_bytes(stream.read())
        written = _parts(folder, "csv")
        assert written["id"].tolist() == ids and (folder / RUN_RECORD).is_file()


def test_the_cli_takes_the_blocks_layout_and_its_errors(tiny_model_dir, engine, tmp_path):
    from typer.testing import CliRunner

    from eqn.cli import app

    source = tmp_path / "in.csv"
    source.write_text("text\nI love it\nso sad\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["annotate", str(source), "-m", str(tiny_model_dir), "-o", str(out), "--layout", "blocks"],
    )
    assert result.exit_code == 0, result.output
    assert (out / RUN_RECORD).is_file() and "2 rows" in result.output
    again = CliRunner().invoke(
        app,
        ["annotate", str(source), "-m", str(tiny_model_dir), "-o", str(out), "--layout", "blocks"],
    )
    assert again.exit_code != 0 and "--force" in again.output
    bad = CliRunner().invoke(app, ["annotate", str(source), "--layout", "rows"])
    assert bad.exit_code != 0 and "unknown layout 'rows'" in bad.output


def test_jsonl_blocks_need_the_text_key_in_the_first_record(model, engine, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"body": "hi"}\n{"text": "so sad"}\n')
    with pytest.raises(InputError, match="column 'text' not found .* found columns: 'body'"):
        annotate_blocks(model, [str(tmp_path / "in.jsonl")], str(tmp_path / "o"), OPTIONS, engine)
