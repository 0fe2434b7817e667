"""The retry policy: what is retried, how long it waits, when it gives up, and what it logs.

stamina runs in test mode here (see conftest.py), so no test waits for real;
the waits the policy computed are read from the ``api_retry_scheduled`` logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import pytest
import structlog
from square_fake_clock import FakeClock
from structlog.contextvars import bound_contextvars, merge_contextvars
from structlog.typing import EventDict

from groupsync.square.attempts import last_attempts
from groupsync.square.errors import (
    BadRequest,
    ConnectionFailed,
    NotFound,
    RateLimited,
    ServerError,
)
from groupsync.square.retry import RetryPolicy, call_with_retries

NO_JITTER = RetryPolicy(wait_jitter_s=0.0)


class ScriptedAttempts:
    """An attempt function that raises the scripted errors in order, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.attempts: list[int] = []

    async def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def server_error(status: int = 503) -> ServerError:
    return ServerError("unavailable", operation="ListCustomers", status=status)


def rate_limited(retry_after_s: float | None) -> RateLimited:
    return RateLimited(
        "slow down", operation="ListCustomers", status=429, retry_after_s=retry_after_s
    )


@pytest.fixture
def logs() -> Iterator[list[EventDict]]:
    with structlog.testing.capture_logs(processors=[merge_contextvars]) as entries:
        yield entries


def events(logs: list[EventDict], name: str) -> list[EventDict]:
    return [entry for entry in logs if entry["event"] == name]


async def run(
    send: Callable[[int], Awaitable[str]],
    policy: RetryPolicy = NO_JITTER,
    **options: object,
) -> str:
    return await call_with_retries(send, policy=policy, operation="ListCustomers", **options)  # type: ignore[arg-type]


async def test_success_needs_one_attempt() -> None:
    send = ScriptedAttempts()

    assert await run(send) == "ok"
    assert send.attempts == [1]


async def test_temporary_errors_retried() -> None:
    send = ScriptedAttempts(server_error(), ConnectionFailed("reset", operation="ListCustomers"))

    assert await run(send) == "ok"
    assert send.attempts == [1, 2, 3]


async def test_permanent_error_not_retried() -> None:
    send = ScriptedAttempts(NotFound("gone", operation="ListCustomers", status=404))

    with pytest.raises(NotFound):
        await run(send)
    assert send.attempts == [1]


async def test_foreign_error_not_retried() -> None:
    send = ScriptedAttempts(ValueError("bug"))

    with pytest.raises(ValueError):
        await run(send)
    assert send.attempts == [1]


async def test_retries_run_out() -> None:
    send = ScriptedAttempts(*(server_error() for _ in range(10)))

    with pytest.raises(ServerError):
        await run(send, RetryPolicy(attempts=4))
    assert send.attempts == [1, 2, 3, 4]


