"""End to end on the Chinook demo: PostgreSQL, the emulator, the CSV import and real runs.

Each test loads the demo as ``examples/demo.py`` does (Chinook, the demo's groups, Square's
starting state and the conference CSV) into a fresh database and emulator, and runs one sync.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import phonenumbers
import pytest

from examples.demo_data import (
    CONFERENCE_CSV,
    CONFERENCE_GROUP,
    load_chinook,
    load_demo_groups,
    square_seed_state,
)
from groupsync.csv_import import ImportReport, import_csv
from groupsync.db.migrator import migrate
from groupsync.engine.report import RunReport
from groupsync.engine.run import RunOptions, RunSettings, reconcile
from groupsync.square.client import SquareClient
from groupsync.testing.emulator import EmulatorServer

pytestmark = pytest.mark.slow

# Chinook customers, by reference_id, whose phone numbers the phonenumbers library reports
# as invalid: +453 3331 9991 (Denmark), +56 (0)2 635 4444 (Chile), +91 0124 39883988 (India).
INVALID_PHONE_CUSTOMERS = {"chinook-9", "chinook-57", "chinook-58"}

# Rejections that a run records for the demo's views: (group, source, reference_id).
EXPECTED_SOURCE_REJECTIONS = {
    ("Classical Buyers", "demo.classical_buyers", "chinook-57"),
    ("Classical Buyers", "demo.classical_buyers", "chinook-58"),
    ("Jazz Buyers", "demo.jazz_buyers", "chinook-58"),
    ("Top 10 Spenders", "demo.top_spenders", "chinook-57"),
}

# Lines of summer-conference-2022.csv that the import rejects, with their reasons.
EXPECTED_IMPORT_REJECTIONS = {
    (5, "invalid_email"),
    (22, "invalid_phone"),
    (26, "no_identity"),
}


@dataclass
class Demo:
    """The loaded demo after its first run."""

    pool: asyncpg.Pool
    client: SquareClient
    emulator: EmulatorServer
    import_report: ImportReport
    first_run: RunReport

    async def sync(self) -> RunReport:
        return await reconcile(
            pool=self.pool, client=self.client, settings=RunSettings(), options=RunOptions()
        )

    async def square_customers(self) -> list[dict[str, Any]]:
        state = await self.emulator.admin.dump()
        customers: list[dict[str, Any]] = state["sellers"]["default"]["customers"]
        return customers


@pytest.fixture
async def demo(database_url: str, emulator: EmulatorServer) -> AsyncIterator[Demo]:
    conn = await asyncpg.connect(database_url)
    try:
        await load_chinook(conn)
        await migrate(conn)
        await load_demo_groups(conn)
    finally:
        await conn.close()
    await emulator.admin.load_state(square_seed_state())

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    assert pool is not None
    try:
        import_report = await import_csv(
            pool, CONFERENCE_CSV, account="default", group_name=CONFERENCE_GROUP
        )
        async with SquareClient(base_url=emulator.base_url, token=emulator.token) as client:
            first_run = await reconcile(
                pool=pool, client=client, settings=RunSettings(), options=RunOptions()
            )
            yield Demo(pool, client, emulator, import_report, first_run)
    finally:
        await pool.close()


def e164(phone: str | None) -> str | None:
    """Return ``phone`` in E.164 form, reading numbers without a country code as US ones."""
    if phone is None:
        return None
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def customer_id_of(person: dict[str, Any], customers: list[dict[str, Any]]) -> str:
    """Return the id of the one Square customer with the person's email, else phone number."""
    email = (person.get("email_address") or "").strip().lower()
    phone = e164(person.get("phone_number"))
    by_email = [c["id"] for c in customers if email and c.get("email_address", "").lower() == email]
    by_phone = [c["id"] for c in customers if phone and e164(c.get("phone_number")) == phone]
    found = by_email or by_phone
    assert len(found) == 1, f"{person} matches {len(found)} Square customers: {found}"
    return found[0]


async def desired_people(conn: asyncpg.Connection, group: asyncpg.Record) -> list[dict[str, Any]]:
    """Return the group's valid desired people, read from its view or desired_memberships."""
    if group["source"] is None:
        rows = await conn.fetch(
            "SELECT email_address, phone_number FROM groupsync.desired_memberships "
            "WHERE group_name = $1",
            group["name"],
        )
    else:
        # The sources are the demo's own view names, so pasting them into SQL is safe here.
        rows = await conn.fetch(
            f"SELECT email_address, phone_number FROM {group['source']} "
            "WHERE NOT reference_id = ANY($1::text[])",
            list(INVALID_PHONE_CUSTOMERS),
        )
    return [dict(row) for row in rows]


