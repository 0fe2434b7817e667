"""The retry policy for requests to Square: the one place where a request is tried again.

Only :class:`~groupsync.errors.TemporaryError` subclasses are retried. The
wait before a retry grows exponentially with random jitter, except after a 429
with ``Retry-After``, where it is exactly the requested time (capped at
``wait_max_s``). stamina runs the loop and the sleeps, while this module
decides whether and how long to wait. It logs ``api_retry_scheduled`` for each
scheduled retry and ``api_request_failed`` when a request finally fails.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina
import structlog

from groupsync.errors import TemporaryError
from groupsync.square.attempts import set_last_attempts
from groupsync.square.errors import RateLimited, SquareError

logger = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request.

    ``attempts`` counts the first try. ``timeout_s`` bounds the whole request,
    retries and waits included: no retry starts whose wait would end past it
    (None: no bound). An attempt already running is bounded only by the
    client's per-attempt ``request_timeout_s``.
    """

    attempts: int = 6
    wait_initial_s: float = 0.5
    wait_max_s: float = 30.0
    wait_jitter_s: float = 1.0
    wait_exp_base: float = 2.0
    timeout_s: float | None = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.wait_initial_s < 0 or self.wait_max_s < 0 or self.wait_jitter_s < 0:
            raise ValueError("wait_initial_s, wait_max_s and wait_jitter_s must not be negative")

    def wait_s(self, *, failed_attempt: int, error: Exception, jitter_s: float) -> float:
        """Return the wait before the attempt after ``failed_attempt`` (1-based).

        ``jitter_s`` is the random part, drawn from 0 to ``wait_jitter_s``.
        """
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            return min(self.wait_max_s, error.retry_after_s)

        exponential_s = self.wait_initial_s * self.wait_exp_base ** (failed_attempt - 1)
        return min(self.wait_max_s, exponential_s + jitter_s)


async def call_with_retries(
    send_attempt: Callable[[int], Awaitable[T]],
    *,
    policy: RetryPolicy,
    operation: str,
    clock: Callable[[], float] = time.monotonic,
    draw_jitter_s: Callable[[float], float] | None = None,
) -> T:
    """Await ``send_attempt(attempt)`` until it succeeds or the policy gives up.

    ``attempt`` is 1-based. Raises the last error when retries run out or the
    error is permanent. Either way, the number of attempts made is stored for
    :func:`groupsync.square.attempts.last_attempts`. ``draw_jitter_s(max_s)``
    returns the random part of a wait (default: uniform from 0 to ``max_s``).
    """
    decider = _RetryDecider(
        policy=policy,
        operation=operation,
        started_at=clock(),
        clock=clock,
        draw_jitter_s=draw_jitter_s or _uniform_jitter_s,
    )
    # The decider returns every wait itself and enforces timeout_s, so stamina's
    # backoff settings only mirror the policy and stamina gets no timeout of its own.
    retries = stamina.retry_context(
        on=decider.decide,
        attempts=policy.attempts,
        timeout=None,
        wait_initial=policy.wait_initial_s,
        wait_max=policy.wait_max_s,
        wait_jitter=policy.wait_jitter_s,
        wait_exp_base=policy.wait_exp_base,
    )

    try:
        async for attempt in retries:
            with attempt:
                decider.attempt = attempt.num
                result = await send_attempt(attempt.num)
                set_last_attempts(attempt.num)
                return result
    except Exception as error:
        set_last_attempts(decider.attempt)
        _log_failure(operation=operation, attempts=decider.attempt, error=error)
        raise

    raise AssertionError("stamina ended the attempts without a result or an error")


@dataclass
class _RetryDecider:
    """stamina's backoff hook: returns False to give up, or the wait in seconds to retry."""

    policy: RetryPolicy
    operation: str
    started_at: float
    clock: Callable[[], float]
    draw_jitter_s: Callable[[float], float]
    attempt: int = 0

    def decide(self, error: Exception) -> bool | float:
        # stamina stops after policy.attempts on its own; checking here too keeps
        # api_retry_scheduled from being logged for a retry that never happens.
        if not isinstance(error, TemporaryError) or self.attempt >= self.policy.attempts:
            return False

        wait_s = self.policy.wait_s(
            failed_attempt=self.attempt,
            error=error,
            jitter_s=self.draw_jitter_s(self.policy.wait_jitter_s),
        )
        if self._past_timeout(wait_s):
            return False

        logger.warning(
            "api_retry_scheduled",
            operation=self.operation,
            attempt=self.attempt,
            wait_s=round(wait_s, 3),
            reason=_reason(error),
        )
        return wait_s

    def _past_timeout(self, wait_s: float) -> bool:
        if self.policy.timeout_s is None:
            return False
        elapsed_s = self.clock() - self.started_at
        return elapsed_s + wait_s >= self.policy.timeout_s


def _reason(error: Exception) -> str | int:
    if isinstance(error, SquareError) and error.status is not None:
        return error.status
    return type(error).__name__


def _log_failure(*, operation: str, attempts: int, error: Exception) -> None:
    status = error.status if isinstance(error, SquareError) else None
    logger.warning(
        "api_request_failed",
        operation=operation,
        attempts=attempts,
        status=status,
        error=str(error),
        error_class=type(error).__name__,
    )


def _uniform_jitter_s(max_s: float) -> float:
    return random.uniform(0.0, max_s)
