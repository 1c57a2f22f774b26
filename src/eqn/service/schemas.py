"""The HTTP API's request and response bodies (pydantic), strict about types."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eqn.core.scale import MAX_ENERGY
from eqn.errors import InputError
from eqn.model.scoring import check_unicode

# Strict: "5" is not a number and true is not 1; a client that sends them has a bug.
STRICT = ConfigDict(extra="forbid", strict=True)


class AnnotateRequest(BaseModel):
    model_config = STRICT

    texts: list[str] = Field(min_length=1, description="Texts to annotate.")

    @field_validator("texts")
    @classmethod
    def _valid_unicode(cls, texts: list[str]) -> list[str]:
        # The scoring step's own check, here so that this request alone is refused (422).
        try:
            check_unicode(texts, fix="send valid Unicode")
        except InputError as error:
            raise ValueError(str(error)) from None
        return texts

    threshold: float | None = Field(
        None, ge=0, le=MAX_ENERGY, allow_inf_nan=False, description="Micro-emotion threshold h."
    )
    raw: bool = Field(False, description="Return unthresholded energies.")
    calibrated: bool = Field(
        True, description="Calibrated energies (default), or the model's own when false."
    )


class ExplainRequest(BaseModel):
    model_config = STRICT

    text: str = Field(min_length=1, description="The text to explain.")
    label: str | None = Field(None, description="The label to explain (default: the macro).")

    @field_validator("text")
    @classmethod
    def _valid_unicode(cls, text: str) -> str:
        AnnotateRequest._valid_unicode([text])
        return text


class MicroEmotion(BaseModel):
    label: str
    energy: float


class TextAnnotation(BaseModel):
    text: str
    energies: dict[str, float]
    macro_emotion: str
    micro_emotions: list[MicroEmotion]
    flag: str = ""


class Provenance(BaseModel):
    model: str
    model_hash: str
    eqn_version: str
    runtime: str
    calibrated: bool
    threshold: float
    precision: str | None = None


class AnnotateResponse(BaseModel):
    threshold: float
    calibrated: bool
    provenance: Provenance
    results: list[TextAnnotation]