def seeded_members(group_name: str) -> list[dict[str, Any]]:
    """Return the customers that Square's starting state puts in the group named ``group_name``."""
    seller = square_seed_state()["sellers"]["default"]
    group_ids = {group["id"] for group in seller["groups"] if group["name"] == group_name}
    return [c for c in seller["customers"] if group_ids & set(c.get("group_ids", []))]


async def test_demo_first_run_succeeds(demo: Demo) -> None:
    assert demo.first_run.status == "succeeded"


async def test_demo_groups_contain_desired_customers(demo: Demo) -> None:
    customers = await demo.square_customers()
    async with demo.pool.acquire() as conn:
        groups = await conn.fetch(
            "SELECT name, mode, source, square_group_id FROM groupsync.managed_groups"
        )
        desired = {group["name"]: await desired_people(conn, group) for group in groups}

    assert len(groups) == 5
    for group in groups:
        expected = {customer_id_of(person, customers) for person in desired[group["name"]]}
        if group["mode"] == "add_only":
            # An add_only group keeps the members it had before groupsync managed it.
            seeded = seeded_members(group["name"])
            expected |= {customer_id_of(person, customers) for person in seeded}
        members = {c["id"] for c in customers if group["square_group_id"] in c.get("group_ids", [])}
        assert members == expected, group["name"]


async def test_demo_mirror_group_loses_stray_member(demo: Demo) -> None:
    customers = await demo.square_customers()
    jazz_id = next(
        group.square_group_id
        for group in demo.first_run.groups.values()
        if group.name == "Jazz Buyers"
    )
    stray = next(
        c for c in customers if c.get("email_address", "").lower() == "leonekohler@surfeu.de"
    )

    assert jazz_id not in stray.get("group_ids", [])


async def test_demo_creates_no_customer_twice(demo: Demo) -> None:
    customers = await demo.square_customers()
    emails = Counter(c["email_address"].lower() for c in customers if c.get("email_address"))
    phones = Counter(e164(c.get("phone_number")) for c in customers if c.get("phone_number"))

    assert [email for email, count in emails.items() if count > 1] == []
    assert [phone for phone, count in phones.items() if count > 1] == []


async def test_demo_import_rejects_lines_with_reasons(demo: Demo) -> None:
    rejected = {(line.line, line.reason) for line in demo.import_report.rejected}

    assert rejected == EXPECTED_IMPORT_REJECTIONS
    assert demo.import_report.duplicates == [9]


async def test_demo_run_rejects_invalid_chinook_phones(demo: Demo) -> None:
    async with demo.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT group_name, source, reason, identity->>'reference_id' AS reference_id "
            "FROM groupsync.rejections WHERE run_id = $1",
            demo.first_run.run_id,
        )

    assert {row["reason"] for row in rows} == {"invalid_phone"}
    assert {(r["group_name"], r["source"], r["reference_id"]) for r in rows} == (
        EXPECTED_SOURCE_REJECTIONS
    )


async def test_demo_run_rejects_invalid_email_row(demo: Demo) -> None:
    # The import rejects this line of the CSV, so it is written the way another tool
    # might write it: straight into desired_memberships.
    async with demo.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO groupsync.desired_memberships (group_name, email_address, given_name) "
            "VALUES ($1, 'jane.doe@@example', 'Jane')",
            CONFERENCE_GROUP,
        )

    second_run = await demo.sync()

    async with demo.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT reason, identity->>'email_address' AS email_address "
            "FROM groupsync.rejections WHERE run_id = $1 AND group_name = $2",
            second_run.run_id,
            CONFERENCE_GROUP,
        )
    assert [(row["reason"], row["email_address"]) for row in rows] == [
        ("invalid_email", "jane.doe@@example")
    ]


async def test_demo_second_run_applies_nothing(demo: Demo) -> None:
    second_run = await demo.sync()

    assert second_run.status == "succeeded"
    assert second_run.counts.adds == 0
    assert second_run.counts.removes == 0
    assert second_run.counts.creates == 0
