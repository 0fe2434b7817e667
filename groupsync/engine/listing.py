"""The ListCustomers walk: every customer of the seller read once, from both ends.

One walk serves two purposes. Each customer carries its ``group_ids``, so the memberships
of the managed groups go to ``run_snapshot``; and each carries its identity fields, which
go to ``run_customers`` in the form Square's exact search compares them, so unlinked people
are matched in SQL instead of with one search each.

A cursor walk is sequential, so its speed is one page per round trip. Two walkers run at
once, one from the oldest customer (``CREATED_AT`` ascending) and one from the newest, and
stop when they have passed each other, which halves the walk's wall time. Each keeps a
customer only if the other walker cannot have seen it yet, so every customer is stored
exactly once whatever order Square gives customers created at the same instant.

A walk that fails is incomplete, and the run then removes nobody from any group.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import phonenumbers
import structlog

from groupsync.db.queries import QUERIES
from groupsync.engine.progress import Progress
from groupsync.square.client import SquareClient
from groupsync.square.errors import AuthenticationFailed, SquareError

log = structlog.get_logger(__name__)

CUSTOMER_COLUMNS = (
    "run_id",
    "square_customer_id",
    "email_address",
    "phone_as_stored",
    "reference_id",
    "created_at",
)
SNAPSHOT_COLUMNS = ("run_id", "square_group_id", "square_customer_id")
PHONE_BATCH = 5_000
# Customers gathered from the walk's pages before one COPY writes them: each COPY costs a
# round trip and a type lookup, more than the 100 customers of one page take to encode.
COPY_CUSTOMERS = 2_000


@functools.lru_cache(maxsize=65_536)
def stored_phone_e164(text: str, default_region: str) -> str | None:
    """Return a phone number as stored in Square in E.164 form, as Square's exact search
    converts it, or None when it cannot be read as one."""
    region = None if text.lstrip().startswith("+") else default_region
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def convert_stored_phones(pool: asyncpg.Pool, *, run_id: int, default_region: str) -> int:
    """Set ``run_customers.phone_number`` to the E.164 form of each customer's stored phone
    number that can be read as one; return how many distinct numbers were converted."""
    converted = 0
    async with (
        pool.acquire() as reader,
        reader.transaction(),
        pool.acquire() as writer,
        writer.transaction(),
    ):
        await writer.execute(QUERIES["create_phone_forms"])
        batch: list[tuple[str, str]] = []
        async for row in reader.cursor(QUERIES["stored_phones"], run_id, prefetch=PHONE_BATCH):
            e164 = stored_phone_e164(row["phone_as_stored"], default_region)
            if e164 is not None:
                batch.append((row["phone_as_stored"], e164))
            if len(batch) >= PHONE_BATCH:
                converted += await _copy_phone_forms(writer, batch)
                batch = []
        converted += await _copy_phone_forms(writer, batch)
        await writer.execute(QUERIES["set_customer_phones"], run_id)
    return converted


async def _copy_phone_forms(conn: asyncpg.Connection, batch: list[tuple[str, str]]) -> int:
    if batch:
        await conn.copy_records_to_table("phone_forms", records=batch)
    return len(batch)


@dataclass
class WalkResult:
    """The outcome of a ListCustomers walk: pages, customers, members per group, errors."""

    complete: bool = False
    pages: int = 0
    customers: int = 0
    # Members per managed Square group id.
    members: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class _Frontier:
    """How far one walker has come: the furthest created_at it has seen, and the ids seen
    at exactly that instant (customers created at the same instant may come in any order)."""

    def __init__(self, *, ascending: bool) -> None:
        self.ascending = ascending
        self.created_at: str | None = None
        self.ids_at_edge: set[str] = set()
        self.finished = False

    def has_seen(self, created_at: str, customer_id: str) -> bool:
        """Return whether this walker has certainly seen the customer already."""
        if self.created_at is None:
            return False
        if created_at == self.created_at:
            return customer_id in self.ids_at_edge
        return created_at < self.created_at if self.ascending else created_at > self.created_at

    def advance(self, created_at: str, customer_id: str) -> None:
        if self.created_at == created_at:
            self.ids_at_edge.add(customer_id)
            return
        self.created_at = created_at
        self.ids_at_edge = {customer_id}


class CustomerWalk:
    """Reads every customer into ``run_customers`` and managed memberships into
    ``run_snapshot``."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: SquareClient,
        *,
        run_id: int,
        group_ids: Collection[str],
        max_pages: int,
        two_ended: bool = True,
        progress: Progress | None = None,
    ) -> None:
        self._pool = pool
        self._progress = progress
        self._client = client
        self._run_id = run_id
        self._group_ids = frozenset(group_ids)
        self._max_pages = max_pages
        self._ascending = _Frontier(ascending=True)
        self._descending = _Frontier(ascending=False)
        self._failed = False
        self._two_ended = two_ended
        self._customers: list[tuple[Any, ...]] = []
        self._memberships: list[tuple[Any, ...]] = []
        self.result = WalkResult(members={group_id: 0 for group_id in self._group_ids})

    async def walk(self) -> WalkResult:
        """Walk from both ends until the walkers meet (or from the oldest customer to the
        newest when not ``two_ended``); return what was read."""
        walkers = [self._walk_one(self._ascending, self._descending)]
        if self._two_ended:
            walkers.append(self._walk_one(self._descending, self._ascending))
        outcomes = await asyncio.gather(*walkers, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        await self._copy()

        self.result.complete = not self._failed
        log.info(
            "customer_walk_finished",
            complete=self.result.complete,
            pages=self.result.pages,
            customers=self.result.customers,
        )
        return self.result

    async def _walk_one(self, mine: _Frontier, other: _Frontier) -> None:
        pages = self._client.iter_customer_pages(
            max_pages=self._max_pages,
            sort_field="CREATED_AT",
            sort_order="ASC" if mine.ascending else "DESC",
        )
        try:
            async for page in pages:
                self.result.pages += 1
                await self._store(page, mine, other)
                if self._progress is not None:
                    self._progress.advance()
                if self._should_stop(other):
                    return
        except AuthenticationFailed:
            self._failed = True
            raise
        except SquareError as error:
            self._failed = True
            self.result.error = str(error)
            log.error(
                "customer_walk_failed",
                order="ascending" if mine.ascending else "descending",
                pages=self.result.pages,
                error=str(error),
            )
            return
        finally:
            await pages.aclose()  # type: ignore[attr-defined]
        mine.finished = True

    def _should_stop(self, other: _Frontier) -> bool:
        if self._failed or other.finished:
            return True
        # Passed each other: every customer is older than the ascending walker's edge or
        # newer than the descending walker's, so one of them has read it.
        ascending, descending = self._ascending.created_at, self._descending.created_at
        return ascending is not None and descending is not None and ascending > descending

    async def _store(self, page: list[dict[str, Any]], mine: _Frontier, other: _Frontier) -> None:
        customers, memberships = self._customers, self._memberships
        customers_before = len(customers)
        for customer in page:
            customer_id = customer["id"]
            created_at = str(customer.get("created_at") or "")
            keep = not other.has_seen(created_at, customer_id)
            mine.advance(created_at, customer_id)
            if not keep:
                continue
            customers.append(self._customer_record(customer_id, created_at, customer))
            for group_id in customer.get("group_ids") or ():
                if group_id in self._group_ids:
                    memberships.append((self._run_id, group_id, customer_id))
                    self.result.members[group_id] += 1

        self.result.customers += len(customers) - customers_before
        if len(customers) >= COPY_CUSTOMERS:
            await self._copy()

    async def _copy(self) -> None:
        # Swapped out before the COPY, so the other walker's pages go to fresh lists meanwhile.
        customers, self._customers = self._customers, []
        memberships, self._memberships = self._memberships, []
        async with self._pool.acquire() as conn:
            if customers:
                await conn.copy_records_to_table(
                    "run_customers",
                    schema_name="groupsync",
                    records=customers,
                    columns=CUSTOMER_COLUMNS,
                )
            if memberships:
                await conn.copy_records_to_table(
                    "run_snapshot",
                    schema_name="groupsync",
                    records=memberships,
                    columns=SNAPSHOT_COLUMNS,
                )

    def _customer_record(
        self, customer_id: str, created_at: str, customer: dict[str, Any]
    ) -> tuple[Any, ...]:
        # The phone number stays as stored: converting it costs tens of microseconds, and
        # only matching unlinked people by phone needs it (convert_stored_phones).
        email = customer.get("email_address")
        phone = customer.get("phone_number")
        reference = customer.get("reference_id")
        return (
            self._run_id,
            customer_id,
            email.lower() if email else None,
            phone or None,
            reference.lower() if reference else None,
            created_at,
        )