async def test_waits_grow_exponentially(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(*(server_error() for _ in range(4)))

    await run(send)

    waits = [entry["wait_s"] for entry in events(logs, "api_retry_scheduled")]
    assert waits == [0.5, 1.0, 2.0, 4.0]


async def test_wait_capped_at_max(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(*(server_error() for _ in range(5)))

    await run(send, RetryPolicy(wait_jitter_s=0.0, wait_max_s=3.0))

    waits = [entry["wait_s"] for entry in events(logs, "api_retry_scheduled")]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_jitter_added(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(server_error())

    await run(send, RetryPolicy(wait_jitter_s=1.0), draw_jitter_s=lambda max_s: max_s * 0.25)

    assert events(logs, "api_retry_scheduled")[0]["wait_s"] == 0.75


async def test_retry_after_honoured(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(rate_limited(7.0))

    await run(send, RetryPolicy(wait_jitter_s=1.0))

    assert events(logs, "api_retry_scheduled")[0]["wait_s"] == 7.0


async def test_retry_after_capped(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(rate_limited(120.0))

    await run(send, RetryPolicy(wait_max_s=30.0))

    assert events(logs, "api_retry_scheduled")[0]["wait_s"] == 30.0


async def test_429_without_retry_after_backs_off(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(rate_limited(None), rate_limited(None))

    await run(send)

    waits = [entry["wait_s"] for entry in events(logs, "api_retry_scheduled")]
    assert waits == [0.5, 1.0]


async def test_retry_log_keys(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(server_error(503))

    with bound_contextvars(run_id="run-42"):
        await run(send)

    (entry,) = events(logs, "api_retry_scheduled")
    assert entry["operation"] == "ListCustomers"
    assert entry["attempt"] == 1
    assert entry["wait_s"] == 0.5
    assert entry["reason"] == 503
    assert entry["run_id"] == "run-42"


async def test_retry_reason_without_status(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(ConnectionFailed("reset", operation="ListCustomers"))

    await run(send)

    assert events(logs, "api_retry_scheduled")[0]["reason"] == "ConnectionFailed"


async def test_one_log_per_retry(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(*(server_error() for _ in range(10)))

    with pytest.raises(ServerError):
        await run(send, RetryPolicy(attempts=3, wait_jitter_s=0.0))

    attempts = [entry["attempt"] for entry in events(logs, "api_retry_scheduled")]
    assert attempts == [1, 2]


async def test_failure_logged_when_retries_run_out(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(*(server_error(502) for _ in range(10)))

    with pytest.raises(ServerError):
        await run(send, RetryPolicy(attempts=3))

    (entry,) = events(logs, "api_request_failed")
    assert entry["operation"] == "ListCustomers"
    assert entry["attempts"] == 3
    assert entry["status"] == 502
    assert "unavailable" in entry["error"]


async def test_failure_logged_for_permanent_error(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(BadRequest("bad limit", operation="ListCustomers", status=400))

    with pytest.raises(BadRequest):
        await run(send)

    (entry,) = events(logs, "api_request_failed")
    assert entry["attempts"] == 1
    assert entry["status"] == 400
    assert events(logs, "api_retry_scheduled") == []


async def test_success_logs_no_failure(logs: list[EventDict]) -> None:
    send = ScriptedAttempts(server_error())

    await run(send)

    assert events(logs, "api_request_failed") == []


async def test_timeout_stops_retries(clock: FakeClock) -> None:
    class SlowFailures(ScriptedAttempts):
        async def __call__(self, attempt: int) -> str:
            clock.now_s += 100.0
            return await super().__call__(attempt)

    send = SlowFailures(*(server_error() for _ in range(10)))

    with pytest.raises(ServerError):
        await run(send, RetryPolicy(timeout_s=250.0, wait_jitter_s=0.0), clock=clock)
    assert send.attempts == [1, 2, 3]


async def test_no_timeout_allows_all_attempts(clock: FakeClock) -> None:
    class SlowFailures(ScriptedAttempts):
        async def __call__(self, attempt: int) -> str:
            clock.now_s += 1000.0
            return await super().__call__(attempt)

    send = SlowFailures(*(server_error() for _ in range(10)))

    with pytest.raises(ServerError):
        await run(send, RetryPolicy(attempts=4, timeout_s=None), clock=clock)
    assert send.attempts == [1, 2, 3, 4]


def test_policy_wait_for_rate_limit() -> None:
    policy = RetryPolicy(wait_max_s=10.0)

    assert policy.wait_s(failed_attempt=3, error=rate_limited(2.0), jitter_s=0.9) == 2.0


def test_policy_wait_exponential() -> None:
    policy = RetryPolicy(wait_initial_s=1.0, wait_exp_base=3.0, wait_max_s=100.0)

    assert policy.wait_s(failed_attempt=3, error=server_error(), jitter_s=0.5) == 9.5


@pytest.mark.parametrize("settings", [{"attempts": 0}, {"wait_max_s": -1.0}])
def test_policy_rejects_invalid(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**settings)  # type: ignore[arg-type]


async def test_last_attempts_after_success() -> None:
    send = ScriptedAttempts(server_error(), server_error())

    await run(send)

    assert last_attempts() == 3


async def test_last_attempts_after_failure() -> None:
    send = ScriptedAttempts(NotFound("gone", operation="ListCustomers", status=404))

    with pytest.raises(NotFound):
        await run(send)

    assert last_attempts() == 1
