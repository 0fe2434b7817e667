"""Stopping a run on shutdown, and what a dry run reports."""

from __future__ import annotations

import asyncio

from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, members_in_square, people


async def test_stop_before_apply_marks_run_interrupted(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(3))
    stop = asyncio.Event()
    stop.set()

    report = await desired.sync(stop=stop)

    assert report.status == "interrupted"
    assert report.counts.adds == 0
    async with desired.pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM groupsync.sync_runs WHERE id = $1", report.run_id
        )
    assert status == "interrupted"


async def test_run_leaves_no_pending_change_behind(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(5))
    stop = asyncio.Event()

    async def stop_soon() -> None:
        while True:
            async with desired.pool.acquire() as conn:
                journaled = await conn.fetchval(
                    "SELECT count(*) FROM groupsync.changes WHERE kind = 'add'"
                )
            if journaled:
                stop.set()
                return
            await asyncio.sleep(0.001)

    stopper = asyncio.create_task(stop_soon())
    await desired.sync(stop=stop)
    stopper.cancel()

    async with desired.pool.acquire() as conn:
        pending = await conn.fetchval(
            "SELECT count(*) FROM groupsync.changes WHERE status = 'pending'"
        )
    assert pending == 0


async def test_dry_run_counts_adds_of_people_to_create(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(2))
    await desired.sync()
    await desired.add("VIP", people(3, prefix="new"))

    report = await desired.sync(dry_run=True)

    assert report.planned_creates == 3
    assert report.groups["VIP"].planned_adds == 3


async def test_dry_run_reports_group_to_create(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(4))

    report = await desired.sync(dry_run=True)

    assert report.groups["VIP"].would_create_group is True
    assert report.groups["VIP"].planned_adds == 4
    assert (await emulator.admin.dump())["sellers"]["default"]["groups"] == []


async def test_dry_run_plan_names_the_person(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(20))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(19))

    report = await desired.sync(dry_run=True)

    [change] = report.plan
    assert change.kind == "remove"
    assert change.person_key == "email:p19@example.com"


async def test_held_group_keeps_reason_and_planned_count(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", people(10))
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people(5))

    report = await desired.sync()

    outcome = report.groups["VIP"]
    assert outcome.held is True
    assert outcome.planned_removes == 5
    assert "5 of 10" in (outcome.hold_reason or "")
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 10


async def test_stop_during_resolution_creates_no_more_customers(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await emulator.admin.set_faults(latency_ms=20)
    desired.settings = desired.settings.__class__(
        applied_change_window_s=0.0, read_strategy="per_group", resolve_concurrency=1
    )
    await desired.manage("VIP")
    await desired.add("VIP", people(40))
    stop = asyncio.Event()

    async def stop_after_first_search() -> None:
        # The emulator's request counts are polled: they have no event to wait on.
        while True:
            if "SearchCustomers" in (await emulator.admin.stats())["requests"]:
                stop.set()
                return
            await asyncio.sleep(0.005)

    stopper = asyncio.create_task(stop_after_first_search())
    report = await desired.sync(stop=stop)
    await stopper

    assert report.status == "interrupted"
    searches = sum((await emulator.admin.stats())["requests"]["SearchCustomers"].values())
    assert searches < 40
    assert "CreateCustomer" not in (await emulator.admin.stats())["requests"]
    assert "BulkCreateCustomers" not in (await emulator.admin.stats())["requests"]
