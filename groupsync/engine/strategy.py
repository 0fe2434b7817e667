"""The read strategy: how a run learns the groups' members and finds unlinked people.

Two ways cost different numbers of calls:

- ``per_group``: SearchCustomers on each managed group, ``ceil(members / 100)`` pages per
  group, plus up to three exact searches per unlinked person and a BulkRetrieveCustomers
  call per 100 given ids. A group's members are estimated by its desired people, which
  match them once the group is in sync, so this estimate costs no request;
- ``listing``: one ListCustomers walk of every customer, ``ceil(customers / 100)`` pages
  (plus one where the two walkers meet), which also carries every customer's identity, so
  unlinked people are matched in SQL at no further cost.

:class:`SnapshotSource` estimates both, takes the cheaper one (logged once per run as
``read_strategy_chosen``), and then serves the run's read either way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import asyncpg
import structlog

from groupsync.db.queries import QUERIES
from groupsync.engine.desired import ManagedGroup
from groupsync.engine.listing import CustomerWalk, WalkResult, convert_stored_phones
from groupsync.engine.progress import Progress, ProgressListener
from groupsync.engine.snapshot import GroupRead, SnapshotReader
from groupsync.square.client import CUSTOMERS_PAGE_LIMIT, SquareClient
from groupsync.square.errors import AuthenticationFailed, SquareError

log = structlog.get_logger(__name__)

LISTING = "listing"
PER_GROUP = "per_group"
AUTO = "auto"
STRATEGIES = (AUTO, LISTING, PER_GROUP)

# Ambiguous local matches are logged one by one up to this many, then as a count.
MAX_LOGGED_AMBIGUITIES = 20


@dataclass(frozen=True)
class ReadEstimate:
    """The calls each strategy would cost this run."""

    listing_calls: int
    per_group_calls: int
    customers: int
    unlinked_people: int

    @property
    def strategy(self) -> str:
        # On a tie the per-group read wins: its pages carry only the managed groups' members.
        return LISTING if self.listing_calls < self.per_group_calls else PER_GROUP


def pages(items: int) -> int:
    """Pages of a listing of ``items`` (an empty listing still costs one request)."""
    return max(1, math.ceil(items / CUSTOMERS_PAGE_LIMIT))


def listing_pages(customers: int) -> int:
    """Pages of a two-ended walk over ``customers``: the walkers overlap by up to a page
    where they meet, and a listing of up to two pages is walked from one end only."""
    if pages(customers) <= 2:
        return pages(customers)
    return pages(customers) + 1


class SnapshotSource:
    """Chooses the run's read strategy and reads the snapshot with it."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: SquareClient,
        *,
        run_id: int,
        account: str,
        strategy: str,
        read_concurrency: int,
        max_pages: int,
        default_region: str,
        progress_listener: ProgressListener | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown read strategy {strategy!r}; use one of {STRATEGIES}")
        self._pool = pool
        self._client = client
        self._run_id = run_id
        self._account = account
        self._configured = strategy
        self._read_concurrency = read_concurrency
        self._max_pages = max_pages
        self._default_region = default_region
        self._progress_listener = progress_listener
        self.strategy = PER_GROUP if strategy == AUTO else strategy
        self.walk: WalkResult | None = None
        self._customers: int | None = None

    @property
    def searches_needed(self) -> bool:
        """Whether people left unlinked must still be searched before they are created.

        After a complete walk, a person it did not match has no customer to find."""
        return self.walk is None or not self.walk.complete

    async def prepare(self, groups: list[ManagedGroup]) -> None:
        """Choose the strategy; for a listing, walk now and link the people it matches, so
        that resolution afterwards handles only the rest."""
        readable = [group for group in groups if group.square_group_id]
        if self._configured == AUTO:
            estimate = await self._estimate(readable)
            self.strategy = estimate.strategy
            log.info(
                "read_strategy_chosen",
                strategy=self.strategy,
                listing_calls=estimate.listing_calls,
                per_group_calls=estimate.per_group_calls,
                customers=estimate.customers,
                unlinked_people=estimate.unlinked_people,
            )
        else:
            log.info("read_strategy_chosen", strategy=self.strategy, configured=True)

        if self.strategy == LISTING:
            await self._walk(
                readable, two_ended=self._customers is None or pages(self._customers) > 2
            )

    async def read(self, groups: list[ManagedGroup]) -> dict[str, GroupRead]:
        """Return each group's read: from the walk, or by searching each group now."""
        if self.walk is None:
            reader = SnapshotReader(
                self._pool,
                self._client,
                run_id=self._run_id,
                concurrency=self._read_concurrency,
                max_pages_per_group=self._max_pages,
                progress=Progress(
                    phase="read_groups", total=len(groups), listener=self._progress_listener
                ),
            )
            return await reader.read(groups)

        walk = self.walk
        results = {}
        for group in groups:
            assert group.square_group_id is not None
            results[group.name] = GroupRead(
                members=walk.members.get(group.square_group_id, 0),
                pages=walk.pages,
                complete=walk.complete and group.square_group_id in walk.members,
                error=walk.error or (None if walk.complete else "the customer walk stopped"),
            )
        return results

    async def _estimate(self, groups: list[ManagedGroup]) -> ReadEstimate:
        async with self._pool.acquire() as conn:
            cost = await conn.fetchrow(QUERIES["unlinked_people_cost"], self._run_id, self._account)
            desired = {
                row["group_name"]: row["people"]
                for row in await conn.fetch(QUERIES["desired_people_per_group"], self._run_id)
            }
        resolve_calls = cost["searches"] + math.ceil(cost["given_ids"] / 100)
        group_pages = sum(pages(desired.get(group.name, 0)) for group in groups)
        self._customers = await self._client.count_customers()
        return ReadEstimate(
            listing_calls=listing_pages(self._customers),
            per_group_calls=group_pages + resolve_calls,
            customers=self._customers,
            unlinked_people=cost["people"],
        )

    async def _walk(self, groups: list[ManagedGroup], *, two_ended: bool = True) -> None:
        walk = CustomerWalk(
            self._pool,
            self._client,
            run_id=self._run_id,
            group_ids=[group.square_group_id for group in groups if group.square_group_id],
            max_pages=self._max_pages,
            two_ended=two_ended,
            # The page count is known only when the strategy was estimated; 0 means unknown.
            progress=Progress(
                phase="read_customers",
                total=listing_pages(self._customers) if self._customers is not None else 0,
                listener=self._progress_listener,
            ),
        )
        try:
            self.walk = await walk.walk()
        except AuthenticationFailed:
            raise
        except SquareError as error:
            walk.result.error = str(error)
            self.walk = walk.result
        if self.walk.complete:
            await self._link_matches()

    async def _link_matches(self) -> None:
        async with self._pool.acquire() as conn:
            by_phone = await conn.fetchval(
                QUERIES["unlinked_people_with_phone"], self._run_id, self._account
            )
        if by_phone:
            await convert_stored_phones(
                self._pool, run_id=self._run_id, default_region=self._default_region
            )
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                QUERIES["link_people_from_listing"],
                self._run_id,
                self._account,
                MAX_LOGGED_AMBIGUITIES,
            )
        for match in json.loads(row["ambiguous_sample"]):
            log.warning(
                "person_match_ambiguous",
                person_key=match["person_key"],
                matched_by=match["matched_by"],
                customer_ids=sorted(match["customer_ids"]),
                customer_id=match["customer_id"],
                rule="oldest created_at, then smallest id",
            )
        if row["ambiguous"] > MAX_LOGGED_AMBIGUITIES:
            log.warning("person_matches_ambiguous", count=row["ambiguous"])
        log.info("people_linked_from_listing", linked=row["linked"], ambiguous=row["ambiguous"])
