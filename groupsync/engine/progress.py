"""Progress of a long step of a run: ``sync_progress`` log lines and an optional listener.

A step reports how many of its items are done. Every ``interval_s`` a ``sync_progress``
line logs done, total, rate and ETA. A listener (the CLI's progress bar on a terminal) is
told of every advance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class ProgressUpdate:
    """One step's progress at one moment."""

    phase: str
    done: int
    total: int
    rate_per_s: float
    eta_s: float | None


ProgressListener = Callable[[ProgressUpdate], None]


@dataclass
class Progress:
    """Counts a step's finished items and reports them."""

    phase: str
    total: int
    listener: ProgressListener | None = None
    interval_s: float = DEFAULT_INTERVAL_S
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    _started_at: float = field(init=False)
    _logged_at: float = field(init=False)

    def __post_init__(self) -> None:
        self._started_at = self.clock()
        self._logged_at = self._started_at

    def advance(self, count: int = 1) -> None:
        self.done += count
        update = self.update()
        if self.listener is not None:
            self.listener(update)
        if self.clock() - self._logged_at >= self.interval_s:
            self._logged_at = self.clock()
            log.info(
                "sync_progress",
                phase=update.phase,
                done=update.done,
                total=update.total,
                rate_per_s=round(update.rate_per_s, 1),
                eta_s=None if update.eta_s is None else round(update.eta_s, 1),
            )

    def update(self) -> ProgressUpdate:
        elapsed_s = self.clock() - self._started_at
        rate_per_s = self.done / elapsed_s if elapsed_s > 0 else 0.0
        remaining = max(self.total - self.done, 0)
        eta_s = remaining / rate_per_s if rate_per_s > 0 else None
        return ProgressUpdate(self.phase, self.done, self.total, rate_per_s, eta_s)
