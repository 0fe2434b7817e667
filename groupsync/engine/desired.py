"""Reading the desired state: ``desired_memberships`` rows and groups' ``source`` relations.

Rows are streamed from a server-side cursor, normalised in batches and copied into the
run's ``run_desired`` working set, so memory stays flat however many rows there are.
Rows that cannot be acted on become rejections with a reason; the rest proceed.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from groupsync.db.queries import QUERIES
from groupsync.identity import InvalidIdentity, Person, normalize_person

log = structlog.get_logger(__name__)

PERSON_COLUMNS = (
    "square_customer_id",
    "email_address",
    "phone_number",
    "reference_id",
    "given_name",
    "family_name",
    "company_name",
)
IDENTITY_COLUMNS = PERSON_COLUMNS[:4]

# A source is `name` or `schema.name` made of plain identifier characters. It is checked
# here and by a CHECK constraint, then looked up with to_regclass, never pasted as text.
SOURCE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")

BATCH_ROWS = 5_000
# Rejections beyond this many per run are still recorded, but logged only as a count.
MAX_LOGGED_REJECTIONS = 20

RUN_DESIRED_COLUMNS = ("run_id", "group_name", "person_key", *PERSON_COLUMNS)


@dataclass
class ManagedGroup:
    """A row of ``managed_groups``; ``square_group_id`` is filled in when the group is bound."""

    name: str
    mode: str
    source: str | None
    square_group_id: str | None


class SourceError(Exception):
    """A group's ``source`` relation is unusable; the message gives the cause and the fix."""


@dataclass
class DesiredSummary:
    """Counts from reading the desired state, and errors per group."""

    rows: int = 0
    staged: int = 0
    rejected: int = 0
    ignored: int = 0
    group_errors: dict[str, str] = field(default_factory=dict)


