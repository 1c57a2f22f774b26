"""The runtimes side by side on GoEmotions dev and test: texts/s and quality.

For each runtime (torch, onnx, onnx-int8) the shipped model (or ``--model``)
scores dev and test (10,853 texts, length-sorted batches of 128) after a
warm-up; the ONNX exports are made (and cached) before timing. Quality is the
macro F1 of the model's own label sets (calibrated energies, the model's tuned
h) and the top-k_i macro F1, each against torch on the same texts.

``--recipes`` also scores dev with int8 graphs quantized other ways, the
evidence behind the shipped recipe (which layers stay in fp32).

    python benchmarks/runtimes.py --data-dir ../shared/data/goemotions --recipes \
        --out benchmarks/results/runtimes.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from eqn.core import energy as E
from eqn.core import metrics as M
from eqn.data.named import load_dataset
from eqn.model.inference import DEFAULT_MODEL_DIR
from eqn.model.runtime import load_model


def quality(energies: np.ndarray, gold: np.ndarray, threshold: float) -> dict[str, float]:
    own = E.classify_threshold(energies, threshold, keep_top=True)
    return {
        "macro_f1_own_sets": round(float(E.f1_per_label(own, gold).mean()), 4),
        "topk_macro_f1": round(
            float(E.f1_per_label(M.top_k_i_predictions(energies, gold), gold).mean()), 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="../shared/data/goemotions")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--recipes", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/runtimes.json"))
    args = parser.parse_args()
    splits = load_dataset("goemotions", data_dir=args.data_dir)
    texts = splits.dev.texts + splits.test.texts
    n_dev = len(splits.dev)
    rows = []
    reference = None
    for runtime in ("torch", "onnx", "onnx-int8"):
        started = time.perf_counter()
        model = load_model(args.model, device="cpu", runtime=runtime)
        load_seconds = time.perf_counter() - started
        model.energies(texts[:256])  # warm-up
        started = time.perf_counter()
        energies = model.energies(texts)
        seconds = time.perf_counter() - started
        h = model.threshold_for(True)
        row = {
            "runtime": runtime,
            "load_s": round(load_seconds, 2),
            "texts_per_s": round(len(texts) / seconds, 1),
            "dev": quality(energies[:n_dev], splits.dev.gold, h),
            "test": quality(energies[n_dev:], splits.test.gold, h),
        }
        if reference is None:
            reference = energies
        row["max_abs_diff_vs_torch"] = round(float(np.abs(energies - reference).max()), 4)
        row["mean_abs_diff_vs_torch"] = round(float(np.abs(energies - reference).mean()), 4)
        if runtime == "onnx-int8":
            # The same texts in other batches (0 since activations are quantized per token).
            again = model.energies(splits.dev.texts, batch_size=64)
            row["dev_max_abs_diff_batch_64_vs_128"] = round(
                float(np.abs(again - energies[:n_dev]).max()), 4
            )
        print(json.dumps(row), flush=True)
        rows.append(row)
    recipes = []
    if args.recipes:
        import onnx

        from eqn.model.int8 import quantize_int8
        from eqn.model.onnx import export_path

        model = load_model(args.model, device="cpu", runtime="onnx")
        fp32 = export_path(model.model_hash, "onnx")
        names = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type in ("MatMul", "Gemm")]
        head = [n for n in names if "/head/" in n]
        candidates = {
            "every encoder layer int8 (head fp32; shipped)": head,
            "layer 0 and head fp32": head + [n for n in names if "/layer.0/" in n],
            "last layer and head fp32": head + [n for n in names if "/layer.5/" in n],
            "first and last layers and head fp32": head
            + [n for n in names if "/layer.0/" in n or "/layer.5/" in n],
        }
        with tempfile.TemporaryDirectory() as folder:
            for name, keep in candidates.items():
                graph = Path(folder) / "candidate.onnx"
                quantize_int8(fp32, graph, keep_fp32=keep)
                model._start(Path(args.model), graph)
                started = time.perf_counter()
                energies = model.energies(splits.dev.texts)
                seconds = time.perf_counter() - started
                few = splits.dev.texts[:300]  # the same texts alone and in batches of 128
                drift = np.abs(model.energies(few, batch_size=1) - energies[:300]).max()
                row = {
                    "recipe": name,
                    "dev_texts_per_s": round(n_dev / seconds, 1),
                    "dev": quality(energies, splits.dev.gold, model.threshold_for(True)),
                    "dev_max_abs_diff_alone_vs_batch_128": round(float(drift), 4),
                }
                print(json.dumps(row), flush=True)
                recipes.append(row)
    record = {
        "command": "python benchmarks/runtimes.py --data-dir ../shared/data/goemotions"
        + (" --recipes" if args.recipes else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only, nothing else "
        "running",
        "model": args.model,
        "texts": {"dev": n_dev, "test": len(splits.test)},
        "runtimes": rows,
        "int8_recipes": recipes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
