"""A run end to end on the emulator: groups, people, snapshot, plan, apply, record."""

from __future__ import annotations

import asyncio

import structlog

from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, customers_in_square, groups_in_square, members_in_square

ADA = {"email_address": "Ada@Example.com", "given_name": "Ada", "family_name": "Lovelace"}
ALAN = {"phone_number": "(206) 222-3333", "given_name": "Alan"}
GRACE = {"reference_id": "emp-42", "given_name": "Grace"}


async def test_first_run_creates_group_customers_and_memberships(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [ADA, ALAN, GRACE])

    report = await desired.sync()

    assert report.status == "succeeded"
    assert report.counts.creates == 3
    assert report.counts.adds == 3
    group_id = await desired.group_id("VIP")
    assert len(await members_in_square(emulator, group_id)) == 3
    assert [group["name"] for group in await groups_in_square(emulator)] == ["VIP"]


async def test_second_run_changes_nothing(desired: Desired, emulator: EmulatorServer) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [ADA, ALAN, GRACE])
    await desired.sync()

    report = await desired.sync()

    assert report.status == "succeeded"
    assert report.counts.adds == 0
    assert report.counts.removes == 0
    assert report.counts.creates == 0
    assert len(await customers_in_square(emulator)) == 3


async def test_run_removes_people_no_longer_desired(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    people = [{"email_address": f"p{index}@example.com"} for index in range(20)]
    await desired.add("VIP", people)
    await desired.sync()
    await desired.clear("VIP")
    await desired.add("VIP", people[1:])

    report = await desired.sync()

    assert report.counts.removes == 1
    group_id = await desired.group_id("VIP")
    assert len(await members_in_square(emulator, group_id)) == 19


async def test_run_is_recorded_in_sync_runs(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [ADA])

    report = await desired.sync()

    async with desired.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM groupsync.sync_runs WHERE id = $1", report.run_id)
    assert row["status"] == "succeeded"
    assert row["adds"] == 1
    assert row["creates"] == 1
    assert row["api_calls"] == report.counts.api_calls
    assert row["api_calls"] > 0
    assert row["finished_at"] is not None


async def test_run_reports_progress_of_each_phase(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [ADA, ALAN])
    await desired.sync()
    await desired.add("VIP", [GRACE])
    phases: list[str] = []

    await desired.sync(progress_listener=lambda update: phases.append(update.phase))

    assert "resolve" in phases
    assert {"read_groups", "read_customers"} & set(phases)
    assert "apply_add" in phases


STEPS = [
    "bind_groups",
    "stage_desired",
    "prepare_reads",
    "resolve_people",
    "read_snapshot",
    "plan_and_apply",
]


async def test_run_reports_duration_of_each_step(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [ADA, ALAN])

    with structlog.testing.capture_logs() as logs:
        report = await desired.sync()

    assert list(report.step_durations_s) == STEPS
    assert all(duration_s >= 0 for duration_s in report.step_durations_s.values())
    assert sum(report.step_durations_s.values()) <= report.duration_s + 0.01
    [finished] = [line for line in logs if line["event"] == "sync_run_finished"]
    assert finished["step_durations_s"] == report.step_durations_s


async def test_stopped_run_reports_only_steps_that_ran(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [ADA])
    stop = asyncio.Event()
    stop.set()

    report = await desired.sync(stop=stop)

    assert report.status == "interrupted"
    assert list(report.step_durations_s) == ["bind_groups"]
