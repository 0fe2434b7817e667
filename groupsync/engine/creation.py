"""Creating customers in bulk: BulkCreateCustomers, 100 people per request.

Each person keeps the idempotency key the resolver derives from them, used as the bulk
entry's key, so a retried request or a run repeated after a crash gets the same customers
back instead of duplicates. Every creation is journaled as a pending ``create_customer``
change before its request is sent, and gets its own outcome: Square answers each entry of
a bulk request separately, so one rejected person does not fail the other 99.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg

from groupsync.db.queries import QUERIES
from groupsync.engine.journal import Journal, Outcome, truncate_error
from groupsync.identity import Person
from groupsync.square.attempts import last_attempts
from groupsync.square.client import BULK_CHUNK_SIZE, SquareClient
from groupsync.square.errors import AuthenticationFailed, SquareError


@dataclass(frozen=True)
class Creation:
    """A person to create, with the idempotency key of their customer."""

    person: Person
    idempotency_key: str


class CustomerCreator:
    """Creates customers in batches and journals each one."""

    def __init__(
        self, pool: asyncpg.Pool, client: SquareClient, journal: Journal, *, concurrency: int
    ) -> None:
        self._pool = pool
        self._client = client
        self._journal = journal
        self._slots = asyncio.Semaphore(max(1, concurrency))

    async def create(self, creations: list[Creation]) -> dict[str, dict[str, Any] | SquareError]:
        """Create every person; return, by person key, the customer or the entry's error.

        Raises AuthenticationFailed, which no other batch could escape either.
        """
        batches = [
            creations[start : start + BULK_CHUNK_SIZE]
            for start in range(0, len(creations), BULK_CHUNK_SIZE)
        ]
        results: dict[str, dict[str, Any] | SquareError] = {}
        for batch_results in await asyncio.gather(*(self._create_batch(b) for b in batches)):
            results.update(batch_results)
        return results

    async def _create_batch(self, batch: list[Creation]) -> dict[str, dict[str, Any] | SquareError]:
        change_ids = await self._journal_batch(batch)
        by_key = {creation.idempotency_key: creation for creation in batch}

        async with self._slots:
            try:
                responses = await self._client.bulk_create_customers(
                    {key: creation.person.creation_fields() for key, creation in by_key.items()}
                )
            except SquareError as error:
                await self._journal.record_outcomes(
                    [
                        Outcome(change_id, "failed", last_attempts(), truncate_error(error))
                        for change_id in change_ids.values()
                    ]
                )
                if isinstance(error, AuthenticationFailed):
                    raise
                return {creation.person.key: error for creation in batch}

        attempts = last_attempts()
        outcomes = []
        results: dict[str, dict[str, Any] | SquareError] = {}
        for key, creation in by_key.items():
            response = responses[key]
            results[creation.person.key] = response
            if isinstance(response, SquareError):
                outcomes.append(
                    Outcome(change_ids[key], "failed", attempts, truncate_error(response))
                )
            else:
                outcomes.append(
                    Outcome(change_ids[key], "applied", attempts, None, None, response["id"])
                )
        await self._journal.record_outcomes(outcomes)
        return results

    async def _journal_batch(self, batch: list[Creation]) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                QUERIES["journal_customer_creations"],
                self._journal.run_id,
                self._journal.account,
                [creation.person.key for creation in batch],
                [creation.idempotency_key for creation in batch],
            )
        return {row["idempotency_key"]: row["id"] for row in rows}
