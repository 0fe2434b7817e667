"""The plan: adds and removes computed in PostgreSQL from the desired state and the snapshot.

Both sides live in the run's working sets, so the comparison is a set operation in SQL
and memory does not grow with the number of memberships. A change applied recently wins
over a snapshot that contradicts it, because Square's search lags its writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from groupsync.db.queries import QUERIES
from groupsync.engine.report import PlannedChange


@dataclass(frozen=True)
class GroupPlan:
    """One group's share of the plan."""

    square_group_id: str
    members: int
    adds: int
    removes: int


class Planner:
    """Builds, summarises and trims the plan of one run in ``run_plan``."""

    def __init__(self, pool: asyncpg.Pool, *, run_id: int, account: str) -> None:
        self._pool = pool
        self._run_id = run_id
        self._account = account

    async def build(
        self,
        *,
        group_ids: list[str],
        removable_group_ids: list[str],
        applied_change_window_s: float,
    ) -> dict[str, GroupPlan]:
        """Compute the plan for ``group_ids``; only ``removable_group_ids`` may lose members."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(QUERIES["clear_plan"], self._run_id)
            await conn.execute(
                QUERIES["build_plan"],
                self._run_id,
                self._account,
                group_ids,
                removable_group_ids,
                float(applied_change_window_s),
            )
            rows = await conn.fetch(QUERIES["plan_summary"], self._run_id, group_ids)
        return {
            row["square_group_id"]: GroupPlan(
                square_group_id=row["square_group_id"],
                members=row["members"],
                adds=row["adds"],
                removes=row["removes"],
            )
            for row in rows
        }

    async def drop_removes(self, square_group_id: str) -> None:
        """Drop a held group's removals from the plan; its adds stay."""
        async with self._pool.acquire() as conn:
            await conn.execute(QUERIES["drop_planned_removes"], self._run_id, square_group_id)

    async def changes(self, *, limit: int) -> list[PlannedChange]:
        """Return up to ``limit`` planned changes, for a dry run's report."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(QUERIES["planned_changes"], self._run_id, limit, self._account)
        return [
            PlannedChange(
                kind=row["kind"],
                group_name=row["group_name"],
                square_group_id=row["square_group_id"],
                square_customer_id=row["square_customer_id"],
                person_key=row["person_key"],
            )
            for row in rows
        ]
