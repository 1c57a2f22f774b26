"""Batch-independent int8 recipes against fp32 and the per-batch dynamic int8.

ONNX Runtime's dynamic int8 scales activations per batch, so a text's energies
depend on its batch mates. Two ways out are scored here: activations per token
(``--runtime onnx-int8`` since 0.3, ``eqn/model/int8.py``), and static quantization,
which fixes every activation's range once, from dev texts (each scored alone).
Each recipe is scored on GoEmotions dev (chooses) and test (reported): in-process
texts/s (batches of 128), own-set macro F1 at the model's calibrated h, top-k_i
macro F1, the largest energy change between batch sizes 1, 7, 64 and 128 on 300
dev texts, and the distance from fp32.

    python benchmarks/int8_static.py --data-dir ../shared/data/goemotions \
        --out benchmarks/results/int8_static.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_TEXTS = 256


def _graph_facts(fp32: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    """Node names; the head and the first/last layers; the activation-by-activation
    MatMuls (attention scores and attention-weighted values); the feed-forward output
    projections (their inputs, after GELU, have the widest ranges)."""
    import onnx

    graph = onnx.load(str(fp32), load_external_data=False).graph
    names = [node.name for node in graph.node]
    layers = sorted({int(m.group(1)) for n in names if (m := re.search(r"/layer\.(\d+)/", n))})
    edges = (f"/layer.{layers[0]}/", f"/layer.{layers[-1]}/")
    first_last_head = [n for n in names if "/head/" in n or any(e in n for e in edges)]
    constant = {i.name for i in graph.initializer} | {
        o for node in graph.node if node.op_type == "Constant" for o in node.output
    }
    attention = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and not any(i in constant for i in node.input)
    ]
    feed_forward_out = [
        n for n in names if n.endswith("/output/dense/MatMul") and "/attention/" not in n
    ]
    return names, first_last_head, attention, feed_forward_out


def _quantize_static(
    fp32: Path,
    target: Path,
    texts: list[str],
    model: Any,
    exclude: list[str],
    operator_format: bool,
) -> float:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    items, _ = model.encode(texts)

    class OneTextAtATime(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(
                {
                    "input_ids": np.array([item], dtype=np.int64),
                    "attention_mask": np.ones((1, len(item)), dtype=np.int64),
                }
                for item in items
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    started = time.perf_counter()
    quantize_static(
        str(fp32),
        str(target),
        OneTextAtATime(),
        quant_format=QuantFormat.QOperator if operator_format else QuantFormat.QDQ,
        activation_type=QuantType.QUInt8 if operator_format else QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=exclude,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"ActivationSymmetric": not operator_format},
    )
    return time.perf_counter() - started


def _score(model: Any, splits: Any, few: list[str], reference: np.ndarray) -> dict[str, Any]:
    import eqn.core.energy as E
    from eqn.core.annotation import label_sets
    from eqn.core.metrics import evaluate_energies

    h = model.threshold_for(True)
    row: dict[str, Any] = {}
    for name, data in (("dev", splits.dev), ("test", splits.test)):
        started = time.perf_counter()
        energies = model.energies(data.texts, batch_size=128)
        seconds = time.perf_counter() - started
        topk = evaluate_energies(energies, data.gold, list(model.labels))
        row[name] = {
            "texts_per_s": round(len(data.texts) / seconds, 1),
            "macro_f1_own_sets": round(
                float(E.f1_per_label(label_sets(energies, h), data.gold).mean()), 4
            ),
            "topk_macro_f1": round(float(topk["paper"]["per_label"]["macro"]["f1"]), 4),
        }
    alone = model.energies(few, batch_size=1)
    row["max_drift_across_batch_sizes"] = max(
        float(np.abs(model.energies(few, batch_size=b) - alone).max()) for b in (7, 64, 128)
    )
    row["max_abs_diff_vs_fp32"] = round(float(np.abs(alone - reference).max()), 4)
    row["mean_abs_diff_vs_fp32"] = round(float(np.abs(alone - reference).mean()), 4)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/goemotions")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/int8_static.json"))
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's advice goes to the root logger

    from eqn.data import load_dataset
    from eqn.model.inference import DEFAULT_MODEL_DIR
    from eqn.model.int8 import quantize_int8
    from eqn.model.onnx import OnnxModel, ensure_export
    from eqn.model.runtime import load_model

    splits = load_dataset("goemotions", data_dir=args.data_dir)
    fp32_model = load_model(DEFAULT_MODEL_DIR, runtime="onnx")
    fp32 = ensure_export(DEFAULT_MODEL_DIR, fp32_model.model_hash, "onnx")
    int8 = ensure_export(DEFAULT_MODEL_DIR, fp32_model.model_hash, "onnx-int8")
    few = splits.dev.texts[:300]
    reference = fp32_model.energies(few, batch_size=1)
    rng = np.random.default_rng(0)
    calibration = [
        splits.dev.texts[i] for i in rng.choice(len(splits.dev), CALIBRATION_TEXTS, replace=False)
    ]
    _, first_last_head, attention, feed_forward_out = _graph_facts(fp32)
    head = [n for n in first_last_head if "/head/" in n]
    recipes: dict[str, tuple[list[str], bool] | None] = {
        "fp32": None,
        "int8, activations per token, every layer, head fp32 (--runtime onnx-int8)": None,
        "dynamic int8, activations per batch, first/last layers and head fp32 (before 0.3)": None,
        "static, QDQ s8, first/last layers and head fp32": (first_last_head, False),
        "static, U8 operators, first/last layers and head fp32": (first_last_head, True),
        "static, U8 operators, every layer, head fp32": (head, True),
        "static, U8 operators, every layer, head and attention MatMuls fp32": (
            head + attention,
            True,
        ),
        "static, U8 operators, every layer, head, attention and feed-forward output fp32": (
            head + attention + feed_forward_out,
            True,
        ),
    }
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, recipe in recipes.items():
            model = OnnxModel.load(DEFAULT_MODEL_DIR, runtime="onnx")
            row: dict[str, Any] = {"recipe": name}
            if recipe is not None:
                target = Path(folder) / f"static-{len(rows)}.onnx"
                row["build_seconds"] = round(
                    _quantize_static(fp32, target, calibration, model, *recipe), 1
                )
                model._start(DEFAULT_MODEL_DIR, target)
            elif "onnx-int8" in name:
                model._start(DEFAULT_MODEL_DIR, int8)
            elif "per batch" in name:
                target = Path(folder) / "per-batch.onnx"
                quantize_int8(fp32, target, keep_fp32=first_last_head, per_token=False)
                model._start(DEFAULT_MODEL_DIR, target)
            row.update(_score(model, splits, few, reference))
            print(json.dumps(row), flush=True)
            rows.append(row)
    record = {
        "command": f"python benchmarks/int8_static.py --data-dir {args.data_dir}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only",
        "calibration_texts": CALIBRATION_TEXTS,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
