"""Resolving people to Square customers, and caching the matches as links.

A person with a Square customer id is checked with BulkRetrieveCustomers. Anyone else is
looked up with exact searches, first by email address, then phone number, then reference
id; the first search that finds anyone decides. When several customers match, the one
created first wins (ties broken by id), because the oldest profile is the one most likely
to carry the person's history, and the choice is logged. When no customer matches, the customer
is created with an idempotency key derived from the person, so a retried or repeated
creation after a crash returns the same customer instead of a duplicate. Creations of a
page of people go out together, 100 per BulkCreateCustomers request.

When a complete ListCustomers walk has already linked everyone it could match, the
resolver is told not to search: the people left have no customer to find.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from groupsync.db.queries import QUERIES
from groupsync.engine.creation import Creation, CustomerCreator
from groupsync.engine.journal import Journal
from groupsync.engine.progress import Progress, ProgressListener
from groupsync.errors import TemporaryError
from groupsync.identity import Person
from groupsync.square.client import SquareClient
from groupsync.square.errors import AuthenticationFailed, SquareError

log = structlog.get_logger(__name__)

BULK_RETRIEVE_IDS = 100
# People are fetched from Postgres in pages of this size, so memory stays flat.
PAGE_PEOPLE = 2_000
SEARCH_ORDER = (
    ("email_address", "email"),
    ("phone_number", "phone"),
    ("reference_id", "reference_id"),
)


def customer_idempotency_key(account: str, person: Person, *, replaces: str | None = None) -> str:
    """Return the CreateCustomer key for ``person``: the same person and fields, the same key.

    ``replaces`` is the id of a customer of this person that Square no longer has. It is
    part of the key, because Square replays a key's first response, which would hand back
    the deleted customer instead of creating a new one.
    """
    parts: list[Any] = [account, person.key, person.creation_fields()]
    if replaces is not None:
        parts.append(replaces)
    material = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()[:45]


def pick_customer(customers: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the customer created first, ties broken by id."""
    return min(customers, key=lambda customer: (customer.get("created_at", ""), customer["id"]))


@dataclass
class ResolveSummary:
    """Counts from resolving a run's people."""

    people: int = 0
    linked: int = 0
    created: int = 0
    # People a dry run would have created.
    would_create: int = 0
    rejected: int = 0
    failed: int = 0
    # Groups with a person whose resolution failed for a temporary reason. Their desired
    # state is incomplete this run, so they must not lose members.
    incomplete_groups: set[str] = field(default_factory=set)


