"""SIGKILL at points across a run (group and customer creation, reads, adds, removes), then
``groupsync sync`` again: the second run finishes the job with nothing duplicated, lost or
applied twice, and the killed run is marked interrupted."""

from __future__ import annotations

import pytest

from groupsync.testing.emulator import EmulatorServer
from tests.reliability.crash_harness import CrashCheck, KillPoint, crash_and_recover, prepare
from tests.reliability.world import make_world

STRATEGY_ENV = "GROUPSYNC_SYNC_READ_STRATEGY"
KILL_POINTS = [
    KillPoint("run_started", event="sync_run_started"),
    KillPoint(
        "group_creation_in_flight",
        in_flight_kind="create_group",
        in_flight_endpoint="CreateCustomerGroup",
    ),
    KillPoint("first_group_created", event="group_created"),
    KillPoint(
        "customer_creation_in_flight",
        in_flight_kind="create_customer",
        in_flight_endpoint="BulkCreateCustomers",
    ),
    KillPoint("fifth_customer_created", event="customer_created", occurrence=5),
    KillPoint("first_group_read", event="snapshot_read", env={STRATEGY_ENV: "per_group"}),
    KillPoint(
        "customer_listing_in_flight",
        event="read_strategy_chosen",
        in_flight_endpoint="ListCustomers",
        env={STRATEGY_ENV: "listing"},
    ),
    KillPoint("first_add_applied", event="change_applied", fields={"kind": "add"}),
    KillPoint("mid_adds", event="change_applied", occurrence=15, fields={"kind": "add"}),
    KillPoint("first_remove_applied", event="change_applied", fields={"kind": "remove"}),
]


@pytest.fixture
async def crash_check(
    request: pytest.FixtureRequest, database_url: str, emulator: EmulatorServer
) -> CrashCheck:
    world = make_world()
    await prepare(database_url, emulator, world)
    await emulator.admin.set_faults(latency_ms=5)
    return await crash_and_recover(
        request.param, world=world, database_url=database_url, emulator=emulator
    )


@pytest.mark.slow
@pytest.mark.parametrize("crash_check", KILL_POINTS, ids=lambda point: point.name, indirect=True)
async def test_sync_after_kill_finishes_job(crash_check: CrashCheck) -> None:
    assert crash_check.killed
    assert crash_check.next_exit_code == 0
    assert crash_check.differences == {}
    assert crash_check.duplicate_customers == 0
    assert crash_check.duplicate_groups == 0
    assert crash_check.doubly_applied == 0
    assert crash_check.killed_run_status == "interrupted"
    assert crash_check.killed_run_pending == 0
