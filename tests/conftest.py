"""Shared fixtures: paths to the optional shared data, and small hand-written datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
GOEMOTIONS_DIR = SHARED_DATA / "goemotions"
SIX_EMOTIONS_DIR = SHARED_DATA / "6emotions"

# Sentences written for these tests; no dataset text.
SENTENCES = [
    ("I love this so much, thank you!", "love,gratitude"),
    ("This is the worst day ever, I am furious.", "anger"),
    ("Wow, I did not expect that at all!", "surprise"),
    ("I'm scared of what might happen tomorrow.", "fear"),
    ("Thanks a lot for the help.", "gratitude"),
    ("That joke made me laugh out loud.", "joy"),
    ("I miss her every single day.", "sadness"),
    ("What a lovely surprise, I adore it!", "love,surprise"),
    ("Get out of here, you are so annoying.", "anger"),
    ("I feel so happy and grateful today.", "joy,gratitude"),
    ("The noise in the dark made me jump.", "fear,surprise"),
    ("Nothing ever goes right for me.", "sadness"),
]


@pytest.fixture
def needs_goemotions() -> Path:
    if not (GOEMOTIONS_DIR / "train.tsv").is_file():
        pytest.skip(f"GoEmotions is not at {GOEMOTIONS_DIR}")
    return GOEMOTIONS_DIR


@pytest.fixture
def needs_six_emotions() -> Path:
    if not (SIX_EMOTIONS_DIR / "train.txt").is_file():
        pytest.skip(f"6emotions is not at {SIX_EMOTIONS_DIR}")
    return SIX_EMOTIONS_DIR


@pytest.fixture
def sentences_csv(tmp_path: Path) -> Path:
    import csv

    path = tmp_path / "sentences.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "labels"])
        writer.writerows(SENTENCES)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny random-weight BERT and a word-piece vocabulary built from the test sentences."""
    import re

    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    words = sorted({w for text, _ in SENTENCES for w in re.findall(r"\w+", text.lower())})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + list("!,.?'") + words
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_dataset():
    from eqn.data import Dataset

    return Dataset.from_lists(
        [text for text, _ in SENTENCES],
        [labels.split(",") for _, labels in SENTENCES],
        name="sentences",
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A small LSTM EQN model trained on the test sentences, saved once per session."""
    from eqn.data import Dataset
    from eqn.model.estimator import EQN

    dataset = Dataset.from_lists(
        [text for text, _ in SENTENCES], [labels.split(",") for _, labels in SENTENCES]
    )
    model = EQN(
        backbone="lstm",
        epochs=3,
        batch_size=4,
        dense_dim=8,
        backbone_options={"embedding_dim": 8, "hidden_size": 8, "max_length": 12},
    ).fit(dataset, dataset, progress=False)
    return model.save(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory) -> None:
    """ONNX exports go to a throwaway cache, never the user's."""
    import os

    os.environ["EQN_HOME"] = str(tmp_path_factory.mktemp("eqn-cache"))


@pytest.fixture(scope="session")
def tiny_transformer_dir(tiny_bert, tmp_path_factory) -> Path:
    """A tiny random-weight BERT EQN model with LoRA adapters and calibration, saved once."""
    from eqn.data import Dataset
    from eqn.model.estimator import EQN

    dataset = Dataset.from_lists(
        [text for text, _ in SENTENCES], [labels.split(",") for _, labels in SENTENCES]
    )
    model = EQN(
        backbone="transformer",
        loss="bce",
        epochs=2,
        batch_size=4,
        dense_dim=8,
        backbone_options={"model_name_or_path": str(tiny_bert), "max_length": 16},
    ).fit(dataset, dataset, progress=False)
    return model.save(tmp_path_factory.mktemp("models") / "tiny-transformer")
