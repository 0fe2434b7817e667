"""Applying the journaled membership changes: AddGroupToCustomer and RemoveGroupFromCustomer.

Pending changes are streamed from the journal in pages and sent by a pool of workers; the
client's rate limiter paces them. Outcomes are written back in batches. When asked to stop
(shutdown), workers finish the requests in flight and take no new ones, so nothing is lost.
The run then marks its unsent changes ``interrupted``, and the next run recomputes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from groupsync.db.queries import QUERIES
from groupsync.engine.journal import Journal, Outcome, truncate_error
from groupsync.engine.progress import Progress, ProgressListener
from groupsync.engine.report import GroupOutcome, RunCounts
from groupsync.square.attempts import last_attempts
from groupsync.square.client import SquareClient
from groupsync.square.errors import AuthenticationFailed, NotFound, SquareError

log = structlog.get_logger(__name__)

PAGE_CHANGES = 1_000
FLUSH_OUTCOMES = 200


@dataclass(frozen=True)
class MembershipChange:
    """One pending add or remove from the journal."""

    change_id: int
    kind: str
    group_name: str
    square_group_id: str
    square_customer_id: str


@dataclass
class ApplySummary:
    """Counts from applying the plan."""

    total: int = 0
    applied: int = 0
    failed: int = 0
    stopped: bool = False
    # Customers for which Square returned 404; their links were deleted so people resolve anew.
    vanished_customers: set[str] = field(default_factory=set)
    # The vanished customer each of those links named, by person key.
    stale_links: dict[str, str] = field(default_factory=dict)


class Applier:
    """Sends a run's pending membership changes and records their outcomes."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: SquareClient,
        journal: Journal,
        *,
        account: str,
        concurrency: int,
        counts: RunCounts,
        groups: Mapping[str, GroupOutcome],
        stop: asyncio.Event | None = None,
        progress_listener: ProgressListener | None = None,
    ) -> None:
        self._pool = pool
        self._client = client
        self._journal = journal
        self._account = account
        self._concurrency = concurrency
        self._counts = counts
        self._groups = groups
        self._stop = stop or asyncio.Event()
        self._outcomes: list[Outcome] = []
        self._progress_listener = progress_listener
        self._progress: Progress | None = None
        self.summary = ApplySummary()

    async def apply(self, *, total: int, phase: str = "apply") -> ApplySummary:
        """Send every pending membership change of the run; ``total`` is for progress lines."""
        self.summary.total = total
        self._progress = Progress(phase=phase, total=total, listener=self._progress_listener)
        queue: asyncio.Queue[MembershipChange | None] = asyncio.Queue(maxsize=2 * PAGE_CHANGES)

        producer = asyncio.create_task(self._produce(queue))
        workers = [asyncio.create_task(self._work(queue)) for _ in range(self._concurrency)]
        try:
            await asyncio.gather(producer, *workers)
        finally:
            for task in (producer, *workers):
                task.cancel()
            await self._flush()
        return self.summary

    async def _produce(self, queue: asyncio.Queue[MembershipChange | None]) -> None:
        after_id = 0
        while True:
            if self._stop.is_set():
                self.summary.stopped = True
                break
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    QUERIES["pending_membership_changes_page"],
                    self._journal.run_id,
                    after_id,
                    PAGE_CHANGES,
                )
            if not rows:
                break
            after_id = rows[-1]["id"]
            for row in rows:
                await queue.put(_change_from_row(row))
        for _ in range(self._concurrency):
            await queue.put(None)

    async def _work(self, queue: asyncio.Queue[MembershipChange | None]) -> None:
        while True:
            change = await queue.get()
            if change is None:
                return
            if self._stop.is_set():
                self.summary.stopped = True
                continue
            outcome = await self._send(change)
            self._outcomes.append(outcome)
            if self._progress is not None:
                self._progress.advance()
            if len(self._outcomes) >= FLUSH_OUTCOMES:
                await self._flush()

    async def _send(self, change: MembershipChange) -> Outcome:
        group = self._groups.get(change.group_name)
        try:
            if change.kind == "add":
                await self._client.add_group_to_customer(
                    change.square_customer_id, change.square_group_id
                )
            else:
                await self._client.remove_group_from_customer(
                    change.square_customer_id, change.square_group_id
                )
        except AuthenticationFailed:
            raise
        except NotFound as error:
            return await self._on_not_found(change, error, group)
        except SquareError as error:
            return self._failed(change, error, group)

        return self._applied(change, group)

    def _applied(
        self,
        change: MembershipChange,
        group: GroupOutcome | None,
        *,
        error: NotFound | None = None,
    ) -> Outcome:
        self._count_applied(change, group)
        note = {} if error is None else {"note": "customer or group no longer exists"}
        log.info(
            "change_applied",
            kind=change.kind,
            group_name=change.group_name,
            group_id=change.square_group_id,
            customer_id=change.square_customer_id,
            attempt=last_attempts(),
            **note,
        )
        detail = None if error is None else truncate_error(error)
        return Outcome(change.change_id, "applied", last_attempts(), detail)

    async def _on_not_found(
        self, change: MembershipChange, error: NotFound, group: GroupOutcome | None
    ) -> Outcome:
        if change.kind == "remove":
            # Whether the customer or the group is gone, the membership no longer exists,
            # which is what the removal wanted.
            return self._applied(change, group, error=error)
        if not await self._customer_vanished(change.square_customer_id):
            return self._failed(change, error, group)

        # A stale link, not a failure of the run: the person is resolved again and the add
        # is planned anew for the customer they resolve to now.
        await self._forget_customer(change.square_customer_id)
        log.warning(
            "change_superseded",
            kind=change.kind,
            group_name=change.group_name,
            group_id=change.square_group_id,
            customer_id=change.square_customer_id,
            reason="the customer no longer exists; the person will be resolved again",
        )
        return Outcome(change.change_id, "failed", last_attempts(), truncate_error(error))

    async def _customer_vanished(self, customer_id: str) -> bool:
        try:
            await self._client.retrieve_customer(customer_id)
        except NotFound:
            return True
        except SquareError:
            return False
        return False

    async def _forget_customer(self, customer_id: str) -> None:
        if customer_id in self.summary.vanished_customers:
            return
        self.summary.vanished_customers.add(customer_id)
        async with self._pool.acquire() as conn:
            people = await conn.fetch(
                QUERIES["delete_links_to_customer"], self._account, customer_id
            )
        self.summary.stale_links.update((row["person_key"], customer_id) for row in people)
        log.warning(
            "link_invalidated",
            customer_id=customer_id,
            person_keys=[row["person_key"] for row in people],
            reason="Square answers 404 for the customer (deleted or merged)",
        )

    def _count_applied(self, change: MembershipChange, group: GroupOutcome | None) -> None:
        self.summary.applied += 1
        if change.kind == "add":
            self._counts.adds += 1
            if group is not None:
                group.adds += 1
        else:
            self._counts.removes += 1
            if group is not None:
                group.removes += 1

    def _failed(
        self, change: MembershipChange, error: SquareError, group: GroupOutcome | None
    ) -> Outcome:
        self.summary.failed += 1
        self._counts.failed += 1
        if group is not None:
            group.failed += 1
        log.error(
            "change_failed",
            kind=change.kind,
            group_name=change.group_name,
            group_id=change.square_group_id,
            customer_id=change.square_customer_id,
            attempt=last_attempts(),
            error=truncate_error(error),
        )
        return Outcome(change.change_id, "failed", last_attempts(), truncate_error(error))

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        await self._journal.record_outcomes(outcomes)


def _change_from_row(row: Mapping[str, Any]) -> MembershipChange:
    return MembershipChange(
        change_id=row["id"],
        kind=row["kind"],
        group_name=row["group_name"],
        square_group_id=row["square_group_id"],
        square_customer_id=row["square_customer_id"],
    )
