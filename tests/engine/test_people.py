"""Resolving people to Square customers: ids, searches, creation, links and rejections."""

from __future__ import annotations

import structlog

from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, customers_in_square, members_in_square


async def seed_customers(emulator: EmulatorServer, customers: list[dict]) -> list[dict]:
    await emulator.admin.load_state(
        {"sellers": {"default": {"customers": customers, "groups": []}}}
    )
    return (await emulator.admin.dump())["sellers"]["default"]["customers"]


async def seed_more_customers(emulator: EmulatorServer, customers: list[dict]) -> list[dict]:
    """Create customers by hand through the API, keeping the existing state."""
    import aiohttp

    created = []
    async with aiohttp.ClientSession() as session:
        for customer in customers:
            async with session.post(
                f"{emulator.base_url}/v2/customers",
                json=customer,
                headers={"Authorization": f"Bearer {emulator.token}"},
            ) as response:
                created.append((await response.json())["customer"])
    return created


async def test_given_customer_id_is_used_as_is(desired: Desired, emulator: EmulatorServer) -> None:
    [customer] = await seed_customers(emulator, [{"given_name": "Ada"}])
    await desired.manage("VIP")
    await desired.add("VIP", [{"square_customer_id": customer["id"]}])

    await desired.sync()

    assert await members_in_square(emulator, await desired.group_id("VIP")) == {customer["id"]}


async def test_unknown_customer_id_is_rejected_with_reason(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"square_customer_id": "NOSUCHCUSTOMER0000000000000"}])

    report = await desired.sync()

    assert report.counts.rejected == 1
    async with desired.pool.acquire() as conn:
        reason = await conn.fetchval("SELECT reason FROM groupsync.rejections")
    assert reason == "customer_not_found"


async def test_email_matches_case_insensitively(desired: Desired, emulator: EmulatorServer) -> None:
    [customer] = await seed_customers(emulator, [{"email_address": "Ada@Example.COM"}])
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": " ada@example.com "}])

    report = await desired.sync()

    assert report.counts.creates == 0
    assert await members_in_square(emulator, await desired.group_id("VIP")) == {customer["id"]}


async def test_local_phone_matches_e164_customer(
    desired: Desired, emulator: EmulatorServer
) -> None:
    [customer] = await seed_customers(emulator, [{"phone_number": "+12062223333"}])
    await desired.manage("VIP")
    await desired.add("VIP", [{"phone_number": "(206) 222-3333"}])

    report = await desired.sync()

    assert report.counts.creates == 0
    assert await members_in_square(emulator, await desired.group_id("VIP")) == {customer["id"]}


async def test_reference_id_matches(desired: Desired, emulator: EmulatorServer) -> None:
    [customer] = await seed_customers(emulator, [{"given_name": "G", "reference_id": "EMP-42"}])
    await desired.manage("VIP")
    await desired.add("VIP", [{"reference_id": "EMP-42"}])

    report = await desired.sync()

    assert report.counts.creates == 0
    assert await members_in_square(emulator, await desired.group_id("VIP")) == {customer["id"]}


async def test_several_matches_pick_the_oldest_and_log_ids(
    desired: Desired, emulator: EmulatorServer
) -> None:
    customers = await seed_customers(
        emulator,
        [
            {"email_address": "twin@example.com", "given_name": "Older"},
            {"email_address": "twin@example.com", "given_name": "Newer"},
        ],
    )
    oldest = min(customers, key=lambda customer: (customer["created_at"], customer["id"]))
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "twin@example.com"}])

    with structlog.testing.capture_logs() as logs:
        await desired.sync()

    assert await members_in_square(emulator, await desired.group_id("VIP")) == {oldest["id"]}
    [ambiguous] = [line for line in logs if line["event"] == "person_match_ambiguous"]
    assert sorted(ambiguous["customer_ids"]) == sorted(customer["id"] for customer in customers)


async def test_same_person_in_two_formats_is_one_customer(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add(
        "VIP",
        [{"email_address": "Ada@Example.com"}, {"email_address": "ada@example.com  "}],
    )

    report = await desired.sync()

    assert report.counts.creates == 1
    assert len(await customers_in_square(emulator)) == 1


async def test_links_are_cached_between_runs(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "ada@example.com"}])
    await desired.sync()
    await emulator.admin.reset_stats()

    await desired.sync()

    requests = (await emulator.admin.stats())["requests"]
    assert "CreateCustomer" not in requests
    assert requests.get("SearchCustomers", {}).keys() == {"200"}
    assert sum(requests["SearchCustomers"].values()) == 1


async def test_lost_link_after_crash_does_not_duplicate_customer(
    desired: Desired, emulator: EmulatorServer
) -> None:
    # Search does not see the customer yet when the next run looks for it.
    await emulator.admin.set_faults(consistency_lag_s=60)
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "ada@example.com", "given_name": "Ada"}])
    await desired.sync()
    # As after a crash between CreateCustomer and storing the link.
    async with desired.pool.acquire() as conn:
        await conn.execute("DELETE FROM groupsync.links")

    report = await desired.sync()

    assert report.status == "succeeded"
    assert len(await customers_in_square(emulator)) == 1


async def test_invalid_rows_are_rejected_and_the_rest_proceed(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add(
        "VIP",
        [
            {"email_address": "jane.doe@@example"},
            {"phone_number": "12"},
            {"given_name": "Nobody"},
            {"email_address": "ok@example.com"},
        ],
    )

    report = await desired.sync()

    assert report.counts.rejected == 3
    assert report.counts.adds == 1
    async with desired.pool.acquire() as conn:
        reasons = sorted(
            row["reason"] for row in await conn.fetch("SELECT reason FROM groupsync.rejections")
        )
    assert reasons == ["invalid_email", "invalid_phone", "no_identity"]


async def test_row_for_unmanaged_group_is_rejected(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("Unknown", [{"email_address": "ok@example.com"}])

    report = await desired.sync()

    assert report.counts.rejected == 1
    async with desired.pool.acquire() as conn:
        reason = await conn.fetchval("SELECT reason FROM groupsync.rejections")
    assert reason == "unknown_group"


async def test_customer_merged_away_is_resolved_again(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.manage("Other")
    await desired.add("VIP", [{"email_address": "ada@example.com"}])
    await desired.sync()
    [customer] = await customers_in_square(emulator)
    [duplicate] = await seed_more_customers(emulator, [{"email_address": "ada@example.com"}])
    merged = await emulator.admin.merge_customers([customer["id"], duplicate["id"]])
    await desired.add("Other", [{"email_address": "ada@example.com"}])

    report = await desired.sync()

    assert report.status == "succeeded"
    assert report.counts.removes == 0
    assert await members_in_square(emulator, await desired.group_id("Other")) == {merged["id"]}
    assert await members_in_square(emulator, await desired.group_id("VIP")) == {merged["id"]}
