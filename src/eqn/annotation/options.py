"""The options of an annotation run, as one frozen, validated object.

The CLI, the Python API, HTTP uploads and the Ray engine all build an
:class:`AnnotateOptions` and hand it on whole, so no route can drop an option.
"""

from __future__ import annotations

import codecs
import dataclasses
from dataclasses import dataclass
from typing import Any

from eqn.core.annotation import check_threshold
from eqn.data.formats import OUTPUT_FORMATS
from eqn.errors import ConfigError, InputError

DEFAULT_CHUNK_ROWS = 4096


@dataclass(frozen=True)
class AnnotateOptions:
    """How to annotate a file; every field is checked once, here.

    ``threshold`` None means the model's tuned h; ``calibrated`` False gives the
    model's own energies; ``raw`` keeps every energy in the output (unthresholded).
    ``fmt`` None means the output's suffix, else the input's format.
    """

    text_col: str = "text"
    threshold: float | None = None
    raw: bool = False
    calibrated: bool = True
    fmt: str | None = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    resume: bool = False
    in_place: bool = False
    force: bool = False
    progress: bool = True
    encoding: str = "utf-8"
    sep: str | None = None
    batch_size: int | None = None
    max_rows: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text_col, str) or not self.text_col:
            raise InputError("text_col must name a column", parameter="text_col")
        if self.threshold is not None:
            object.__setattr__(self, "threshold", check_threshold(self.threshold))
        if self.fmt is not None and self.fmt not in OUTPUT_FORMATS:
            raise InputError(
                f"unknown output format {self.fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}",
                parameter="fmt",
            )
        for name in ("chunk_rows", "batch_size", "max_rows"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise InputError(f"{name} must be at least 1, got {value!r}", parameter=name)
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise InputError(
                f"unknown text encoding {self.encoding!r}; use a name Python knows, such as "
                "utf-8, utf-16 or latin-1",
                parameter="encoding",
            ) from None
        if self.sep is not None and len(self.sep) != 1:
            raise InputError(
                f"the field separator must be one character, got {self.sep!r}", parameter="sep"
            )

    def replace(self, **changes: Any) -> AnnotateOptions:
        """A copy with ``changes`` (checked like the original)."""
        return with_changes(self, changes)


def with_changes(options: AnnotateOptions | None, changes: dict[str, Any]) -> AnnotateOptions:
    """``options`` (default: the defaults) with ``changes``, refusing unknown names."""
    known = {field.name for field in dataclasses.fields(AnnotateOptions)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(
            f"unknown annotation option {', '.join(map(repr, unknown))}; the options are "
            f"{', '.join(sorted(known))}",
            parameter=unknown[0],
        )
    return dataclasses.replace(options or AnnotateOptions(), **changes)
