"""Word-level explanations of a label's energy, by integrated gradients (captum).

Integrated gradients attribute the model's own (uncalibrated) energy for one
label to the input embeddings, along a straight path from a baseline where every
word-piece is padding; the attributions of a word's pieces are summed, so the
result is one number per word. Calibration is a strictly increasing map per
label, so it does not change which words push the energy up; the calibrated
energy is reported beside the attributions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from eqn.errors import ConfigError, InputError, ModelError

if TYPE_CHECKING:
    from eqn.model.estimator import EQN
    from eqn.model.inference import InferenceModel

METHOD = "integrated gradients over input embeddings, summed per word (captum)"


@dataclass(frozen=True)
class WordAttribution:
    token: str
    attribution: float


@dataclass(frozen=True)
class Explanation:
    text: str
    label: str
    energy: float  # calibrated, as annotations show it
    uncalibrated_energy: float  # what the attributions explain
    tokens: tuple[WordAttribution, ...]
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "energy": round(self.energy, 4),
            "uncalibrated_energy": round(self.uncalibrated_energy, 4),
            "method": self.method,
            "tokens": [
                {"token": t.token, "attribution": round(t.attribution, 6)} for t in self.tokens
            ],
        }


def torch_model(model: InferenceModel) -> EQN:
    """The torch estimator behind ``model``: itself, or (for the ONNX runtimes) the same
    saved folder loaded with torch once, since gradients need torch."""
    from eqn.model.estimator import EQN

    if isinstance(model, EQN):
        return model
    twin = model.torch_model_
    if twin is None:
        source = getattr(model, "source_", None)
        if source is None:
            raise ModelError("explanations need the model's saved folder, or an EQN model")
        twin = EQN.load(source)
        model.torch_model_ = twin
    return twin


def explain(
    model: InferenceModel, text: str, label: str | None = None, steps: int = 50
) -> Explanation:
    """Attributions of ``label``'s energy (default: the macro-emotion) to the words of ``text``.

    Always computed with torch (any runtime's model is accepted; its torch twin is used).
    """
    model = torch_model(model)
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError as error:
        raise ConfigError(
            "explanations need captum: pip install 'eqn[explain]' (or pip install captum)"
        ) from error
    network = model._fitted()
    backbone = network.backbone
    if getattr(backbone, "name", "") != "transformer":
        raise ConfigError(
            f"explanations need a transformer backbone; this model's is {backbone.name!r}",
            parameter="model",
        )
    if not text.strip():
        raise InputError("there is nothing to explain in an empty text")
    scored = model.score([text], calibrated=False)  # one forward pass for both energies
    uncalibrated = scored.energies[0]
    energies = model.calibrate_scores(scored).energies[0]
    index = int(np.argmax(energies)) if label is None else _label_index(model, label)
    encoded = backbone.tokenizer(
        text,
        truncation=True,
        max_length=backbone.options.max_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    device = next(network.parameters()).device
    input_ids = encoded["input_ids"].to(device)
    attention_mask = encoded["attention_mask"].to(device)
    special = torch.tensor(
        backbone.tokenizer.get_special_tokens_mask(
            encoded["input_ids"][0].tolist(), already_has_special_tokens=True
        ),
        dtype=torch.bool,
        device=device,
    )
    pad_id = backbone.tokenizer.pad_token_id or 0
    baseline = torch.where(special, input_ids[0], torch.full_like(input_ids[0], pad_id))[None]

    def energy_of(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return network.to_energies(network(input_ids=ids, attention_mask=mask))[:, index]

    embeddings = backbone.encoder.get_input_embeddings()
    was_training = network.training
    network.eval()
    try:
        attributions = LayerIntegratedGradients(energy_of, embeddings).attribute(
            inputs=input_ids,
            baselines=baseline,
            additional_forward_args=(attention_mask,),
            n_steps=steps,
            internal_batch_size=steps,
        )
    finally:
        network.train(was_training)
    per_piece = attributions.sum(dim=-1)[0].detach().cpu().numpy()
    words = _words(text, encoded, per_piece)
    return Explanation(
        text, model.labels[index], float(energies[index]), float(uncalibrated[index]), tuple(words)
    )


def _label_index(model: EQN, label: str) -> int:
    if label not in model.labels:
        raise InputError(
            f"unknown label {label!r}; the model's labels are {', '.join(model.labels)}",
            parameter="label",
        )
    return model.labels.index(label)


def _words(text: str, encoded: Any, per_piece: np.ndarray) -> list[WordAttribution]:
    """Word-pieces summed into the words they came from (special tokens dropped)."""
    spans: dict[int, list[int]] = {}
    sums: dict[int, float] = {}
    offsets = encoded["offset_mapping"][0].tolist()
    for position, word in enumerate(encoded.word_ids(0)):
        if word is None:
            continue
        start, end = offsets[position]
        span = spans.setdefault(word, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
        sums[word] = sums.get(word, 0.0) + float(per_piece[position])
    return [WordAttribution(text[spans[w][0] : spans[w][1]], sums[w]) for w in sorted(spans)]
