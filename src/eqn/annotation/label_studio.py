"""Label Studio: annotations as pre-annotated tasks, and the labeling config that imports them.

A task is ``{"data": {"text": ..., other columns}, "predictions": [{"model_version",
"score", "result": [{"from_name", "to_name", "type": "choices", "value": {"choices"}}]}]}``,
with the macro- and micro-emotions as the choices and ``score`` the macro-emotion's
energy / 10 (Label Studio's JSON import format).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd

from eqn.annotation.writers import json_value
from eqn.core.scale import MAX_ENERGY
from eqn.data.formats import MISSING

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