class Resolver:
    """Links every unlinked person of a run to a Square customer."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: SquareClient,
        journal: Journal,
        *,
        run_id: int,
        account: str,
        concurrency: int,
        create_missing: bool = True,
        stale_links: Mapping[str, str] | None = None,
        search: bool = True,
        stop: asyncio.Event | None = None,
        progress_listener: ProgressListener | None = None,
    ) -> None:
        self._pool = pool
        self._progress_listener = progress_listener
        # Set on shutdown: no new search or creation starts; requests in flight finish.
        self._stop = stop or asyncio.Event()
        self._create_missing = create_missing
        self._search = search
        self._creator = CustomerCreator(pool, client, journal, concurrency=concurrency)
        self._to_create: list[Creation] = []
        # Person key -> the customer their link named until Square returned 404 for it.
        self._stale_links = stale_links or {}
        self._client = client
        self._journal = journal
        self._run_id = run_id
        self._account = account
        self._concurrency = concurrency
        self.summary = ResolveSummary()

    async def resolve(self) -> ResolveSummary:
        """Resolve every person of the run that has no link yet, a page of people at a time."""
        async with self._pool.acquire() as conn:
            total = await conn.fetchval(
                QUERIES["count_unlinked_people"], self._run_id, self._account
            )
        progress = Progress(phase="resolve", total=total, listener=self._progress_listener)

        after = ""
        while not self._stop.is_set():
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    QUERIES["unlinked_people"], self._run_id, self._account, after, PAGE_PEOPLE
                )
            if not rows:
                return self.summary
            after = rows[-1]["person_key"]
            await self._resolve_page([_person_from_row(row) for row in rows])
            progress.advance(len(rows))
        return self.summary

    async def _resolve_page(self, people: list[Person]) -> None:
        self.summary.people += len(people)
        with_id = [person for person in people if person.square_customer_id]
        by_search = [person for person in people if not person.square_customer_id]

        for start in range(0, len(with_id), BULK_RETRIEVE_IDS):
            await self._resolve_given_ids(with_id[start : start + BULK_RETRIEVE_IDS])

        queue: asyncio.Queue[Person] = asyncio.Queue()
        for person in by_search:
            queue.put_nowait(person)
        workers = [
            asyncio.create_task(self._work(queue))
            for _ in range(min(self._concurrency, len(by_search)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
        await self._create_pending()

    async def _create_pending(self) -> None:
        creations, self._to_create = self._to_create, []
        if not creations or self._stop.is_set():
            return
        results = await self._creator.create(creations)
        for creation in creations:
            person = creation.person
            result = results[person.key]
            if isinstance(result, TemporaryError):
                await self._fail(person, result)
            elif isinstance(result, SquareError):
                await self._reject(person, reason="square_rejected", detail=str(result))
            else:
                self.summary.created += 1
                log.info("customer_created", person_key=person.key, customer_id=result["id"])
                await self._link(person, result["id"], linked_by="created")

    async def _work(self, queue: asyncio.Queue[Person]) -> None:
        while not queue.empty() and not self._stop.is_set():
            person = queue.get_nowait()
            try:
                await self._resolve_by_search(person)
            except AuthenticationFailed:
                raise
            except TemporaryError as error:
                await self._fail(person, error)
            except SquareError as error:
                await self._reject(person, reason="square_rejected", detail=str(error))

    async def _resolve_given_ids(self, people: list[Person]) -> None:
        ids = [person.square_customer_id for person in people if person.square_customer_id]
        try:
            found = await self._client.bulk_retrieve_customers(ids)
        except AuthenticationFailed:
            raise
        except SquareError as error:
            for person in people:
                await self._fail(person, error)
            return

        for person in people:
            assert person.square_customer_id is not None
            if found.get(person.square_customer_id) is None:
                await self._reject(
                    person,
                    reason="customer_not_found",
                    detail=(
                        f"Square has no customer {person.square_customer_id!r} (deleted or "
                        "merged); fix square_customer_id or give an email, phone or reference id"
                    ),
                )
                continue
            await self._link(person, person.square_customer_id, linked_by="given_id")

    async def _resolve_by_search(self, person: Person) -> None:
        for field_name, linked_by in SEARCH_ORDER:
            value = getattr(person, field_name)
            if value is None or not self._search:
                continue
            matches = await self._client.search_customers_exact(**{field_name: value})
            if not matches:
                continue
            chosen = pick_customer(matches)
            if len(matches) > 1:
                log.warning(
                    "person_match_ambiguous",
                    person_key=person.key,
                    matched_by=linked_by,
                    customer_ids=sorted(match["id"] for match in matches),
                    customer_id=chosen["id"],
                    rule="oldest created_at, then smallest id",
                )
            await self._link(person, chosen["id"], linked_by=linked_by)
            return

        if not self._create_missing:
            self.summary.would_create += 1
            log.info("customer_would_be_created", person_key=person.key)
            return

        key = customer_idempotency_key(
            self._account, person, replaces=self._stale_links.get(person.key)
        )
        self._to_create.append(Creation(person, key))

    async def _link(self, person: Person, customer_id: str, *, linked_by: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                QUERIES["upsert_link"], self._account, person.key, customer_id, linked_by
            )
        self.summary.linked += 1

    async def _reject(self, person: Person, *, reason: str, detail: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                QUERIES["reject_unresolved_people"],
                self._run_id,
                self._account,
                person.key,
                reason,
                detail,
            )
            await conn.execute(QUERIES["drop_person_from_run"], self._run_id, person.key)
        self.summary.rejected += int(status.split()[-1])
        log.warning("person_rejected", person_key=person.key, reason=reason, detail=detail)

    async def _fail(self, person: Person, error: Exception) -> None:
        self.summary.failed += 1
        async with self._pool.acquire() as conn:
            groups = await conn.fetch(QUERIES["person_groups"], self._run_id, person.key)
        self.summary.incomplete_groups.update(row["group_name"] for row in groups)
        log.error("person_resolution_failed", person_key=person.key, error=str(error))


def _person_from_row(row: Mapping[str, Any]) -> Person:
    return Person(
        square_customer_id=row["square_customer_id"],
        email_address=row["email_address"],
        phone_number=row["phone_number"],
        reference_id=row["reference_id"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        company_name=row["company_name"],
    )