class DesiredReader:
    """Stages one run's desired rows into ``run_desired`` and records rejections."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        run_id: int,
        account: str,
        default_region: str,
    ) -> None:
        self._pool = pool
        self._run_id = run_id
        self._account = account
        self._default_region = default_region
        self.summary = DesiredSummary()

    async def stage(
        self, groups: list[ManagedGroup], *, only_groups: AbstractSet[str] | None = None
    ) -> DesiredSummary:
        """Stage the rows of ``groups`` (all managed groups, or those in ``only_groups``)."""
        by_name = {group.name: group for group in groups}

        await self._stage_table_rows(by_name, only_groups=only_groups)
        for group in groups:
            if group.source is None or (only_groups is not None and group.name not in only_groups):
                continue
            try:
                await self._stage_source_rows(group)
            except SourceError as error:
                self.summary.group_errors[group.name] = str(error)
                log.error(
                    "source_unusable", group_name=group.name, source=group.source, error=str(error)
                )
        return self.summary

    async def _stage_table_rows(
        self, by_name: Mapping[str, ManagedGroup], *, only_groups: AbstractSet[str] | None
    ) -> None:
        ignored_by_group: dict[str, int] = {}
        batch: list[tuple[Any, ...]] = []

        async for row in self._stream(QUERIES["desired_rows"], self._account):
            group_name = row["group_name"]
            if only_groups is not None and group_name not in only_groups:
                continue
            self.summary.rows += 1
            group = by_name.get(group_name)
            if group is None:
                await self._reject(
                    row,
                    group_name=group_name,
                    source="desired_memberships",
                    reason="unknown_group",
                    detail=(
                        f"group {group_name!r} is not in groupsync.managed_groups for account "
                        f"{self._account!r}; add it there or fix group_name"
                    ),
                )
                continue
            if group.source is not None:
                # The group reads its members from its source; these rows would be a second,
                # conflicting truth, so they are counted and skipped.
                ignored_by_group[group_name] = ignored_by_group.get(group_name, 0) + 1
                continue
            record = await self._normalise(row, group_name=group_name, source="desired_memberships")
            if record is not None:
                batch.append(record)
            if len(batch) >= BATCH_ROWS:
                await self._copy(batch)
                batch = []
        await self._copy(batch)

        for group_name, count in ignored_by_group.items():
            self.summary.ignored += count
            log.warning(
                "desired_rows_ignored",
                group_name=group_name,
                rows=count,
                reason="the group has a source relation, which replaces desired_memberships",
            )

    async def _stage_source_rows(self, group: ManagedGroup) -> None:
        assert group.source is not None
        quoted_name = await self._check_source(group.source)
        query = (
            f"SELECT (row_number() OVER ())::text AS row_ref, {', '.join(PERSON_COLUMNS)} "
            f"FROM {quoted_name}"
        )
        batch: list[tuple[Any, ...]] = []
        async for row in self._stream(query):
            self.summary.rows += 1
            record = await self._normalise(row, group_name=group.name, source=group.source)
            if record is not None:
                batch.append(record)
            if len(batch) >= BATCH_ROWS:
                await self._copy(batch)
                batch = []
        await self._copy(batch)

    async def _check_source(self, source: str) -> str:
        """Return the relation's name as quoted by PostgreSQL, or raise :class:`SourceError`."""
        if not SOURCE_PATTERN.match(source):
            raise SourceError(
                f"source {source!r} is not a table or view name; use `name` or `schema.name`"
            )
        async with self._pool.acquire() as conn:
            found = await conn.fetchrow(QUERIES["resolve_relation"], source)
            if found is None or found["oid"] is None:
                raise SourceError(
                    f"source {source!r} does not exist; create the table or view, or fix "
                    "managed_groups.source"
                )
            columns = {
                row["attname"]
                for row in await conn.fetch(QUERIES["relation_columns"], found["oid"])
            }
        missing = [column for column in PERSON_COLUMNS if column not in columns]
        if missing:
            raise SourceError(
                f"source {source!r} lacks the column(s) {', '.join(missing)}; it must have "
                f"all of {', '.join(PERSON_COLUMNS)} (use NULL::text for ones you do not have)"
            )
        return str(found["quoted_name"])

    async def _normalise(
        self, row: Mapping[str, Any], *, group_name: str, source: str
    ) -> tuple[Any, ...] | None:
        raw = {column: _as_text(row[column]) for column in PERSON_COLUMNS}
        try:
            person = normalize_person(raw, default_region=self._default_region)
        except InvalidIdentity as error:
            await self._reject(
                row, group_name=group_name, source=source, reason=error.reason, detail=str(error)
            )
            await self._protect(raw, group_name=group_name)
            return None
        return self._record(group_name, person)

    async def _protect(self, raw: Mapping[str, str | None], *, group_name: str) -> None:
        """Keep the customer a rejected row still identifies from being removed for it."""
        keys = readable_person_keys(raw, default_region=self._default_region)
        if not keys:
            return
        async with self._pool.acquire() as conn:
            await conn.execute(QUERIES["insert_protected_keys"], self._run_id, group_name, keys)

    def _record(self, group_name: str, person: Person) -> tuple[Any, ...]:
        return (
            self._run_id,
            group_name,
            person.key,
            person.square_customer_id,
            person.email_address,
            person.phone_number,
            person.reference_id,
            person.given_name,
            person.family_name,
            person.company_name,
        )

    async def _reject(
        self,
        row: Mapping[str, Any],
        *,
        group_name: str,
        source: str,
        reason: str,
        detail: str,
    ) -> None:
        self.summary.rejected += 1
        identity = {
            column: _as_text(row[column])
            for column in PERSON_COLUMNS
            if column in row and row[column] is not None
        }
        async with self._pool.acquire() as conn:
            await conn.execute(
                QUERIES["insert_rejection"],
                self._run_id,
                self._account,
                group_name,
                source,
                row.get("row_ref"),
                reason,
                detail,
                json.dumps(identity),
            )
        if self.summary.rejected <= MAX_LOGGED_REJECTIONS:
            log.warning(
                "row_rejected",
                group_name=group_name,
                source=source,
                row_ref=row.get("row_ref"),
                reason=reason,
                detail=detail,
            )

    async def _copy(self, records: list[tuple[Any, ...]]) -> None:
        if not records:
            return
        async with self._pool.acquire() as conn:
            await conn.copy_records_to_table(
                "run_desired",
                schema_name="groupsync",
                records=records,
                columns=RUN_DESIRED_COLUMNS,
            )
        self.summary.staged += len(records)

    async def _stream(self, query: str, *args: Any) -> AsyncIterator[Mapping[str, Any]]:
        async with self._pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(query, *args, prefetch=BATCH_ROWS):
                yield row


def readable_person_keys(raw: Mapping[str, str | None], *, default_region: str) -> list[str]:
    """Return the person keys of the identity fields of ``raw`` that are valid on their own."""
    keys = []
    for column in IDENTITY_COLUMNS:
        if not raw.get(column):
            continue
        try:
            person = normalize_person({column: raw[column]}, default_region=default_region)
        except InvalidIdentity:
            continue
        keys.append(person.key)
    return keys


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
