"""What every runtime of a trained model shares, without torch: the saved folder's
summary and calibration, thresholds, provenance, and energies -> labels.

:class:`InferenceModel` is the base of :class:`eqn.model.estimator.EQN` (torch)
and :class:`eqn.model.onnx.OnnxModel` (ONNX Runtime). A subclass supplies
:meth:`encode` and :meth:`_unclipped_energies`; everything else, from clipping to the
scale to eq. 8, is written once here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eqn import __version__
from eqn.core import energy as E
from eqn.core.annotation import AnnotatedEnergies, check_threshold
from eqn.core.calibration import Calibration
from eqn.data.table import check_label_names
from eqn.errors import EqnError, InputError, ModelError, NotFittedError
from eqn.model.scoring import (
    EMPTY_FLAG,
    TRUNCATED_FLAG,
    ScoredTexts,
    as_text,
    check_unicode,
)

if TYPE_CHECKING:
    import pandas as pd

    from eqn.model.config import ModelConfig

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
LABELS_FILE = "labels.txt"
WEIGHTS_FILE = "model.safetensors"
CALIBRATION_FILE = "calibration.json"
MODEL_FORMAT = "eqn-model/2"
# Format 1 models (before calibration) still load, uncalibrated.
READABLE_FORMATS = ("eqn-model/1", MODEL_FORMAT)

DEFAULT_MODEL_NAME = "goemotions-minilm-eqn"
# The models a training run's folder holds, the one to annotate with first.
RUN_MODELS = ("eqn", "M", "S", "coeqn")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_NAME


# Texts per block when tokenising overlaps the forward pass (see InferenceModel.score).
OVERLAP_BLOCK = 2048


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices in batches of similar length, so that padding per batch stays small."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


class InferenceModel:
    """A fitted energy model over a fixed label set, as annotation sees it.

    Learned state ends in ``_``: ``labels_``, ``threshold_`` (uncalibrated h),
    ``label_thresholds_``, ``calibration_`` and ``calibrated_threshold_``,
    ``source_`` (the folder it was loaded from, if any).
    """

    config: ModelConfig
    runtime = "torch"
    calibration_: Calibration | None = None
    calibrated_threshold_: float | None = None
    _hash: str | None = None
    source_: str | None = None
    n_train_: int | None = None
    train_seconds_: float | None = None
    torch_model_: Any = None  # an ONNX model's torch twin, for explanations
    # Tokenise the next block in a thread while this one runs through the network:
    # None means on where the forward pass leaves the CPU free (a GPU), off on the
    # CPU, where both would compete for the same cores.
    overlap_encoding: bool | None = None

    # -- what a runtime supplies ------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError("this model is not fitted yet: call fit() or load one")

    def encode(self, texts: Sequence[str]) -> tuple[list[Any], list[int]]:
        """Tokenised items and their lengths, for :meth:`_energies_of_items`."""
        raise NotImplementedError

    def _unclipped_energies(
        self, items: Sequence[Any], lengths: Sequence[int], batch_size: int, progress: bool
    ) -> np.ndarray:
        """The network's energies, before clipping and calibration."""
        raise NotImplementedError

    def _runs_on_accelerator(self) -> bool:
        """Whether the forward pass runs off the CPU (a runtime that can says so)."""
        return False

    # -- shared state -----------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        self._check_fitted()
        return self.labels_

    @property
    def is_calibrated(self) -> bool:
        return self.calibration_ is not None

    def threshold_for(self, calibrated: bool = True) -> float:
        """The tuned threshold h for calibrated energies, or for the uncalibrated ones."""
        if calibrated and self.calibration_ is not None and self.calibrated_threshold_ is not None:
            return float(self.calibrated_threshold_)
        return float(self.threshold_)

    @property
    def model_hash(self) -> str:
        """A short hash of what defines this model's outputs (its saved files)."""
        if self._hash is None:
            source = getattr(self, "source_", None)
            if source is None:
                raise ModelError("an in-memory model has no saved files to hash")
            self._hash = hash_saved_model(Path(source))
        return self._hash

    @property
    def name(self) -> str:
        """The model's name: its folder's name (never the server's path to it)."""
        source = getattr(self, "source_", None)
        return Path(source).name if source else "in-memory model"

    def provenance(self, calibrated: bool, threshold: float) -> dict[str, Any]:
        """What every annotation records: the model, its hash, eqn, runtime, calibration, h."""
        record = {
            "model": self.name,
            "model_hash": self.model_hash,
            "eqn_version": __version__,
            "runtime": self.runtime,
            "calibrated": bool(calibrated and self.is_calibrated),
            "threshold": float(threshold),
        }
        precision = getattr(self, "precision", "fp32")
        return record if precision == "fp32" else record | {"precision": precision}

    def state_summary(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "eqn_version": __version__,
            "config": self.config.to_dict(),
            "labels": list(self.labels_),
            "thresholds": {
                "global": float(self.threshold_),
                "per_label": {
                    label: float(t)
                    for label, t in zip(self.labels_, self.label_thresholds_, strict=True)
                },
                "tuned_on": self.thresholds_tuned_on_,
                "calibrated": (
                    float(self.calibrated_threshold_)
                    if self.is_calibrated and self.calibrated_threshold_ is not None
                    else None
                ),
            },
            "calibrated": self.is_calibrated,
            "fit": {
                "best_epoch": getattr(self, "best_epoch_", None),
                "history": getattr(self, "history_", []),
                "n_train": getattr(self, "n_train_", None),
                "warm_start": getattr(self, "warm_start_", False),
                "train_seconds": getattr(self, "train_seconds_", None),
            },
        }

    # -- energies: one scoring step ----------------------------------------------------
    def _on_scale(self, energies: np.ndarray) -> np.ndarray:
        """Energies clipped to [0, max_energy]: an unbounded (MSE) head can leave the scale."""
        return np.clip(energies, 0.0, self.config.max_energy)

    def apply_calibration(self, uncalibrated: np.ndarray) -> np.ndarray:
        """The calibrated energies of uncalibrated ones; unchanged for a model with no maps."""
        if self.calibration_ is None:
            return uncalibrated
        return self.calibration_.apply(uncalibrated)

    def _energies_of_items(
        self,
        items: Sequence[Any],
        lengths: Sequence[int],
        batch_size: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Uncalibrated energies of already tokenised items (see :meth:`encode`), on the scale."""
        if not len(items):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        size = batch_size or self.config.eval_batch_size
        return self._on_scale(self._unclipped_energies(items, lengths, size, progress))

    def score(
        self,
        texts: str | Sequence[Any],
        batch_size: int | None = None,
        calibrated: bool = True,
        progress: bool = False,
    ) -> ScoredTexts:
        """The one scoring step: tokenise, forward, clip to the scale, calibrate.

        Empty or missing texts get all-zero energies and the flag ``empty``; texts cut
        to the model's length the flag ``truncated``. Calibrated unless asked otherwise
        (or the model has no maps).
        """
        if batch_size is not None and batch_size < 1:
            raise InputError(
                f"batch_size must be at least 1, got {batch_size}", parameter="batch_size"
            )
        values = [as_text(t) for t in ([texts] if isinstance(texts, str) else texts)]
        check_unicode(values)
        empty = np.array([not v.strip() for v in values], dtype=bool)
        energies = np.zeros((len(values), len(self.labels)), dtype=np.float32)
        flags = np.array([""] * len(values), dtype=object)
        flags[empty] = EMPTY_FLAG
        keep = np.flatnonzero(~empty)
        if len(keep):
            texts = [values[i] for i in keep]
            overlap = self.overlap_encoding
            if overlap is None:
                overlap = self._runs_on_accelerator()
            if overlap and len(texts) > OVERLAP_BLOCK:
                energies[keep], lengths = self._overlapped_energies(texts, batch_size, progress)
            else:
                items, lengths = self.encode(texts)
                energies[keep] = self._energies_of_items(items, lengths, batch_size, progress)
            limit = getattr(self.config.backbone_options, "max_length", None)
            if limit is not None:
                flags[keep[np.asarray(lengths) >= limit]] = TRUNCATED_FLAG
        scored = ScoredTexts(values, energies, empty, flags.tolist(), calibrated=False)
        return self.calibrate_scores(scored) if calibrated else scored

    def _overlapped_energies(
        self, texts: Sequence[str], batch_size: int | None, progress: bool
    ) -> tuple[np.ndarray, list[int]]:
        """Energies block by block, the next block tokenised in a thread meanwhile.

        Fast tokenizers release the GIL, so with the forward pass on a GPU the CPU
        work of one block hides behind the network's work on the previous one.
        Batches are length-sorted within a block rather than over all texts.
        """
        from concurrent.futures import ThreadPoolExecutor

        starts = range(0, len(texts), OVERLAP_BLOCK)
        parts: list[np.ndarray] = []
        lengths: list[int] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eqn-tokenize") as pool:
            pending = pool.submit(self.encode, texts[:OVERLAP_BLOCK])
            for start in starts:
                items, block_lengths = pending.result()
                following = start + OVERLAP_BLOCK
                if following < len(texts):
                    pending = pool.submit(self.encode, texts[following : following + OVERLAP_BLOCK])
                parts.append(self._energies_of_items(items, block_lengths, batch_size, progress))
                lengths.extend(block_lengths)
        return np.concatenate(parts), lengths

    def calibrate_scores(self, scored: ScoredTexts) -> ScoredTexts:
        """Scores with calibrated energies (as they are if already, or with no maps)."""
        if not self.is_calibrated:
            return scored
        return scored.with_calibration(self.apply_calibration)

    def resolve_threshold(self, threshold: float | None = None, calibrated: bool = True) -> float:
        """The model's tuned h (for calibrated energies or not), or ``threshold``, checked."""
        if threshold is None:
            return self.threshold_for(calibrated)
        return check_threshold(threshold, self.config.max_energy)

    def annotate_scored(
        self, scored: ScoredTexts, threshold: float | None = None, raw: bool = False
    ) -> AnnotatedEnergies:
        """Eq. 8 on scored texts, at ``threshold`` (default: the model's h for their kind)."""
        h = self.resolve_threshold(threshold, scored.calibrated and self.is_calibrated)
        return scored.annotate(self.labels, h, raw, keep_top=self.config.keep_top)

    def energies(
        self,
        texts: str | Sequence[str],
        batch_size: int | None = None,
        progress: bool = False,
        calibrated: bool = True,
    ) -> np.ndarray:
        """Energies, shape (n_texts, n_labels), from 0 (absent) to ``max_energy`` (strongest).

        Calibrated by default: an energy e means that about e x 10 % of texts given
        that energy for a label carry it in human annotation. ``calibrated=False``
        gives the model's own energies (the paper's), clipped to the scale. Empty
        texts get all-zero energies.
        """
        return self.score(texts, batch_size, calibrated, progress).energies

    def predict(
        self,
        texts: str | Sequence[str],
        k: int | None = None,
        threshold: float | Sequence[float] | None = None,
        calibrated: bool = True,
    ) -> list[list[str]]:
        """Label names per text: the top ``k``, or those at or above ``threshold``.

        With neither, the model's tuned threshold is used (multi-label data,
        keeping the top label) or max() (single-label data). Empty texts get none.
        """
        scored = self.score(texts, calibrated=calibrated)
        energies = scored.energies
        if k is not None:
            prediction = E.classify_top_k(energies, k)
        elif threshold is not None:
            prediction = E.classify_threshold(energies, threshold, keep_top=self.config.keep_top)
        elif self.config.objective == "S":
            prediction = E.classify_max(energies)
        else:
            h = self.threshold_for(calibrated)
            prediction = E.classify_threshold(energies, h, self.config.keep_top)
        prediction[scored.empty] = 0
        return [[self.labels_[j] for j in np.flatnonzero(row)] for row in prediction]

    def annotate(
        self,
        texts: str | Sequence[str],
        threshold: float | None = None,
        raw: bool = False,
        calibrated: bool = True,
    ) -> pd.DataFrame:
        """One row per text: an energy column per label (2 decimals), the macro-emotion
        (top label), the micro-emotions (other labels at or above the threshold h) and
        ``eqn_flag``. :meth:`score` then :meth:`annotate_scored` give the records."""
        frame: pd.DataFrame = self.annotate_scored(
            self.score(texts, calibrated=calibrated), threshold, raw
        ).frame()
        return frame

    # -- loading ------------------------------------------------------------------------
    def _read_saved_state(self, source: Path, summary: dict[str, Any]) -> None:
        """Labels, thresholds and calibration from a saved folder's files."""
        config_path = source / CONFIG_FILE
        labels = _saved_labels(config_path, summary)
        _check_labels_file(source, labels)
        thresholds, threshold, label_thresholds = _saved_thresholds(config_path, summary, labels)
        self.labels_ = labels
        self.threshold_ = threshold
        self.label_thresholds_ = label_thresholds
        self.thresholds_tuned_on_ = thresholds.get("tuned_on")
        self.source_ = str(source)
        self.calibration_, self.calibrated_threshold_ = read_calibration(
            source, labels, thresholds.get("calibrated")
        )
        fit = summary.get("fit")
        fit = fit if isinstance(fit, dict) else {}  # how it was fitted: informative only
        self.history_ = fit.get("history", [])
        self.best_epoch_ = fit.get("best_epoch")
        self.n_train_ = fit.get("n_train")
        self.warm_start_ = fit.get("warm_start", False)
        self.train_seconds_ = fit.get("train_seconds")


def _selected(run: Path) -> str | None:
    """The model a run folder's run.json chose (``selected``), if it names one."""
    try:
        selected = json.loads((run / "run.json").read_text(encoding="utf-8")).get("selected")
    except (OSError, ValueError, AttributeError):
        return None
    return selected if isinstance(selected, str) and selected in RUN_MODELS else None


def _run_models(run: Path) -> list[str]:
    """A run folder's models, the one its run.json selected first."""
    selected = _selected(run)
    ordered = [selected] if selected else []
    return ordered + [name for name in RUN_MODELS if name not in ordered]


def _saved_labels(config_path: Path, summary: dict[str, Any]) -> tuple[str, ...]:
    labels = summary.get("labels")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ModelError(
            f"{config_path} has no list of label names under 'labels'; the file was edited "
            "or damaged: restore it, or save the model again"
        )
    try:
        check_label_names(labels, source=str(config_path))
    except EqnError as error:
        raise ModelError(str(error)) from None
    return tuple(labels)


def _saved_thresholds(
    config_path: Path, summary: dict[str, Any], labels: Sequence[str]
) -> tuple[dict[str, Any], float, np.ndarray]:
    """The tuned thresholds: h, and one per label, each named by its label."""
    thresholds = summary.get("thresholds")
    restore = "restore config.json, or tune them again with eqn calibrate"
    if not isinstance(thresholds, dict) or "global" not in thresholds:
        raise ModelError(f"{config_path} has no tuned threshold ('thresholds'); {restore}")
    per_label = thresholds.get("per_label")
    if not isinstance(per_label, dict):
        raise ModelError(f"{config_path} has no per-label thresholds; {restore}")
    lacking = [label for label in labels if label not in per_label]
    if lacking:
        raise ModelError(
            f"{config_path}: the per-label thresholds name other labels than 'labels' "
            f"(none for {', '.join(map(repr, lacking[:5]))}; they name "
            f"{', '.join(map(repr, list(per_label)[:5]))}); the label names were edited: "
            "restore config.json"
        )
    try:
        values = np.array([float(per_label[label]) for label in labels])
        return thresholds, float(thresholds["global"]), values
    except (TypeError, ValueError) as error:
        raise ModelError(
            f"{config_path} holds a threshold that is not a number ({error})"
        ) from None


def _check_labels_file(source: Path, labels: Sequence[str]) -> None:
    """A folder's labels.txt, when present, must list config.json's labels in order: the
    columns of every output are named from them."""
    path = source / LABELS_FILE
    if not path.is_file():
        return
    try:
        listed = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"{path} cannot be read: {error}") from None
    listed = [name for name in listed if name]
    if listed != list(labels):
        differ = next(
            (i for i, (a, b) in enumerate(zip(listed, labels, strict=False)) if a != b),
            min(len(listed), len(labels)),
        )
        raise ModelError(
            f"{path} contradicts {source / CONFIG_FILE}: label {differ + 1} is "
            f"{listed[differ] if differ < len(listed) else 'missing'!r} in one and "
            f"{labels[differ] if differ < len(labels) else 'missing'!r} in the other; "
            "restore the folder as it was saved (the weights follow config.json's order)",
            parameter="model",
        )


