"""Annotation speed on a GPU: texts/s end to end and the bare encoder's rate, per precision.

    python benchmarks/gpu_throughput.py --data-dir ../shared/data/goemotions \
        --out benchmarks/results/gpu_throughput.json

For each precision (fp32, fp16, bf16) and batch size:

* ``end_to_end``: ``annotate_texts`` with the torch runtime on the device, from raw
  strings to the annotation table (tokenising overlapped with the forward pass,
  length-sorted batches, calibration and eq. 8 included);
* ``encoder``: the model's own network alone on the same texts, tokenised and
  padded beforehand: the compute ceiling, each batch synchronised.

and, once per precision, the largest energy difference from fp32 on GoEmotions dev
(calibrated energies; the precision is usable where it stays within 0.05).

The texts are GoEmotions train + dev + test (54,263), repeated to ``--texts``. It runs
on the CPU too (``--device cpu --texts 64 --text-file FILE``): the suite's smoke test.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

USABLE_DRIFT = 0.05


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def encoder_rate(model: Any, texts: list[str], batch_size: int, precision: str) -> float:
    """Texts/s of the network alone: tokenised and padded before the clock starts."""
    import torch

    from eqn.model.device import computing_in, device_of, to_device
    from eqn.model.inference import length_sorted_batches

    network = model.model_
    device = device_of(network)
    items, lengths = model.encode(texts)
    batches = [
        to_device(network.backbone.collate([items[i] for i in chunk]), device)
        for chunk in length_sorted_batches(lengths, batch_size)
    ]
    _sync(device)
    started = time.perf_counter()
    with torch.inference_mode(), computing_in(precision, device):
        for batch in batches:
            network(**batch)
    _sync(device)
    return len(texts) / (time.perf_counter() - started)


def end_to_end_rate(model: Any, texts: list[str], batch_size: int) -> float:
    from eqn.annotation.texts import annotate_texts

    started = time.perf_counter()
    annotate_texts(model, texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - started)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from eqn.data import load_dataset
    from eqn.model.runtime import load_model

    if args.text_file:
        pool = dev = args.text_file.read_text(encoding="utf-8").splitlines()
    else:
        splits = load_dataset("goemotions", data_dir=args.data_dir)
        pool = [*splits.train.texts, *splits.dev.texts, *splits.test.texts]
        dev = list(splits.dev.texts)
    texts = (pool * (args.texts // len(pool) + 1))[: args.texts]
    dev = dev[: args.dev_texts]
    reference = None
    rows = []
    for precision in args.precisions:
        model = load_model(args.model, device=args.device, runtime="torch", precision=precision)
        energies = model.energies(dev, batch_size=args.batch_sizes[0])
        if reference is None:
            reference = energies
        drift = float(np.abs(energies - reference).max())
        for batch_size in args.batch_sizes:
            end_to_end_rate(model, texts[: batch_size * 2], batch_size)  # warm-up
            best_e2e = max(end_to_end_rate(model, texts, batch_size) for _ in range(args.repeats))
            best_encoder = max(
                encoder_rate(model, texts, batch_size, precision) for _ in range(args.repeats)
            )
            rows.append(
                {
                    "precision": precision,
                    "batch_size": batch_size,
                    "end_to_end_texts_per_s": round(best_e2e, 1),
                    "encoder_texts_per_s": round(best_encoder, 1),
                    "max_energy_diff_vs_fp32_on_dev": round(drift, 4),
                    "usable": drift <= USABLE_DRIFT,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    device = torch.device("cuda") if args.device in ("auto", "cuda") else None
    gpu = torch.cuda.get_device_name(0) if device and torch.cuda.is_available() else None
    return {
        "command": "python benchmarks/gpu_throughput.py " + " ".join(args.argv),
        "machine": {"platform": platform.platform(), "gpu": gpu, "torch": torch.__version__},
        "texts": len(texts),
        "dev_texts_for_drift": len(dev),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--data-dir", default="../shared/data/goemotions")
    parser.add_argument("--text-file", type=Path, help="texts, one a line, instead of GoEmotions")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--texts", type=int, default=200_000)
    parser.add_argument("--dev-texts", type=int, default=5426)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else __import__("sys").argv[1:]
    result = measure(args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
