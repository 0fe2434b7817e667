"""A one-line progress bar on a terminal, for ``groupsync sync``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from groupsync.engine.progress import ProgressUpdate

BAR_WIDTH = 30
REDRAW_INTERVAL_S = 0.1


class ProgressBar:
    """Draws the latest progress update on one terminal line, at most every 0.1 s."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._drawn_at = -REDRAW_INTERVAL_S
        self._visible = False

    def __call__(self, update: ProgressUpdate) -> None:
        finished = update.done >= update.total
        if not finished and self._clock() - self._drawn_at < REDRAW_INTERVAL_S:
            return
        self._drawn_at = self._clock()
        self._stream.write("\r" + render(update) + "\x1b[K")
        self._stream.flush()
        self._visible = True
        if finished:
            self.close()

    def close(self) -> None:
        """End the bar's line so that later output starts on a fresh one."""
        if self._visible:
            self._stream.write("\n")
            self._stream.flush()
            self._visible = False


def render(update: ProgressUpdate) -> str:
    """Return the bar's text, such as ``apply_add [#####     ] 50/100 12.5/s ETA 4s``."""
    share = update.done / update.total if update.total else 1.0
    filled = round(BAR_WIDTH * min(share, 1.0))
    bar = "#" * filled + " " * (BAR_WIDTH - filled)
    eta = "" if update.eta_s is None else f" ETA {update.eta_s:.0f}s"
    return f"{update.phase} [{bar}] {update.done}/{update.total} {update.rate_per_s:.1f}/s{eta}"
