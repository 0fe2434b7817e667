"""The listing read strategy: one ListCustomers walk serves the snapshot and matches
unlinked people in SQL by Square's exact-search rules."""

from __future__ import annotations

import pytest

from groupsync.engine import listing
from groupsync.engine.run import RunSettings
from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, members_in_square


@pytest.fixture
def run_settings() -> RunSettings:
    return RunSettings(applied_change_window_s=0.0, read_strategy="listing")


async def seed(emulator: EmulatorServer, customers: list[dict]) -> list[dict]:
    await emulator.admin.load_state(
        {"sellers": {"default": {"customers": customers, "groups": []}}}
    )
    await emulator.admin.reset_stats()
    return (await emulator.admin.dump())["sellers"]["default"]["customers"]


async def linked_customer(desired: Desired, person_key: str) -> str | None:
    async with desired.pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT square_customer_id FROM groupsync.links WHERE person_key = $1", person_key
        )


async def test_email_matches_case_insensitively(desired: Desired, emulator: EmulatorServer) -> None:
    [customer] = await seed(emulator, [{"email_address": "Ada@Example.COM"}])
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "ada@example.com"}])

    await desired.sync()

    assert await linked_customer(desired, "email:ada@example.com") == customer["id"]


async def test_stored_national_phone_matches_e164(
    desired: Desired, emulator: EmulatorServer
) -> None:
    [customer] = await seed(emulator, [{"phone_number": "(206) 555-0100"}])
    await desired.manage("VIP")
    await desired.add("VIP", [{"phone_number": "+1 206 555 0100"}])

    await desired.sync()

    assert await linked_customer(desired, "phone:+12065550100") == customer["id"]


async def test_reference_id_matches_case_insensitively(
    desired: Desired, emulator: EmulatorServer
) -> None:
    [customer] = await seed(emulator, [{"given_name": "Ada", "reference_id": "CRM-7"}])
    await desired.manage("VIP")
    await desired.add("VIP", [{"reference_id": "crm-7"}])

    await desired.sync()

    assert await linked_customer(desired, "ref:crm-7") == customer["id"]


async def test_email_decides_before_phone(desired: Desired, emulator: EmulatorServer) -> None:
    _by_phone, by_email = await seed(
        emulator,
        [
            {"phone_number": "+12065550100", "created_at": "2020-01-01T00:00:00.000Z"},
            {"email_address": "ada@example.com", "created_at": "2021-01-01T00:00:00.000Z"},
        ],
    )
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "ada@example.com", "phone_number": "+12065550100"}])

    await desired.sync()

    assert await linked_customer(desired, "email:ada@example.com") == by_email["id"]


async def test_ambiguous_match_takes_oldest(desired: Desired, emulator: EmulatorServer) -> None:
    _newer, older = await seed(
        emulator,
        [
            {"email_address": "ada@example.com", "created_at": "2022-01-01T00:00:00.000Z"},
            {"email_address": "ADA@example.com", "created_at": "2020-01-01T00:00:00.000Z"},
        ],
    )
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "ada@example.com"}])

    await desired.sync()

    assert await linked_customer(desired, "email:ada@example.com") == older["id"]


async def test_matched_people_need_no_search(desired: Desired, emulator: EmulatorServer) -> None:
    await seed(emulator, [{"email_address": f"p{index}@example.com"} for index in range(5)])
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(5)])

    await desired.sync()

    assert "SearchCustomers" not in (await emulator.admin.stats())["requests"]


async def test_walk_reads_every_member_from_uneven_pages(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(250)])
    await desired.sync()
    await emulator.admin.set_faults(page_mode="uneven")
    await desired.clear("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(240)])

    report = await desired.sync(allow_mass_removal=True)

    assert report.groups["VIP"].members == 250
    assert report.counts.removes == 10
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 240


async def test_walk_writes_customers_in_batches_spanning_pages(
    desired: Desired, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More than a page of 100, so one COPY spans pages and the walk ends with rows to write.
    monkeypatch.setattr(listing, "COPY_CUSTOMERS", 150)
    await seed(emulator, [{"email_address": f"p{index}@example.com"} for index in range(250)])
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(250)])

    first = await desired.sync()
    second = await desired.sync()

    # Every person matched a customer from the walk, none was searched or created, and the
    # second run counted each member once.
    assert first.counts.adds == 250
    assert first.counts.creates == 0
    assert "SearchCustomers" not in (await emulator.admin.stats())["requests"]
    assert second.groups["VIP"].members == 250
    assert second.counts.adds == second.counts.removes == 0


async def test_failed_walk_means_no_removals(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(20)])
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(19)])
    await emulator.admin.add_fault_rule(
        kind="status", endpoint="ListCustomers", status=500, times=50
    )

    report = await desired.sync()

    assert report.groups["VIP"].read_complete is False
    assert report.counts.removes == 0
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 20


async def test_creations_are_bulk_and_journaled(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(150)])

    report = await desired.sync()

    requests = (await emulator.admin.stats())["requests"]
    assert sum(requests["BulkCreateCustomers"].values()) == 2
    assert "CreateCustomer" not in requests
    assert report.counts.creates == 150
    async with desired.pool.acquire() as conn:
        journaled = await conn.fetchval(
            "SELECT count(*) FROM groupsync.changes "
            "WHERE kind = 'create_customer' AND status = 'applied' AND idempotency_key IS NOT NULL"
        )
    assert journaled == 150


async def test_repeated_creation_keys_return_same_customers(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "ada@example.com"}])
    await desired.sync()
    async with desired.pool.acquire() as conn:
        await conn.execute("DELETE FROM groupsync.links")
    await emulator.admin.set_faults(consistency_lag_s=60)

    await desired.sync()

    assert len((await emulator.admin.dump())["sellers"]["default"]["customers"]) == 1
