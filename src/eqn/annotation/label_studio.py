"""Label Studio: annotations as pre-annotated tasks, and the labeling config that imports them.

A task is ``{"data": {"text": ..., other columns}, "predictions": [{"model_version",
"score", "result": [{"from_name", "to_name", "type": "choices", "value": {"choices"}}]}]}``,
with the macro- and micro-emotions as the choices and ``score`` the macro-emotion's
energy / 10 (Label Studio's JSON import format).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd

from eqn.annotation.writers import json_value
from eqn.core.scale import MAX_ENERGY
from eqn.data.formats import MISSING
from eqn.errors import InputError

FROM_NAME = "emotion"
TO_NAME = "text"


def labeling_config(labels: Sequence[str]) -> str:
    """The labeling configuration (XML) whose names match :func:`tasks`."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    return (
        "<View>\n"
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="multiple" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def tasks(
    annotated: pd.DataFrame,
    text_col: str,
    extra_columns: Sequence[str],
    model_version: str,
    max_energy: float = MAX_ENERGY,
) -> list[dict[str, Any]]:
    """One task per row of an annotation table (pass-through columns, then eqn's)."""
    out = []
    for _, row in annotated.iterrows():
        data = {"text": json_value(text_col, row[text_col])}
        data.update(
            {
                c: json_value(c, row[c])
                for c in extra_columns
                if c != text_col and row[c] is not MISSING
            }
        )
        macro = row["macro_emotion"]
        micro = [p.split(":")[0] for p in str(row["micro_emotions"]).split(";") if p]
        choices = [macro, *micro] if macro else []
        score = float(row[macro]) / max_energy if macro else 0.0
        result = (
            [
                {
                    "from_name": FROM_NAME,
                    "to_name": TO_NAME,
                    "type": "choices",
                    "value": {"choices": choices},
                }
            ]
            if choices
            else []
        )
        out.append(
            {
                "data": data,
                "predictions": [
                    {"model_version": model_version, "score": round(score, 4), "result": result}
                ],
            }
        )
    return out


@dataclass(frozen=True)
class LabelingConfig:
    """What eqn needs from a Label Studio labeling config: the Choices tag's name and
    its choices, the Text tag it points at, and the task field that tag shows."""

    from_name: str
    to_name: str
    field: str
    choices: tuple[str, ...]

    def check_choices(self, labels: Sequence[str], model: str) -> None:
        """Every choice must be a model label (model labels missing from it are fine)."""
        unknown = [c for c in self.choices if c not in set(labels)]
        if unknown:
            raise InputError(
                f"the labeling config's Choices {self.from_name!r} offer "
                f"{', '.join(map(repr, unknown))}, which model {model} does not know; remove "
                "them, or use the config `eqn label-studio-config` prints",
                parameter="label_config",
            )


def parse_labeling_config(xml: str) -> LabelingConfig:
    """The first Choices tag and the Text tag it names (``toName``), whatever their names."""
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise InputError(
            f"the labeling config is not valid XML: {error}", parameter="label_config"
        ) from None
    choices = next(root.iter("Choices"), None)
    if choices is None or not choices.get("name"):
        raise InputError(
            "the labeling config has no <Choices name=...> tag: eqn pre-selects choices",
            parameter="label_config",
        )
    to_name = choices.get("toName", "")
    texts = {tag.get("name"): tag for tag in root.iter() if tag.tag in ("Text", "HyperText")}
    text = texts.get(to_name) or next(iter(texts.values()), None)
    if text is None:
        raise InputError(
            "the labeling config has no <Text> tag for the Choices", parameter="label_config"
        )
    value = text.get("value", "$text")
    values = tuple(c.get("value", "") for c in choices.iter("Choice") if c.get("value"))
    return LabelingConfig(choices.get("name", ""), text.get("name", ""), value.lstrip("$"), values)
