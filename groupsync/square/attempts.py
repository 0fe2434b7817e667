"""The number of attempts the latest request of the current task took.

The retry loop sets it; the journal reads it right after a request returns or raises,
to record a change's attempts. A context variable keeps concurrent tasks apart.
"""

from __future__ import annotations

from contextvars import ContextVar

_last_attempts: ContextVar[int] = ContextVar("groupsync_last_attempts", default=0)


def set_last_attempts(attempts: int) -> None:
    _last_attempts.set(attempts)


def last_attempts() -> int:
    """Return the attempts of this task's latest request (0 before any request)."""
    return _last_attempts.get()
