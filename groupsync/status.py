"""``groupsync status``: recent runs, per-group state, failures and holds, from the database.

Its at-a-glance lines (last succeeded run, runs of the last 24 hours by status, held groups,
failed changes of the last run) match the service's Prometheus metrics, but they come from
the database, so they cover every process that serves the account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from groupsync.db.queries import QUERIES

MAX_REJECTIONS_SHOWN = 20
MAX_FAILED_CHANGES_SHOWN = 20
RUN_COUNT_WINDOW_S = 24 * 3600


@dataclass
class Status:
    """What ``groupsync status`` shows for one account."""

    account: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    # At a glance, matching the service's metrics.
    last_success_at: datetime | None = None
    runs_last_24h: dict[str, int] = field(default_factory=dict)
    failed_changes_last_run: int = 0
    # The first MAX_FAILED_CHANGES_SHOWN of them.
    failed_changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def held_groups(self) -> list[dict[str, Any]]:
        """Groups whose removals the last finished run held, with the counts of the hold."""
        return [group for group in self.groups if group["held_removes"] is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "last_success_at": self.last_success_at,
            "runs_last_24h": self.runs_last_24h,
            "held_groups": [
                {
                    "name": group["name"],
                    "held_removes": group["held_removes"],
                    "members": group["held_members"],
                    "reason": group["hold_reason"],
                }
                for group in self.held_groups
            ],
            "failed_changes_last_run": self.failed_changes_last_run,
            "failed_changes": self.failed_changes,
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
        status.last_success_at = await conn.fetchval(QUERIES["last_success"], account)
        status.runs_last_24h = {
            row["status"]: row["runs"]
            for row in await conn.fetch(
                QUERIES["runs_by_status_since"], account, float(RUN_COUNT_WINDOW_S)
            )
        }
        status.failed_changes_last_run = await conn.fetchval(
            QUERIES["count_last_run_failed_changes"], account
        )
        status.failed_changes = [
            dict(row)
            for row in await conn.fetch(
                QUERIES["last_run_failed_changes"], account, MAX_FAILED_CHANGES_SHOWN
            )
        ]
        finished = [run for run in status.runs if run["status"] != "running"]
        if finished:
            status.rejections = [
                dict(row)
                for row in await conn.fetch(
                    QUERIES["last_run_rejections"], finished[0]["id"], MAX_REJECTIONS_SHOWN
                )
            ]
    return status
