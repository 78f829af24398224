"""A one-line progress bar on stderr, for work long enough to need one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from mongo_ai_logs.cli._format import display_width, fit

__all__ = ["ProgressBar"]

_SPINNER = "|/-\\"
_DEFAULT_DELAY = 0.5


class ProgressBar:
    """Draws ``label [#####.....]  45%`` on one line, redrawn in place.

    Nothing is drawn unless ``enabled`` (the CLI enables it when stderr is a
    terminal), nor before ``delay`` seconds have passed, so quick work leaves
    no trace; :meth:`close` wipes the line.

    Args:
        stream: Where to draw, usually stderr.
        label: What is in progress, shown first.
        enabled: Whether to draw at all.
        width: The terminal's width. Defaults to 80.
        delay: Seconds before the first drawing. Defaults to half a second.
        clock: The time source, in seconds. Defaults to ``time.monotonic``.
    """

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        enabled: bool,
        width: int = 80,
        delay: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.label = label
        self.enabled = enabled
        self.width = max(width, 20)
        self._clock = clock
        self._shown_after = clock() + (_DEFAULT_DELAY if delay is None else delay)
        self._next_draw = 0.0
        self._drawn = False
        self._ticks = 0

    def update(self, done: int, total: int | None) -> None:
        """Record that ``done`` units of ``total`` (``None``: unknown) are done."""
        if not self.enabled:
            return
        now = self._clock()
        if now < self._shown_after or now < self._next_draw:
            return
        self._next_draw = now + 0.1
        self._ticks += 1
        if total:
            share = min(max(done / total, 0.0), 1.0)
            bar_width = 24
            filled = round(share * bar_width)
            status = f"[{'#' * filled}{'.' * (bar_width - filled)}] {share:4.0%}"
        else:
            status = f"{_SPINNER[self._ticks % len(_SPINNER)]} {done:,}"
        room = self.width - len(status) - 2
        line = f"{fit(self.label, room)}  {status}"
        padding = " " * max(self.width - 1 - display_width(line), 0)
        self.stream.write("\r" + line + padding)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Wipe the bar if it was drawn, leaving the cursor at the line start."""
        if self._drawn:
            self.stream.write("\r" + " " * (self.width - 1) + "\r")
            self.stream.flush()
            self._drawn = False
