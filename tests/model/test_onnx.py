"""The ONNX runtimes: the same energies as torch, cached exports, no torch at run time."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from eqn.errors import ModelError
from eqn.model import onnx as onnx_runtime
from eqn.model.estimator import EQN
from eqn.model.onnx import OnnxModel
from eqn.model.runtime import load_model
from tests.conftest import SENTENCES

TEXTS = [text for text, _ in SENTENCES] + ["", "a text far longer than the tiny model allows " * 4]


def test_onnx_energies_match_torch(tiny_transformer_dir):
    torch_model = EQN.load(tiny_transformer_dir)
    onnx_model = load_model(tiny_transformer_dir, device="cpu", runtime="onnx")
    assert isinstance(onnx_model, OnnxModel)
    for calibrated in (True, False):
        expected = torch_model.energies(TEXTS, calibrated=calibrated)
        found = onnx_model.energies(TEXTS, calibrated=calibrated)
        assert np.abs(found - expected).max() < 1e-3
        assert found.min() >= 0 and found.max() <= 10
    assert onnx_model.predict(TEXTS) == torch_model.predict(TEXTS)
    frame = onnx_model.annotate(TEXTS)
    assert list(frame.columns) == list(torch_model.annotate(TEXTS).columns)
    assert frame["eqn_flag"].tolist()[-2:] == ["empty", "truncated"]


def test_int8_stays_close_to_torch_and_on_the_scale(tiny_transformer_dir):
    # Uncalibrated: a tiny model's calibration maps are steep, and magnify small differences.
    torch_energies = EQN.load(tiny_transformer_dir).energies(TEXTS, calibrated=False)
    int8 = load_model(tiny_transformer_dir, device="cpu", runtime="onnx-int8")
    energies = int8.energies(TEXTS, calibrated=False)
    assert energies.shape == torch_energies.shape
    assert energies.min() >= 0 and energies.max() <= 10
    assert np.abs(energies - torch_energies).mean() < 0.5
    assert int8.provenance(True, 1.0)["runtime"] == "onnx-int8"
    import onnx

    ops = {node.op_type for node in onnx.load(str(int8.graph_)).graph.node}
    assert "MatMulIntegerToFloat" in ops and "DynamicQuantizeLinear" not in ops  # per token


def test_int8_energies_do_not_depend_on_batch_mates(tiny_transformer_dir):
    int8 = load_model(tiny_transformer_dir, device="cpu", runtime="onnx-int8")
    texts = TEXTS * 3 + ["a longer text, so that the others are padded in its batch " * 2]
    alone = int8.energies(texts, batch_size=1, calibrated=False)
    for batch_size in (2, 7, len(texts)):
        batched = int8.energies(texts, batch_size=batch_size, calibrated=False)
        assert np.abs(batched - alone).max() <= 1e-5, batch_size


def test_the_per_batch_int8_recipe_still_builds_for_comparison(tiny_transformer_dir, tmp_path):
    import onnx

    from eqn.model.int8 import quantize_int8

    fp32 = Path(load_model(tiny_transformer_dir, device="cpu", runtime="onnx").graph_)
    quantize_int8(fp32, tmp_path / "per-batch.onnx", per_token=False)
    ops = {node.op_type for node in onnx.load(str(tmp_path / "per-batch.onnx")).graph.node}
    assert "DynamicQuantizeLinear" in ops


def test_the_tokenizer_of_the_onnx_path_matches_the_model(tiny_transformer_dir):
    torch_model = EQN.load(tiny_transformer_dir)
    onnx_model = load_model(tiny_transformer_dir, device="cpu", runtime="onnx")
    assert onnx_model.encode(TEXTS) == torch_model.encode(TEXTS)


def test_exports_are_cached_by_hash_outside_the_package(
    tiny_transformer_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("EQN_HOME", str(tmp_path / "cache"))
    model = load_model(tiny_transformer_dir, device="cpu", runtime="onnx-int8")
    graph = Path(model.graph_)
    assert graph.is_relative_to(tmp_path / "cache") and model.model_hash in str(graph)
    assert not any(Path(tiny_transformer_dir).rglob("*.onnx"))
    before = graph.stat().st_mtime_ns
    load_model(tiny_transformer_dir, device="cpu", runtime="onnx-int8")
    assert graph.stat().st_mtime_ns == before  # reused, not exported again
    assert not list(graph.parent.glob(".partial-*"))


def test_two_exports_at_once_do_not_clash(tiny_transformer_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EQN_HOME", str(tmp_path / "cache"))
    calls = []
    real_export = onnx_runtime.export_onnx
    monkeypatch.setattr(
        onnx_runtime, "export_onnx", lambda *a: (calls.append(1), real_export(*a))[1]
    )
    results, errors = [], []

    def load() -> None:
        try:
            results.append(load_model(tiny_transformer_dir, device="cpu", runtime="onnx"))
        except Exception as error:  # pragma: no cover - the assertion reports it
            errors.append(error)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 3 and len(calls) == 1
    expected = results[0].energies(TEXTS)
    assert all(np.array_equal(r.energies(TEXTS), expected) for r in results)


def test_a_damaged_cached_graph_says_how_to_recover(tiny_transformer_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EQN_HOME", str(tmp_path / "cache"))
    graph = Path(load_model(tiny_transformer_dir, device="cpu", runtime="onnx").graph_)
    graph.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="cannot be loaded .*delete it"):
        load_model(tiny_transformer_dir, device="cpu", runtime="onnx")


def test_the_onnx_path_does_not_import_torch(tiny_transformer_dir):
    load_model(tiny_transformer_dir, device="cpu", runtime="onnx")  # export cached first
    code = (
        "import sys; from eqn.model.runtime import load_model; "
        f"m = load_model({str(tiny_transformer_dir)!r}, device='cpu', runtime='onnx'); "
        "m.annotate(['I love it']); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
