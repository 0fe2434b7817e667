"""Request counts per operation and outcome, for the admin API."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

# Outcomes that are not HTTP statuses: the connection was closed, or never answered.
DROPPED = "dropped"
HUNG = "hung"


class RequestStats:
    def __init__(self) -> None:
        self._counts: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self.total = 0

    def record(self, operation: str, outcome: int | str) -> None:
        self._counts[operation][str(outcome)] += 1
        self.total += 1

    def reset(self) -> None:
        self._counts.clear()
        self.total = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": {operation: dict(counts) for operation, counts in self._counts.items()},
            "total": self.total,
        }
