"""Normalised rows are kept between runs: a run normalises in Python only rows it has not
seen before, under the same rules, and stages the rest in SQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from groupsync.engine.desired import DesiredReader
from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, customers_in_square, members_in_square, people


@dataclasses.dataclass
class NormaliseSpy:
    """Counts the rows that the run normalises in Python."""

    calls: int = 0


@pytest.fixture
def normalise_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[NormaliseSpy]:
    spy = NormaliseSpy()
    real = DesiredReader._normalise

    async def counting(self: DesiredReader, row: Any, **kwargs: Any) -> Any:
        spy.calls += 1
        return await real(self, row, **kwargs)

    monkeypatch.setattr(DesiredReader, "_normalise", counting)
    yield spy


async def stored_entries(desired: Desired) -> list[dict[str, Any]]:
    async with desired.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT person_key, email_address, rules FROM groupsync.normalised_rows "
            "ORDER BY person_key"
        )
    return [dict(row) for row in rows]


async def test_unchanged_rows_are_not_normalised_again(
    desired: Desired, emulator: EmulatorServer, normalise_spy: NormaliseSpy
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": " Ada@Example.com "}, *people(2)])
    first = await desired.sync()
    assert normalise_spy.calls == 3

    with structlog.testing.capture_logs() as logs:
        second = await desired.sync()

    assert normalise_spy.calls == 3
    [staged] = [line for line in logs if line["event"] == "desired_rows_staged"]
    assert staged["staged"] == staged["reused"] == 3
    assert staged["normalised"] == 0
    assert first.counts.adds == 3
    assert second.counts.adds == second.counts.removes == 0
    emails = {c["email_address"] for c in await customers_in_square(emulator)}
    assert "ada@example.com" in {email.lower() for email in emails}
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 3


async def test_changed_row_is_normalised_and_replaces_the_person(
    desired: Desired, emulator: EmulatorServer, normalise_spy: NormaliseSpy
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(3))
    await desired.sync()
    async with desired.pool.acquire() as conn:
        await conn.execute(
            "UPDATE groupsync.desired_memberships SET email_address = 'NEW@example.com' "
            "WHERE email_address = 'p0@example.com'"
        )

    report = await desired.sync(allow_mass_removal=True)

    assert normalise_spy.calls == 4
    assert report.counts.adds == 1
    assert report.counts.removes == 1
    customers = {c["id"]: c for c in await customers_in_square(emulator)}
    members = await members_in_square(emulator, await desired.group_id("VIP"))
    emails = sorted(customers[member]["email_address"].lower() for member in members)
    assert emails == ["new@example.com", "p1@example.com", "p2@example.com"]


async def test_other_rules_normalise_every_row_again(
    desired: Desired, normalise_spy: NormaliseSpy
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(2))
    await desired.sync()

    desired.settings = dataclasses.replace(desired.settings, default_phone_region="GB")
    await desired.sync()

    assert normalise_spy.calls == 4
    regions = sorted(entry["rules"].split(";")[1] for entry in await stored_entries(desired))
    assert regions == ["region GB", "region GB"]


async def test_rejected_row_rejected_every_run(
    desired: Desired, normalise_spy: NormaliseSpy
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "not an address"}, *people(1)])

    first = await desired.sync()
    second = await desired.sync()

    assert first.counts.rejected == second.counts.rejected == 1
    assert normalise_spy.calls == 3
    assert [entry["person_key"] for entry in await stored_entries(desired)] == [
        "email:p0@example.com"
    ]
    async with desired.pool.acquire() as conn:
        runs = await conn.fetchval("SELECT count(DISTINCT run_id) FROM groupsync.rejections")
    assert runs == 2


async def test_same_person_in_two_groups_is_stored_once(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.manage("Speakers")
    await desired.add("VIP", people(2))
    await desired.add("Speakers", people(2))

    report = await desired.sync()

    assert report.counts.adds == 4
    assert len(await stored_entries(desired)) == 2


async def test_full_run_prunes_entries_no_row_uses(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(4))
    await desired.sync()
    async with desired.pool.acquire() as conn:
        await conn.execute(
            "DELETE FROM groupsync.desired_memberships WHERE email_address <> 'p0@example.com'"
        )

    await desired.sync(only_groups=frozenset({"VIP"}))
    assert len(await stored_entries(desired)) == 4

    await desired.sync()
    assert [entry["person_key"] for entry in await stored_entries(desired)] == [
        "email:p0@example.com"
    ]


async def test_source_rows_are_staged_from_stored_entries(
    desired: Desired, emulator: EmulatorServer, normalise_spy: NormaliseSpy
) -> None:
    async with desired.pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE attendees (email text, paid boolean);"
            "INSERT INTO attendees VALUES ('a@example.com', true), ('b@example.com', true),"
            " ('c@example.com', false);"
            "CREATE VIEW paid_attendees AS SELECT NULL::text AS square_customer_id,"
            " email AS email_address, NULL::text AS phone_number, NULL::text AS reference_id,"
            " NULL::text AS given_name, NULL::text AS family_name, NULL::text AS company_name"
            " FROM attendees WHERE paid"
        )
    await desired.manage("Attendees", source="paid_attendees")
    await desired.sync()
    async with desired.pool.acquire() as conn:
        await conn.execute("UPDATE attendees SET paid = true")

    report = await desired.sync()

    assert normalise_spy.calls == 3
    assert report.counts.adds == 1
    assert len(await members_in_square(emulator, await desired.group_id("Attendees"))) == 3
