"""Readiness: whether the service can do its work now, as ``/readyz`` reports it.

The service is ready when the database answers, the scheduler runs, and no account has
had only failed runs for longer than ``http.max_failed_age_s``. One failed run does not
make the service unready, because the next scheduled run often succeeds; a failure that
persists does, so that the orchestrator and the alerts see it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from groupsync.db.queries import QUERIES

DATABASE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Readiness:
    """The result of ``/readyz``: the checks and, when not ready, the reasons."""

    database_ok: bool
    scheduler_running: bool
    # Per account whose runs are all failing: seconds since the first failure of the streak.
    failing_for_s: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.reasons

    @property
    def last_failure_age_s(self) -> float | None:
        """The longest failure streak of any account, in seconds, or None without failures."""
        return max(self.failing_for_s.values(), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "database_ok": self.database_ok,
            "scheduler_running": self.scheduler_running,
            "failing_for_s": self.failing_for_s,
            "reasons": self.reasons,
        }


async def check_readiness(
    pool: asyncpg.Pool,
    *,
    accounts: Sequence[str],
    scheduler_running: bool,
    max_failed_age_s: float,
    timeout_s: float = DATABASE_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> Readiness:
    """Ping the database and check the failure streaks of ``accounts``.

    A failure streak is the run of failed runs since the account's last succeeded or held
    run; interrupted and dry runs neither start nor end one. The database query doubles as
    the ping, so it must answer within ``timeout_s``.
    """
    reasons: list[str] = []
    if not scheduler_running:
        reasons.append("the scheduler is not running")

    try:
        async with asyncio.timeout(timeout_s):
            failing_since = await _failing_since(pool, accounts)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        reasons.append(f"the database is unreachable: {type(error).__name__}: {error}")
        return Readiness(database_ok=False, scheduler_running=scheduler_running, reasons=reasons)

    now_s = clock()
    failing_for_s = {account: round(now_s - since_s, 1) for account, since_s in failing_since}
    for account, age_s in sorted(failing_for_s.items()):
        if age_s > max_failed_age_s:
            reasons.append(
                f"account {account!r}: every run has failed for {age_s:.0f} s, longer than "
                f"http.max_failed_age_s = {max_failed_age_s:g} s"
            )
    return Readiness(
        database_ok=True,
        scheduler_running=scheduler_running,
        failing_for_s=failing_for_s,
        reasons=reasons,
    )


async def _failing_since(pool: asyncpg.Pool, accounts: Sequence[str]) -> list[tuple[str, float]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES["failing_since"], list(accounts))
    return [(row["account"], row["failing_since"].timestamp()) for row in rows]
