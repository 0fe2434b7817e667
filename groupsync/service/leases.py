"""Leases: how several ``groupsync run`` replicas share the accounts through PostgreSQL.

Each replica has a row in ``groupsync.replicas`` and renews it on every heartbeat, together
with its rows in ``groupsync.account_leases``. A replica serves an account only while it owns
the account's lease. Free and expired leases are taken with ``FOR UPDATE SKIP LOCKED``, up to
a fair share: the accounts divided by the live replicas, rounded up. A replica that dies
stops renewing, so its replica row and its leases expire together after ``lease_s`` and the
other replicas take its accounts on their next heartbeat.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Collection

import asyncpg

from groupsync.db.queries import QUERIES


def new_replica_id() -> str:
    """Return an id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def fair_share(accounts: int, live_replicas: int) -> int:
    """Return how many accounts one replica should serve."""
    return math.ceil(accounts / max(live_replicas, 1))


class LeaseTable:
    """One replica's view of ``replicas`` and ``account_leases``."""

    def __init__(self, pool: asyncpg.Pool, *, replica_id: str, lease_s: float) -> None:
        self.pool = pool
        self.replica_id = replica_id
        self.lease_s = lease_s

    async def renew_replica(self) -> int:
        """Renew this replica's row and return the number of live replicas, this one included."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                QUERIES["renew_replica"],
                self.replica_id,
                socket.gethostname(),
                os.getpid(),
                self.lease_s,
            )
            await conn.execute(QUERIES["forget_dead_replicas"])
            return int(await conn.fetchval(QUERIES["live_replicas"]))

    async def renew(self, held: Collection[str]) -> list[str]:
        """Renew the leases on ``held``; return those this replica still owns."""
        if not held:
            return []
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                QUERIES["renew_leases"], self.replica_id, list(held), self.lease_s
            )
        return [row["account"] for row in rows]

    async def take(self, accounts: Collection[str], *, limit: int) -> list[str]:
        """Take up to ``limit`` free or expired leases among ``accounts``; return them."""
        if limit <= 0 or not accounts:
            return []
        async with self.pool.acquire() as conn:
            await conn.execute(QUERIES["ensure_leases"], list(accounts))
            rows = await conn.fetch(
                QUERIES["take_leases"], self.replica_id, list(accounts), self.lease_s, limit
            )
        return [row["account"] for row in rows]

    async def release(self, accounts: Collection[str]) -> None:
        """Give up the leases on ``accounts`` so that other replicas can take them at once."""
        if not accounts:
            return
        async with self.pool.acquire() as conn:
            await conn.execute(QUERIES["release_leases"], self.replica_id, list(accounts))

    async def leave(self) -> None:
        """Delete this replica's row, on a clean shutdown after releasing its leases."""
        async with self.pool.acquire() as conn:
            await conn.execute(QUERIES["delete_replica"], self.replica_id)
