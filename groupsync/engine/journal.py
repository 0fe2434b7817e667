"""The journal: every change is written to ``groupsync.changes`` before it is sent.

A change row starts as ``pending``, and becomes ``applied`` or ``failed`` with its
attempts and error once the request has an outcome. Rows still ``pending`` when a
process dies are marked ``interrupted`` by the next run of the account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from groupsync.db.queries import QUERIES
from groupsync.engine.desired import ManagedGroup
from groupsync.engine.report import RunCounts
from groupsync.square.attempts import last_attempts
from groupsync.square.client import Group
from groupsync.square.errors import SquareError

T = TypeVar("T")

# Journal errors are for people reading the table; keep them short.
MAX_ERROR_CHARS = 1_000


@dataclass(frozen=True)
class Outcome:
    """The result of sending one journaled change."""

    change_id: int
    status: str
    attempts: int
    error: str | None = None
    square_group_id: str | None = None
    square_customer_id: str | None = None

    def as_record(self) -> tuple[Any, ...]:
        return (
            self.change_id,
            self.status,
            self.attempts,
            self.error,
            self.square_group_id,
            self.square_customer_id,
        )


class Journal:
    """Writes a run's changes before they are sent and records their outcomes."""

    def __init__(self, pool: asyncpg.Pool, *, run_id: int, account: str, counts: RunCounts) -> None:
        self._pool = pool
        self.run_id = run_id
        self.account = account
        self._counts = counts

    async def remember_group(self, managed: ManagedGroup, square_group_id: str) -> None:
        """Store the Square id of a managed group (adoption needs no request)."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                QUERIES["remember_group_id"], self.account, managed.name, square_group_id
            )
        managed.square_group_id = square_group_id

    async def create_group(
        self,
        managed: ManagedGroup,
        *,
        idempotency_key: str,
        send: Callable[[], Awaitable[Group]],
    ) -> Group:
        group = await self._send_one(
            kind="create_group",
            group_name=managed.name,
            square_group_id=None,
            idempotency_key=idempotency_key,
            send=send,
            result_ids=lambda created: (created.id, None),
        )
        await self.remember_group(managed, group.id)
        return group

    async def rename_group(
        self, managed: ManagedGroup, *, send: Callable[[], Awaitable[Group]]
    ) -> Group:
        return await self._send_one(
            kind="rename_group",
            group_name=managed.name,
            square_group_id=managed.square_group_id,
            send=send,
        )

    async def create_customer(
        self,
        *,
        person_key: str,
        idempotency_key: str,
        send: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        customer = await self._send_one(
            kind="create_customer",
            person_key=person_key,
            idempotency_key=idempotency_key,
            send=send,
            result_ids=lambda created: (None, created["id"]),
        )
        self._counts.creates += 1
        return customer

    async def journal_plan(self, *, kind: str) -> int:
        """Copy the plan's changes of ``kind`` into the journal as pending; return the count."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(QUERIES["journal_plan"], self.run_id, self.account, kind)
        return int(status.split()[-1])

    async def record_outcomes(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        async with self._pool.acquire() as conn:
            await conn.executemany(
                QUERIES["record_change_outcome"], [outcome.as_record() for outcome in outcomes]
            )

    async def _send_one(
        self,
        *,
        kind: str,
        send: Callable[[], Awaitable[T]],
        group_name: str | None = None,
        square_group_id: str | None = None,
        person_key: str | None = None,
        idempotency_key: str | None = None,
        result_ids: Callable[[T], tuple[str | None, str | None]] | None = None,
    ) -> T:
        async with self._pool.acquire() as conn:
            change_id = await conn.fetchval(
                QUERIES["journal_change"],
                self.run_id,
                self.account,
                kind,
                group_name,
                square_group_id,
                None,
                person_key,
                idempotency_key,
            )

        try:
            result = await send()
        except SquareError as error:
            self._counts.failed += 1
            await self.record_outcomes(
                [Outcome(change_id, "failed", last_attempts(), truncate_error(error))]
            )
            raise

        group_id, customer_id = result_ids(result) if result_ids else (None, None)
        await self.record_outcomes(
            [Outcome(change_id, "applied", last_attempts(), None, group_id, customer_id)]
        )
        return result


def truncate_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
