"""Progress and logging, in one place.

Long loops report through :func:`progress_bar`: a bar with a total and an ETA on
a terminal, a log line now and then when the output is a file (no carriage-return
noise), and nothing when progress is off.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("eqn.progress")

LOG_EVERY_SECONDS = 30.0


class _Quiet:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass


class _LogLines:
    """Progress as occasional log lines, for output that is not a terminal."""

    def __init__(self, total: int | None, initial: int, desc: str, unit: str) -> None:
        self.total, self.done, self.desc, self.unit = total, initial, desc, unit
        self.started = self.last = time.monotonic()
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= LOG_EVERY_SECONDS:
            self.last = now
            of = f"/{self.total}" if self.total else ""
            logger.info("%s: %d%s %s %s", self.desc, self.done, of, self.unit, self.postfix)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())


@contextmanager
def progress_bar(
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    enabled: bool = True,
) -> Iterator[Any]:
    """A progress reporter with ``update(n)`` and ``set_postfix(**values)``."""
    if not enabled:
        yield _Quiet()
        return
    if not sys.stderr.isatty():
        yield _LogLines(total, initial, desc, unit)
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
