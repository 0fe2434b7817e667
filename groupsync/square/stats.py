"""Counters of the requests a Square client sent, for run records and metrics."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

# The status recorded for an attempt that got no HTTP response at all.
NO_RESPONSE = "error"


@dataclass
class RequestStats:
    """Counts of attempts by operation and status, retries and 429 responses.

    Every attempt counts as one request, retries included. Reads return copies
    taken under a lock, so another thread may read while requests run.
    """

    _by_operation_status: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    _retries: int = 0
    _rate_limited: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self, operation: str, status: int | str) -> None:
        """Count one attempt of ``operation`` that ended with HTTP ``status`` or ``"error"``."""
        with self._lock:
            self._by_operation_status[(operation, status)] += 1
            if status == 429:
                self._rate_limited += 1

    def count_retry(self) -> None:
        """Count one scheduled retry."""
        with self._lock:
            self._retries += 1

    @property
    def requests(self) -> dict[tuple[str, int | str], int]:
        """Attempts keyed by ``(operation, status)``; status is ``"error"`` without a response."""
        with self._lock:
            return dict(self._by_operation_status)

    @property
    def total_requests(self) -> int:
        """All attempts sent, retries included."""
        with self._lock:
            return sum(self._by_operation_status.values())

    @property
    def retries(self) -> int:
        """Attempts after the first one of a request."""
        with self._lock:
            return self._retries

    @property
    def rate_limited(self) -> int:
        """Responses with status 429."""
        with self._lock:
            return self._rate_limited

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready copy: totals plus ``requests`` as ``{operation: {status: n}}``."""
        nested: dict[str, dict[str, int]] = {}
        for (operation, status), count in self.requests.items():
            nested.setdefault(operation, {})[str(status)] = count
        return {
            "total_requests": self.total_requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "requests": nested,
        }
