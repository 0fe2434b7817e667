"""A fake monotonic clock for tests of code that takes ``clock`` and ``sleep`` arguments."""

from __future__ import annotations

import asyncio


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s
        self.sleeps_s: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now_s += max(0.0, seconds)
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)
