"""Calls per endpoint of small versions of benchmarks S0 and S1 (a tenth of their size).

These catch regressions in the number of requests a sync sends, not in its speed: the
read strategy, local matching, bulk creation and one request per membership change.
"""

from __future__ import annotations

import math

import asyncpg
import pytest

from bench.scenario import Scenario, ScenarioSize, build_scenario
from groupsync.engine.run import RunSettings
from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired

S0_SMALL = ScenarioSize(customers=200, groups=5, memberships=300, adds=80, removes=40, creates=10)
S1_SMALL = ScenarioSize(
    customers=2_000, groups=10, memberships=3_000, adds=800, removes=400, creates=100
)


async def seed(scenario: Scenario, emulator: EmulatorServer, pool: asyncpg.Pool) -> None:
    await emulator.admin.load_state(
        {"sellers": {"default": {"customers": scenario.customers, "groups": scenario.groups}}}
    )
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO groupsync.managed_groups (name) VALUES ($1)",
            [(name,) for name in scenario.group_names],
        )
        await conn.copy_records_to_table(
            "desired_memberships",
            schema_name="groupsync",
            records=scenario.desired,
            columns=("group_name", "email_address"),
        )
    await emulator.admin.reset_stats()


async def calls(emulator: EmulatorServer) -> dict[str, int]:
    requests = (await emulator.admin.stats())["requests"]
    return {operation: sum(statuses.values()) for operation, statuses in requests.items()}


@pytest.fixture
def run_settings() -> RunSettings:
    return RunSettings(applied_change_window_s=0.0, allow_mass_removal=True)


async def test_s0_small_calls(desired: Desired, emulator: EmulatorServer) -> None:
    scenario = build_scenario(S0_SMALL)
    await seed(scenario, emulator, desired.pool)

    await desired.sync()

    # One group listing, a count and a one-ended walk of 2 pages, one bulk creation, and
    # one request per membership change; no search at all.
    assert await calls(emulator) == {
        "ListCustomerGroups": 1,
        "ListCustomers": 3,
        "BulkCreateCustomers": 1,
        "AddGroupToCustomer": 80,
        "RemoveGroupFromCustomer": 40,
    }


async def test_s0_small_second_run_reads_only(desired: Desired, emulator: EmulatorServer) -> None:
    scenario = build_scenario(S0_SMALL)
    await seed(scenario, emulator, desired.pool)
    await desired.sync()
    await emulator.admin.reset_stats()

    await desired.sync()

    # 210 customers now: a count and a two-ended walk of 3 pages, 4 where the walkers meet.
    counted = await calls(emulator)
    assert 4 <= counted.pop("ListCustomers") <= 5
    assert counted == {"ListCustomerGroups": 1}


async def test_s1_small_calls(desired: Desired, emulator: EmulatorServer) -> None:
    scenario = build_scenario(S1_SMALL)
    await seed(scenario, emulator, desired.pool)

    report = await desired.sync()

    counted = await calls(emulator)
    walk_pages = counted.pop("ListCustomers") - 1
    assert math.ceil(2_000 / 100) <= walk_pages <= math.ceil(2_000 / 100) + 1
    assert counted == {
        "ListCustomerGroups": 1,
        "BulkCreateCustomers": 1,
        "AddGroupToCustomer": 800,
        "RemoveGroupFromCustomer": 400,
    }
    assert report.status == "succeeded"


async def test_s0_small_per_group_calls(
    desired: Desired, emulator: EmulatorServer, run_settings: RunSettings
) -> None:
    desired.settings = RunSettings(
        applied_change_window_s=0.0, allow_mass_removal=True, read_strategy="per_group"
    )
    scenario = build_scenario(S0_SMALL)
    await seed(scenario, emulator, desired.pool)
    people = len({email for _, email in scenario.desired})
    members = [
        sum(1 for customer in scenario.customers if group["id"] in customer["group_ids"])
        for group in scenario.groups
    ]

    await desired.sync()

    counted = await calls(emulator)
    group_pages = sum(math.ceil(count / 100) for count in members)
    # One exact email search per person, the groups' pages (a last empty page at most
    # once per group), one bulk creation and one request per change.
    assert people + group_pages <= counted.pop("SearchCustomers") <= people + group_pages + 5
    assert counted == {
        "ListCustomerGroups": 1,
        "BulkCreateCustomers": 1,
        "AddGroupToCustomer": 80,
        "RemoveGroupFromCustomer": 40,
    }
