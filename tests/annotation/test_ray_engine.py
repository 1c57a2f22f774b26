"""The Ray engine writes what the local engine writes, on a local two-CPU cluster."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from eqn.annotation.files import annotate_paths
from eqn.errors import InputError
from eqn.model.runtime import load_model
from tests.conftest import SENTENCES

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _folder(root: Path, files: int = 3, rows: int = 25) -> Path:
    folder = root / "in"
    folder.mkdir()
    for k in range(files):
        with (folder / f"part{k}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "note"])
            for i in range(rows):
                writer.writerow([f"{k}-{i}", SENTENCES[(i * 7 + k) % len(SENTENCES)][0], i])
    return folder


@pytest.mark.parametrize("model_fixture", ["tiny_model_dir", "tiny_transformer_dir"])
def test_ray_writes_the_same_files_rows_and_values(model_fixture, request, cluster, tmp_path):
    from eqn.annotation.ray_engine import RayEngine

    model_dir = request.getfixturevalue(model_fixture)
    folder = _folder(tmp_path)
    model = load_model(model_dir, device="cpu")
    local = annotate_paths(model, [folder], tmp_path / "local", chunk_rows=7, progress=False)
    engine = RayEngine(model_dir, model.runtime, "cpu")
    try:
        distributed = annotate_paths(
            model, [folder], tmp_path / "ray", chunk_rows=7, progress=False, engine=engine
        )
    finally:
        engine.close()
    assert len(engine.actors) == 0 and ray.is_initialized()  # it did not own the cluster
    assert distributed.rows == local.rows == 75
    for name in sorted(p.name for p in (tmp_path / "local").iterdir()):
        expected = (tmp_path / "local" / name).read_bytes()
        assert (tmp_path / "ray" / name).read_bytes() == expected, name


def test_an_error_in_an_actor_reaches_the_caller_as_itself(tiny_model_dir, cluster, tmp_path):
    from eqn.annotation.options import AnnotateOptions
    from eqn.annotation.ray_engine import RayEngine

    folder = _folder(tmp_path, files=1)
    model = load_model(tiny_model_dir, device="cpu")
    engine = RayEngine(tiny_model_dir, model.runtime, "cpu", actors=1)
    try:
        chunks = [__import__("pandas").DataFrame({"sentence": ["hi"]})]
        with pytest.raises(InputError, match="column 'text' not found"):
            list(engine.map(chunks, folder / "part0.csv", AnnotateOptions(threshold=5.0)))
    finally:
        engine.close()


def test_the_cli_runs_the_ray_engine(tiny_model_dir, cluster, tmp_path):
    from typer.testing import CliRunner

    from eqn.cli import app

    folder = _folder(tmp_path, files=2, rows=10)
    args = ["annotate", str(folder), "--model", str(tiny_model_dir), "--no-progress"]
    assert CliRunner().invoke(app, [*args, "-o", str(tmp_path / "a")]).exit_code == 0
    result = CliRunner().invoke(app, [*args, "--engine", "ray", "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    for name in ("part0.eqn.csv", "part1.eqn.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    bad = CliRunner().invoke(app, [*args, "--engine", "spark", "-o", str(tmp_path / "c")])
    assert bad.exit_code == 2 and "unknown engine 'spark'" in bad.output
