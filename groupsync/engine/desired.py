"""Reading the desired state: ``desired_memberships`` rows and groups' ``source`` relations.

Rows go to the run's ``run_desired`` working set in PostgreSQL, so memory stays flat however
many rows there are. A row whose raw values an earlier run already normalised is staged by
one SQL statement from ``normalised_rows``, which keeps each normalised person under a hash
of the raw values it came from. Only rows not seen before are streamed to Python,
normalised in batches, staged and added to ``normalised_rows``. So a run over an unchanged
desired state spends no Python time per row. Rows that cannot be acted on become rejections
with a reason; the rest proceed.

Both statements of a relation run in one REPEATABLE READ transaction: they see the same
rows, so a row written meanwhile is either staged or left for the next run, never lost
between the two.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from groupsync.db.queries import QUERIES
from groupsync.identity import InvalidIdentity, Person, normalisation_rules, normalize_person

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

RUN_DESIRED_COLUMNS = ("run_id", "group_name", "person_key", "raw_hash", *PERSON_COLUMNS)

# Every person column as text, so that the hash and Python see the same raw values whatever
# the column types of a source relation.
_TEXT_COLUMNS = ", ".join(f"{column}::text AS {column}" for column in PERSON_COLUMNS)

# The raw values of a row ``s``: a row of texts, whose text form quotes empty strings and
# leaves NULLs empty, so two different rows never give the same input to md5.
_RAW_HASH = f"md5(row({', '.join(f's.{column}' for column in PERSON_COLUMNS)})::text)::uuid"

# A relation's rows for given groups: row_ref, group_name and the person columns as text.
# {account} and {groups} are placeholders for the numbered parameters of the query.
_TABLE_ROWS = (
    f"SELECT id::text AS row_ref, group_name, {_TEXT_COLUMNS} "
    "FROM groupsync.desired_memberships "
    "WHERE account = {account} AND group_name = ANY({groups}::text[])"
)
_SOURCE_ROWS = (
    "SELECT (row_number() OVER ())::text AS row_ref, ({groups}::text[])[1] AS group_name, "
    f"{_TEXT_COLUMNS} FROM {{relation}}"
)

# A run's working tables are filled faster than autovacuum analyses them, so the planner
# may take them for nearly empty and join by nested loops. Over a million rows, such a
# join computes a hash for every pair of rows, and a run would take hours. Hash joins need
# no statistics to stay linear.
_NO_NESTED_LOOPS = "SET LOCAL enable_nestloop = off"
# Normalising this many new rows in one run is worth fresh statistics of normalised_rows.
ANALYZE_AFTER_ROWS = 1_000

# $1 run id, $2 account, $3 normalisation rules, $4 group names.
_STAGE_NORMALISED = (
    f"INSERT INTO groupsync.run_desired ({', '.join(RUN_DESIRED_COLUMNS)}) "
    "SELECT $1, s.group_name, n.person_key, n.raw_hash, "
    f"{', '.join(f'n.{column}' for column in PERSON_COLUMNS)} "
    "FROM ({rows}) s "
    "JOIN groupsync.normalised_rows n "
    f"ON n.account = $2 AND n.rules = $3 AND n.raw_hash = {_RAW_HASH}"
)
# $1 account, $2 normalisation rules, $3 group names.
_NEW_ROWS = (
    f"SELECT s.*, {_RAW_HASH} AS raw_hash FROM ({{rows}}) s "
    "WHERE NOT EXISTS (SELECT 1 FROM groupsync.normalised_rows n "
    f"WHERE n.account = $1 AND n.rules = $2 AND n.raw_hash = {_RAW_HASH})"
)


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
    # Of the staged rows: normalised by an earlier run and staged by SQL, or normalised now.
    reused: int = 0
    normalised: int = 0
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
        self._rules = normalisation_rules(default_region)
        self.summary = DesiredSummary()

    async def stage(
        self, groups: list[ManagedGroup], *, only_groups: AbstractSet[str] | None = None
    ) -> DesiredSummary:
        """Stage the rows of ``groups`` (all managed groups, or those in ``only_groups``)."""
        in_scope = [group for group in groups if only_groups is None or group.name in only_groups]

        await self._stage_table_rows(groups, in_scope=in_scope, only_groups=only_groups)
        for group in in_scope:
            if group.source is None:
                continue
            try:
                await self._stage_source_rows(group)
            except SourceError as error:
                self.summary.group_errors[group.name] = str(error)
                log.error(
                    "source_unusable", group_name=group.name, source=group.source, error=str(error)
                )

        log.info(
            "desired_rows_staged",
            rows=self.summary.rows,
            staged=self.summary.staged,
            reused=self.summary.reused,
            normalised=self.summary.normalised,
            rejected=self.summary.rejected,
            ignored=self.summary.ignored,
        )
        if self.summary.normalised >= ANALYZE_AFTER_ROWS:
            await self._analyze_normalised_rows()
        if only_groups is None:
            await self._prune_normalised_rows()
        return self.summary

    async def _stage_table_rows(
        self,
        groups: list[ManagedGroup],
        *,
        in_scope: list[ManagedGroup],
        only_groups: AbstractSet[str] | None,
    ) -> None:
        table_groups = [group.name for group in in_scope if group.source is None]
        source_groups = [group.name for group in in_scope if group.source is not None]
        managed = [group.name for group in groups]

        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            await self._stage_relation(
                conn, _TABLE_ROWS, table_groups, source="desired_memberships"
            )
            await self._count_ignored(conn, source_groups)
            await self._reject_unknown_groups(conn, managed=managed, only_groups=only_groups)

    async def _stage_source_rows(self, group: ManagedGroup) -> None:
        assert group.source is not None
        quoted_name = await self._check_source(group.source)
        rows_sql = _SOURCE_ROWS.replace("{relation}", quoted_name)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            await conn.execute(_NO_NESTED_LOOPS)
            await self._stage_relation(conn, rows_sql, [group.name], source=group.source)

    async def _stage_relation(
        self, conn: asyncpg.Connection, rows_sql: str, group_names: list[str], *, source: str
    ) -> None:
        """Stage the rows of ``rows_sql`` for ``group_names``: normalised ones by SQL, new
        ones through Python. Runs inside the caller's REPEATABLE READ transaction."""
        if not group_names:
            return

        staged_sql = _STAGE_NORMALISED.format(rows=rows_sql.format(account="$2", groups="$4"))
        status = await conn.execute(
            staged_sql, self._run_id, self._account, self._rules, group_names
        )
        staged = int(status.split()[-1])
        self.summary.rows += staged
        self.summary.staged += staged
        self.summary.reused += staged

        new_sql = _NEW_ROWS.format(rows=rows_sql.format(account="$1", groups="$3"))
        batch: list[tuple[Any, ...]] = []
        async for row in conn.cursor(
            new_sql, self._account, self._rules, group_names, prefetch=BATCH_ROWS
        ):
            self.summary.rows += 1
            record = await self._normalise(row, group_name=row["group_name"], source=source)
            if record is not None:
                batch.append(record)
            if len(batch) >= BATCH_ROWS:
                await self._copy(batch)
                batch = []
        await self._copy(batch)

    async def _count_ignored(self, conn: asyncpg.Connection, source_groups: list[str]) -> None:
        # A group with a source reads its members from there; its desired_memberships rows
        # would be a second, conflicting truth, so they are counted and skipped.
        if not source_groups:
            return
        for row in await conn.fetch(QUERIES["count_desired_rows"], self._account, source_groups):
            self.summary.rows += row["rows"]
            self.summary.ignored += row["rows"]
            log.warning(
                "desired_rows_ignored",
                group_name=row["group_name"],
                rows=row["rows"],
                reason="the group has a source relation, which replaces desired_memberships",
            )

    async def _reject_unknown_groups(
        self,
        conn: asyncpg.Connection,
        *,
        managed: list[str],
        only_groups: AbstractSet[str] | None,
    ) -> None:
        scope = None if only_groups is None else sorted(only_groups)
        async for row in conn.cursor(
            QUERIES["desired_rows_of_unknown_groups"], self._account, managed, scope
        ):
            self.summary.rows += 1
            group_name = row["group_name"]
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

    async def _analyze_normalised_rows(self) -> None:
        # Autovacuum may not have analysed the table yet. Statistics that still describe it
        # as nearly empty would make the next run's join a nested loop over every pair of rows.
        async with self._pool.acquire() as conn:
            await conn.execute("ANALYZE groupsync.normalised_rows")

    async def _prune_normalised_rows(self) -> None:
        """Drop normalised entries that no row of this full run used, once they outnumber
        the staged rows, so the table stays within about twice the desired state."""
        async with self._pool.acquire() as conn, conn.transaction():
            entries = await conn.fetchval(QUERIES["count_normalised_rows"], self._account)
            if entries <= self.summary.staged:
                return
            await conn.execute(_NO_NESTED_LOOPS)
            status = await conn.execute(
                QUERIES["prune_normalised_rows"], self._account, self._rules, self._run_id
            )
        log.info("normalised_rows_pruned", entries_before=entries, deleted=int(status.split()[-1]))

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
        return self._record(group_name, person, raw_hash=row["raw_hash"])

    async def _protect(self, raw: Mapping[str, str | None], *, group_name: str) -> None:
        """Keep the customer a rejected row still identifies from being removed for it."""
        keys = readable_person_keys(raw, default_region=self._default_region)
        if not keys:
            return
        async with self._pool.acquire() as conn:
            await conn.execute(QUERIES["insert_protected_keys"], self._run_id, group_name, keys)

    def _record(self, group_name: str, person: Person, *, raw_hash: Any) -> tuple[Any, ...]:
        return (
            self._run_id,
            group_name,
            person.key,
            raw_hash,
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
        """Stage newly normalised rows and keep their people in ``normalised_rows``."""
        if not records:
            return
        # Columns of normalised_rows after account and rules, taken from run_desired's.
        normalised = [record[2:] for record in records]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(
                "run_desired",
                schema_name="groupsync",
                records=records,
                columns=RUN_DESIRED_COLUMNS,
            )
            await conn.execute(
                QUERIES["insert_normalised_rows"],
                self._account,
                self._rules,
                *[list(column) for column in zip(*normalised, strict=True)],
            )
        self.summary.staged += len(records)
        self.summary.normalised += len(records)


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
