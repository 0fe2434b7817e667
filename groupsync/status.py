"""``groupsync status``: recent runs, per-group state, failures and holds, from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from groupsync.db.queries import QUERIES

MAX_REJECTIONS_SHOWN = 20


@dataclass
class Status:
    """What ``groupsync status`` shows for one account."""

    account: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "runs": self.runs,
            "groups": self.groups,
            "rejections": self.rejections,
        }


async def fetch_status(pool: asyncpg.Pool, *, account: str, runs: int = 10) -> Status:
    """Read the account's recent runs, its groups and the latest run's rejections."""
    status = Status(account=account)
    async with pool.acquire() as conn:
        status.runs = [dict(row) for row in await conn.fetch(QUERIES["recent_runs"], account, runs)]
        status.groups = [dict(row) for row in await conn.fetch(QUERIES["group_status"], account)]
        finished = [run for run in status.runs if run["status"] != "running"]
        if finished:
            status.rejections = [
                dict(row)
                for row in await conn.fetch(
                    QUERIES["last_run_rejections"], finished[0]["id"], MAX_REJECTIONS_SHOWN
                )
            ]
    return status
