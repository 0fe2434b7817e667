"""Safety rules: failed reads, modes, guards, the lock, interrupted runs, dry runs, auth."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import structlog

from groupsync.engine.lock import RunInProgress
from groupsync.engine.run import RunSettings
from groupsync.errors import InputError
from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, members_in_square, people


async def test_failed_read_means_no_removals(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(20))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(19))
    await emulator.admin.add_fault_rule(
        kind="status", endpoint="SearchCustomers", status=500, times=50
    )

    report = await desired.sync()

    assert report.status == "failed"
    assert report.groups["VIP"].read_complete is False
    assert report.counts.removes == 0
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 20


async def test_add_only_group_never_loses_members(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("Fans", mode="add_only")
    await desired.add("Fans", people(3))
    await desired.sync()
    await desired.clear("Fans")

    report = await desired.sync()

    assert report.counts.removes == 0
    assert len(await members_in_square(emulator, await desired.group_id("Fans"))) == 3


async def test_member_added_by_hand_to_mirror_group_is_removed(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.manage("Other")
    await desired.add("VIP", people(20))
    await desired.add("Other", people(1, prefix="stranger"))
    await desired.sync()
    stranger = next(iter(await members_in_square(emulator, await desired.group_id("Other"))))
    await emulator.admin.add_member_by_hand(stranger, await desired.group_id("VIP"))

    report = await desired.sync()

    assert report.counts.removes == 1
    assert stranger not in await members_in_square(emulator, await desired.group_id("VIP"))


async def test_mass_removal_is_held(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(20))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(15))

    with structlog.testing.capture_logs() as logs:
        report = await desired.sync()

    assert report.status == "held"
    assert report.groups["VIP"].held is True
    assert report.counts.removes == 0
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 20
    [held] = [line for line in logs if line["event"] == "removal_held"]
    assert held["log_level"] == "error"
    assert held["group_name"] == "VIP"
    assert held["members"] == 20
    assert held["planned_removes"] == 5


async def test_emptying_a_group_is_held(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(2))
    await desired.sync()
    await desired.clear("VIP")
    run_settings = replace(desired.settings, max_removal_share=1.0)
    desired.settings = run_settings

    report = await desired.sync()

    assert report.status == "held"
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 2


async def test_removals_over_max_removals_are_held(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(20))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(17))
    desired.settings = replace(desired.settings, max_removal_share=1.0, max_removals=2)

    report = await desired.sync()

    assert report.status == "held"


async def test_hold_is_recorded_in_holds_table(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(10))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(5))

    report = await desired.sync()

    async with desired.pool.acquire() as conn:
        hold = await conn.fetchrow("SELECT * FROM groupsync.holds")
    assert hold["run_id"] == report.run_id
    assert hold["group_name"] == "VIP"
    assert hold["planned_removes"] == 5
    assert hold["members"] == 10


async def test_allow_mass_removal_applies_held_removals(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(20))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(15))

    report = await desired.sync(allow_mass_removal=True)

    assert report.status == "succeeded"
    assert report.counts.removes == 5
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 15


async def test_held_group_still_gets_adds(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(10))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(5))
    await desired.add("VIP", people(1, prefix="newcomer"))

    report = await desired.sync()

    assert report.status == "held"
    assert report.counts.adds == 1
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 11


async def test_second_run_waits_for_the_lock(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(3))
    async with desired.pool.acquire() as conn:
        await conn.execute(
            "SELECT pg_advisory_lock(hashtextextended('groupsync.account:' || $1, 0))", "default"
        )
        with pytest.raises(RunInProgress):
            await desired.sync()
        await conn.execute("SELECT pg_advisory_unlock_all()")


async def test_concurrent_runs_reconcile_one_at_a_time(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(30))

    results = await asyncio.gather(desired.sync(), desired.sync(), return_exceptions=True)

    finished = [result for result in results if not isinstance(result, BaseException)]
    refused = [result for result in results if isinstance(result, RunInProgress)]
    assert len(finished) == 1
    assert len(refused) == 1
    async with desired.pool.acquire() as conn:
        adds = await conn.fetchval(
            "SELECT count(*) FROM groupsync.changes WHERE kind = 'add' AND status = 'applied'"
        )
    assert adds == 30


async def test_run_left_running_is_marked_interrupted(desired: Desired) -> None:
    await desired.manage("VIP")
    async with desired.pool.acquire() as conn:
        dead_run = await conn.fetchval(
            "INSERT INTO groupsync.sync_runs (account, trigger) VALUES ('default', 'schedule') "
            "RETURNING id"
        )
        await conn.execute(
            "INSERT INTO groupsync.changes (run_id, account, kind) VALUES ($1, 'default', 'add')",
            dead_run,
        )

    await desired.sync()

    async with desired.pool.acquire() as conn:
        run_status = await conn.fetchval(
            "SELECT status FROM groupsync.sync_runs WHERE id = $1", dead_run
        )
        change_status = await conn.fetchval(
            "SELECT status FROM groupsync.changes WHERE run_id = $1", dead_run
        )
    assert run_status == "interrupted"
    assert change_status == "interrupted"


async def test_dry_run_changes_nothing_in_square(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await emulator.admin.create_group_by_hand("VIP")
    await desired.add("VIP", people(3))

    report = await desired.sync(dry_run=True)

    assert report.planned_creates == 3
    assert (await emulator.admin.stats())["requests"].keys() <= {
        "ListCustomerGroups",
        "ListCustomers",
        "SearchCustomers",
    }


async def test_dry_run_lists_planned_changes(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(20))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(19))
    await desired.add("VIP", people(1, prefix="late"))

    report = await desired.sync(dry_run=True)

    # The late person has no Square customer yet, so their add waits for the creation.
    assert [change.kind for change in report.plan] == ["remove"]
    assert report.planned_creates == 1
    assert report.counts.adds == 0
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 20


async def test_group_filter_reconciles_only_that_group(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.manage("Other")
    await desired.add("VIP", people(2))
    await desired.add("Other", people(2, prefix="o"))

    report = await desired.sync(only_groups=frozenset({"VIP"}))

    assert list(report.groups) == ["VIP"]
    assert report.counts.adds == 2


async def test_group_filter_with_unknown_group_is_an_input_error(desired: Desired) -> None:
    await desired.manage("VIP")

    with pytest.raises(InputError, match="Nope"):
        await desired.sync(only_groups=frozenset({"Nope"}))


async def test_bad_token_stops_the_run_at_once(
    desired: Desired, emulator: EmulatorServer, run_settings: RunSettings
) -> None:
    from groupsync.square.client import SquareClient
    from tests.engine.conftest import FAST_RETRIES

    await desired.manage("VIP")
    await desired.add("VIP", people(5))
    async with SquareClient(
        base_url=emulator.base_url, token="wrong-token", retry_policy=FAST_RETRIES
    ) as client:
        desired.client = client
        report = await desired.sync()

    assert report.status == "failed"
    assert "SQUARE_ACCESS_TOKEN" in report.errors[0]
    stats = (await emulator.admin.stats())["requests"]
    assert sum(sum(by_status.values()) for by_status in stats.values()) == 1


async def test_rejected_row_does_not_remove_its_customer(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(20))
    await desired.sync()
    async with desired.pool.acquire() as conn:
        await conn.execute(
            "UPDATE groupsync.desired_memberships SET phone_number = '12' "
            "WHERE email_address = 'p0@example.com'"
        )

    report = await desired.sync()

    assert report.counts.rejected == 1
    assert report.counts.removes == 0
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 20
