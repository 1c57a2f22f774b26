"""``eqn explain``: which words push a label's energy up or down."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.text import Text

from eqn.cli.common import DeviceOpt, ModelOpt, console, fail, reporting_errors

NAME = "explain"


@reporting_errors
def command(
    text: Annotated[str, typer.Option("--text", "-t", help="The text to explain.")],
    label: Annotated[
        str | None, typer.Option(help="The label to explain (default: the macro-emotion).")
    ] = None,
    model_path: ModelOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="terminal or json.")] = "terminal",
    steps: Annotated[int, typer.Option(help="Integration steps.")] = 50,
    device: DeviceOpt = "auto",
) -> None:
    """Word-level attributions of one label's energy (integrated gradients)."""
    from eqn.model.estimator import load
    from eqn.model.explain import explain

    if fmt not in ("terminal", "json"):
        fail(f"unknown format {fmt!r}; choose terminal or json", "--format")
    explanation = explain(load(model_path, device=device), text, label, steps=steps)
    if fmt == "json":
        sys.stdout.write(json.dumps(explanation.to_dict(), ensure_ascii=False) + "\n")
        return
    if not console.is_terminal:
        # Piped: colours are gone, so the attributions are written out as plain text.
        sys.stdout.write(
            f"{explanation.label}\tenergy {explanation.energy:.2f}\t"
            f"uncalibrated {explanation.uncalibrated_energy:.2f}\n"
        )
        sys.stdout.writelines(f"{w.token}\t{w.attribution:+.4f}\n" for w in explanation.tokens)
        return
    scale = max((abs(t.attribution) for t in explanation.tokens), default=1.0) or 1.0
    line = Text()
    for word in explanation.tokens:
        strength = min(1.0, abs(word.attribution) / scale)
        colour = "red" if word.attribution > 0 else "blue"
        style = f"bold {colour}" if strength > 0.5 else colour if strength > 0.15 else "dim"
        line.append(word.token, style=style)
        line.append(" ")
    console.print(
        f"{explanation.label}: energy {explanation.energy:.2f} "
        f"(the model's own {explanation.uncalibrated_energy:.2f}); red raises it, blue lowers it",
        markup=False,
    )
    console.print(line)
