"""The per-account advisory lock that keeps two runs of one account from overlapping."""

from __future__ import annotations

import asyncpg

from groupsync.db.queries import QUERIES
from groupsync.errors import TemporaryError

# The lock key is derived in SQL from this prefix and the account name, so every process
# that reconciles an account computes the same key.
LOCK_KEY_SQL = "hashtextextended('groupsync.account:' || $1, 0)"


class RunInProgress(TemporaryError):
    """Another process holds the account's lock; try again when its run has finished."""


class AccountLock:
    """A session-level advisory lock held on one dedicated connection for a whole run."""

    def __init__(self, conn: asyncpg.Connection, account: str) -> None:
        self._conn = conn
        self.account = account
        self.held = False

    async def acquire(self) -> None:
        """Take the lock or raise :class:`RunInProgress` naming the holder."""
        acquired = await self._conn.fetchval(
            f"SELECT pg_try_advisory_lock({LOCK_KEY_SQL})", self.account
        )
        if not acquired:
            raise RunInProgress(await self._describe_holder())
        self.held = True

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if not self._conn.is_closed():
            await self._conn.execute(f"SELECT pg_advisory_unlock({LOCK_KEY_SQL})", self.account)

    async def _describe_holder(self) -> str:
        row = await self._conn.fetchrow(QUERIES["running_run"], self.account)
        if row is None:
            return (
                f"another groupsync process is reconciling account {self.account!r}; "
                "wait for it to finish"
            )
        return (
            f"run {row['id']} of account {self.account!r} is in progress "
            f"(trigger {row['trigger']}, pid {row['pid']} on {row['hostname']}, "
            f"started {row['started_at']:%Y-%m-%d %H:%M:%S %Z}); wait for it to finish"
        )
