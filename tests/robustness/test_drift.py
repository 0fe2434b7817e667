"""Drift in Square: changes that someone makes by hand in the Dashboard between runs.

Each test performs the Dashboard action through the emulator's admin API (or through the
public API with the seller's token, standing in for a person), runs groupsync, and checks
the documented outcome.
"""

from __future__ import annotations

from dataclasses import replace

from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, customers_in_square, groups_in_square, members_in_square


def people(count: int, *, prefix: str = "p") -> list[dict]:
    return [{"email_address": f"{prefix}{index}@example.com"} for index in range(count)]


async def synced_group(desired: Desired, *, name: str = "VIP", count: int = 20) -> str:
    """Manage ``name`` with ``count`` people, sync once, and return the Square group id."""
    await desired.manage(name)
    await desired.add(name, people(count))
    await desired.sync()
    return await desired.group_id(name)


async def test_group_emptied_by_hand_is_refilled(
    desired: Desired, emulator: EmulatorServer
) -> None:
    group_id = await synced_group(desired)
    for customer_id in await members_in_square(emulator, group_id):
        await desired.client.remove_group_from_customer(customer_id, group_id)

    report = await desired.sync()

    # Adds are never held, so an emptied group is refilled in one run.
    assert report.status == "succeeded"
    assert report.counts.adds == 20
    assert len(await members_in_square(emulator, group_id)) == 20


async def test_member_added_by_hand_to_add_only_group_stays(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("Fans", mode="add_only")
    await desired.manage("Other")
    await desired.add("Fans", people(3))
    await desired.add("Other", people(1, prefix="stranger"))
    await desired.sync()
    fans_id = await desired.group_id("Fans")
    [stranger] = await members_in_square(emulator, await desired.group_id("Other"))
    await emulator.admin.add_member_by_hand(stranger, fans_id)

    report = await desired.sync()

    assert report.counts.removes == 0
    assert stranger in await members_in_square(emulator, fans_id)


async def test_customer_deleted_by_hand_is_created_again(
    desired: Desired, emulator: EmulatorServer
) -> None:
    group_id = await synced_group(desired, count=1)
    [old] = await customers_in_square(emulator)
    await emulator.admin.delete_customer_by_hand(old["id"])

    report = await desired.sync()

    [new] = await customers_in_square(emulator)
    assert report.status == "succeeded"
    assert report.counts.creates == 1
    assert new["id"] != old["id"]
    assert await members_in_square(emulator, group_id) == {new["id"]}


async def test_deleted_customer_link_is_replaced(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await synced_group(desired, count=1)
    [old] = await customers_in_square(emulator)
    await emulator.admin.delete_customer_by_hand(old["id"])

    await desired.sync()

    [new] = await customers_in_square(emulator)
    async with desired.pool.acquire() as conn:
        links = await conn.fetch("SELECT square_customer_id, linked_by FROM groupsync.links")
    assert [dict(link) for link in links] == [
        {"square_customer_id": new["id"], "linked_by": "created"}
    ]


async def test_add_for_deleted_customer_is_journaled_as_superseded(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await synced_group(desired, count=1)
    [old] = await customers_in_square(emulator)
    await emulator.admin.delete_customer_by_hand(old["id"])

    report = await desired.sync()

    async with desired.pool.acquire() as conn:
        stale = await conn.fetchrow(
            "SELECT status, error FROM groupsync.changes "
            "WHERE run_id = $1 AND kind = 'add' AND square_customer_id = $2",
            report.run_id,
            old["id"],
        )
    assert stale["status"] == "failed"
    assert "404" in stale["error"]
    assert report.counts.failed == 0


async def test_second_group_with_managed_name_is_left_alone(
    desired: Desired, emulator: EmulatorServer
) -> None:
    group_id = await synced_group(desired, count=3)
    intruder = await emulator.admin.create_group_by_hand("VIP")
    [customer_id, *_] = sorted(await members_in_square(emulator, group_id))
    await emulator.admin.add_member_by_hand(customer_id, intruder["id"])

    report = await desired.sync()

    # groupsync remembers its own group's id, so a namesake is not ambiguous for it.
    assert report.status == "succeeded"
    assert await desired.group_id("VIP") == group_id
    assert await members_in_square(emulator, intruder["id"]) == {customer_id}
    assert {group["id"]: group["name"] for group in await groups_in_square(emulator)} == {
        group_id: "VIP",
        intruder["id"]: "VIP",
    }


async def test_renamed_group_is_renamed_back_beside_a_namesake(
    desired: Desired, emulator: EmulatorServer
) -> None:
    group_id = await synced_group(desired, count=3)
    await emulator.admin.rename_group(group_id, "VIP (old)")
    intruder = await emulator.admin.create_group_by_hand("VIP")

    report = await desired.sync()

    assert report.status == "succeeded"
    assert await desired.group_id("VIP") == group_id
    assert {group["id"]: group["name"] for group in await groups_in_square(emulator)} == {
        group_id: "VIP",
        intruder["id"]: "VIP",
    }
    assert await members_in_square(emulator, intruder["id"]) == set()


async def test_recent_remove_wins_over_lagging_search(
    desired: Desired, emulator: EmulatorServer
) -> None:
    desired.settings = replace(desired.settings, applied_change_window_s=300)
    group_id = await synced_group(desired)
    await emulator.admin.set_faults(consistency_lag_s=60)
    await desired.clear("VIP")
    await desired.add("VIP", people(20)[1:])
    removing = await desired.sync()

    report = await desired.sync()

    # Search lists the removed member for another minute, but the journal records the removal.
    assert removing.counts.removes == 1
    assert report.counts.removes == 0
    assert report.counts.adds == 0
    assert len(await members_in_square(emulator, group_id)) == 19


async def test_lag_beyond_the_window_resends_harmless_adds(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await emulator.admin.set_faults(consistency_lag_s=60)
    group_id = await synced_group(desired, count=2)

    # The run settings' window is 0 s, so the lagging search decides: the adds go out again.
    report = await desired.sync()

    assert report.status == "succeeded"
    assert report.counts.adds == 2
    assert len(await members_in_square(emulator, group_id)) == 2
    assert len(await customers_in_square(emulator)) == 2


async def test_deleted_customer_found_by_lagging_search_fails_the_run(
    desired: Desired, emulator: EmulatorServer
) -> None:
    group_id = await synced_group(desired, count=1)
    [old] = await customers_in_square(emulator)
    await desired.client.remove_group_from_customer(old["id"], group_id)
    await emulator.admin.set_faults(consistency_lag_s=60)
    await emulator.admin.delete_customer_by_hand(old["id"])

    report = await desired.sync()

    # Search still finds the deleted customer, so the person cannot be placed this run.
    assert report.status == "failed"
    assert "vanished again" in report.errors[0]
    assert await members_in_square(emulator, group_id) == set()
