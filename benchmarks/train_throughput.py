"""Training throughput per backbone: eqn's length-bucketed, dynamically padded
batches against a naive loop (unsorted, every text padded to 128) with the same
model, loss and optimiser.

    python benchmarks/train_throughput.py --data-dir ../shared/data/goemotions \
        --out benchmarks/results/train_throughput.json

Each measurement trains ``--batches`` batches of 32 GoEmotions training texts
after ``--warmup`` untimed ones, and reports texts/s and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from eqn import backbones as B
from eqn.core import energy as E
from eqn.data import load_dataset
from eqn.model.config import ModelConfig
from eqn.model.network import EnergyModel, compute_loss, positive_weights
from eqn.model.training import make_batches

NAIVE_LENGTH = 128


def pad_to(items: list, width: int, backbone: B.Backbone) -> dict[str, torch.Tensor]:
    """The naive loop's batch: every item padded (or cut) to ``width``."""
    batch = backbone.collate([list(item)[:width] for item in items])
    padded = {}
    for key, value in batch.items():
        if value.dim() == 2:
            extra = width - value.shape[1]
            value = torch.nn.functional.pad(value, (0, extra)) if extra > 0 else value
        padded[key] = value
    return padded


def measure(
    name: str, texts: list[str], gold: np.ndarray, batches: int, warmup: int, naive: bool
) -> float:
    options = {"max_length": NAIVE_LENGTH} if name != "ann" else {}
    config = ModelConfig(backbone=name, backbone_options=options, batch_size=32)
    torch.manual_seed(0)
    backbone = B.build(name, config.backbone_options)
    backbone.prepare(texts)
    model = EnergyModel(backbone, gold.shape[1], config)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate or backbone.default_lr()
    )
    items = backbone.encode(texts)
    lengths = [backbone.item_length(item) for item in items]
    targets = torch.as_tensor(E.full_labels(gold))
    gold_t = torch.as_tensor(gold)
    weights = torch.from_numpy(positive_weights(gold))
    order = make_batches(lengths, 32, seed=0, epoch=0, bucket=not naive)
    model.train()
    seen, started = 0, 0.0
    for step, rows in enumerate(order[: warmup + batches]):
        if step == warmup:
            started, seen = time.perf_counter(), 0
        chunk = [items[i] for i in rows]
        batch = (
            pad_to(chunk, NAIVE_LENGTH, backbone)
            if naive and name != "ann"
            else backbone.collate(chunk)
        )
        loss = compute_loss(model(**batch), targets[rows], gold_t[rows], config, weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(rows)
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="../shared/data/goemotions")
    parser.add_argument("--backbones", default="ann,cnn,lstm,textcnn,transformer")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/train_throughput.json")
    )
    args = parser.parse_args()
    train = load_dataset("goemotions", data_dir=args.data_dir).train
    results = []
    for name in args.backbones.split(","):
        bucketed = measure(name, train.texts, train.gold, args.batches, args.warmup, naive=False)
        naive = measure(name, train.texts, train.gold, args.batches, args.warmup, naive=True)
        row = {
            "backbone": name,
            "bucketed_texts_per_s": round(bucketed, 1),
            "naive_pad128_texts_per_s": round(naive, 1),
            "speedup": round(bucketed / naive, 2),
        }
        print(json.dumps(row), flush=True)
        results.append(row)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "command": "python benchmarks/train_throughput.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU only",
        "batches_timed": args.batches,
        "batch_size": 32,
        "results": results,
        "peak_rss_mib": round(peak_mib),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"peak RSS {peak_mib:.0f} MiB; written to {args.out}")


if __name__ == "__main__":
    main()