def model_folder(source: Path) -> Path:
    """The model folder ``source`` names: itself, or, for a training run's folder, the
    model its run chose (``run.json``'s ``selected``) or the only one it holds, so
    ``-m runs/mine`` works whatever recipe made the run."""
    if (source / CONFIG_FILE).is_file() or not (source / "run.json").is_file():
        return source
    inside = [source / name for name in _run_models(source)]
    inside = [folder for folder in inside if (folder / CONFIG_FILE).is_file()]
    if not inside:
        return source  # read_summary says what is missing
    selected = _selected(source)
    if selected:
        if inside[0].name != selected:  # the chosen model was removed: never another silently
            raise ModelError(
                f"{source} is a training run's folder whose model {source / selected} is "
                f"missing; restore it, or name one it holds: {', '.join(map(str, inside))}",
                parameter="model",
            )
    elif len(inside) > 1:
        raise ModelError(
            f"{source} is a training run's folder that chose no model: name one of "
            f"{', '.join(str(p) for p in inside)}",
            parameter="model",
        )
    logger.info("%s is a training run's folder: using its model %s", source, inside[0])
    return inside[0]


def read_summary(source: Path) -> dict[str, Any]:
    """The saved folder's ``config.json``, checked for a readable format."""
    config_path = source / CONFIG_FILE
    if not config_path.is_file():
        inside = [source / name for name in _run_models(source)]
        inside = [folder for folder in inside if (folder / CONFIG_FILE).is_file()]
        if inside:
            raise ModelError(
                f"{source} is a training run's folder, not a model: its model is "
                f"{inside[0]} ({', '.join(str(p) for p in inside)} are the ones it holds)",
                parameter="model",
            )
        raise ModelError(f"{source} is not an eqn model folder: it has no {CONFIG_FILE}")
    try:
        summary = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{config_path} cannot be read as JSON: {error}") from None
    if not isinstance(summary, dict) or summary.get("format") not in READABLE_FORMATS:
        found = summary.get("format") if isinstance(summary, dict) else type(summary).__name__
        raise ModelError(
            f"{config_path} has format {found!r}; expected one of {', '.join(READABLE_FORMATS)}"
        )
    return summary


