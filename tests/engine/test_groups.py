"""Binding managed groups: adopt, create, refuse ambiguity, rename back, recreate."""

from __future__ import annotations

import structlog

from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, groups_in_square, members_in_square

PERSON = {"email_address": "ada@example.com"}


async def test_existing_group_with_the_name_is_adopted(
    desired: Desired, emulator: EmulatorServer
) -> None:
    existing = await emulator.admin.create_group_by_hand("VIP")
    await desired.manage("VIP")
    await desired.add("VIP", [PERSON])

    report = await desired.sync()

    assert report.status == "succeeded"
    assert await desired.group_id("VIP") == existing["id"]
    assert len(await groups_in_square(emulator)) == 1


async def test_missing_group_is_created_once(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")

    await desired.sync()
    await desired.sync()

    groups = await groups_in_square(emulator)
    assert [group["name"] for group in groups] == ["VIP"]


async def test_two_groups_with_the_name_stop_that_group_only(
    desired: Desired, emulator: EmulatorServer
) -> None:
    first = await emulator.admin.create_group_by_hand("VIP")
    second = await emulator.admin.create_group_by_hand("VIP")
    await desired.manage("VIP")
    await desired.manage("Other")
    await desired.add("VIP", [PERSON])
    await desired.add("Other", [PERSON])

    report = await desired.sync()

    assert report.status == "failed"
    error = report.groups["VIP"].error
    assert error is not None
    assert first["id"] in error
    assert second["id"] in error
    assert report.groups["Other"].adds == 1
    assert await members_in_square(emulator, first["id"]) == set()


async def test_group_renamed_in_square_is_renamed_back(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.sync()
    group_id = await desired.group_id("VIP")
    await emulator.admin.rename_group(group_id, "Very Important")

    with structlog.testing.capture_logs() as logs:
        await desired.sync()

    names = {group["id"]: group["name"] for group in await groups_in_square(emulator)}
    assert names == {group_id: "VIP"}
    assert any(line["event"] == "group_renamed_back" for line in logs)


async def test_group_deleted_in_square_is_recreated_with_members(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [PERSON])
    await desired.sync()
    old_id = await desired.group_id("VIP")
    await emulator.admin.delete_group(old_id)

    with structlog.testing.capture_logs() as logs:
        report = await desired.sync()

    new_id = await desired.group_id("VIP")
    assert new_id != old_id
    assert report.counts.adds == 1
    assert len(await members_in_square(emulator, new_id)) == 1
    assert any(line["event"] == "group_recreated" for line in logs)


async def test_unmanaged_group_is_never_touched(desired: Desired, emulator: EmulatorServer) -> None:
    other = await emulator.admin.create_group_by_hand("Newsletter")
    await desired.manage("VIP")
    await desired.add("VIP", [PERSON])
    await desired.sync()
    customer_id = next(iter(await members_in_square(emulator, await desired.group_id("VIP"))))
    await emulator.admin.add_member_by_hand(customer_id, other["id"])

    await desired.sync()

    assert await members_in_square(emulator, other["id"]) == {customer_id}