def read_calibration(
    source: Path, labels: Sequence[str], threshold: float | None
) -> tuple[Calibration | None, float | None]:
    path = source / CALIBRATION_FILE
    if not path.is_file():
        logger.warning(
            "%s has no calibration: its energies are the model's own, uncalibrated. "
            "Fit one on a dev split with EQN.calibrate()",
            source,
        )
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path} cannot be read as JSON: {error}") from None
    calibration = Calibration.from_dict(data, labels)
    if threshold is None:
        raise ModelError(f"{source / CONFIG_FILE} has calibration maps but no calibrated threshold")
    return calibration, float(threshold)


HASHED_FILES = (CONFIG_FILE, WEIGHTS_FILE, CALIBRATION_FILE)


def hash_files(contents: Mapping[str, bytes]) -> str:
    """The model hash, defined once: sha256 over the bytes of config, weights and
    calibration (those present), in that order, cut to 16 hex digits."""
    digest = hashlib.sha256()
    for name in HASHED_FILES:
        if name in contents:
            digest.update(contents[name])
    return digest.hexdigest()[:16]


def hash_saved_model(source: Path) -> str:
    """The model hash of a saved folder (see :func:`hash_files`)."""
    return hash_files(
        {name: (source / name).read_bytes() for name in HASHED_FILES if (source / name).is_file()}
    )


def default_model_dir() -> Path:
    if not (DEFAULT_MODEL_DIR / CONFIG_FILE).is_file():
        raise ModelError(
            f"the default model is missing from {DEFAULT_MODEL_DIR}; reinstall eqn, or load a "
            "model folder made by training"
        )
    return DEFAULT_MODEL_DIR
