"""Runs under faults from Square: 429 storms, 5xx bursts, dropped, slow and hung responses,
and HTML error pages from a proxy.

Each scenario runs the engine once against the emulator with the fault switched on, then
checks that Square contains exactly the desired memberships, that nothing was created twice,
and that the retries are both logged and counted in ``sync_runs``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from groupsync.engine.run import RunSettings
from groupsync.square.client import SquareClient
from groupsync.testing.emulator import EmulatorServer
from tests.reliability.conftest import (
    FAULT_RETRIES,
    RUN_SETTINGS,
    SERIAL_RUN_SETTINGS,
    sync,
)
from tests.reliability.world import (
    World,
    doubly_applied_changes,
    membership_differences,
    run_rows,
    square_view,
)

# The operations that create something in Square, slowed past the request timeout: the
# emulator still carries out each request after the client gave up, so a retry that
# repeated the create without its idempotency key would make a duplicate.
SLOW_DELAY_MS = 800


@dataclass(frozen=True)
class FaultScenario:
    """One kind of trouble from Square: traffic settings and scripted fault rules."""

    name: str
    faults: dict[str, Any] = field(default_factory=dict)
    rules: tuple[dict[str, Any], ...] = ()


SCENARIOS = [
    FaultScenario(
        "429_storm_with_retry_after",
        faults={"rate_limited_rate": 0.33, "retry_after_s": 0.05},
    ),
    FaultScenario(
        "429_storm_without_retry_after",
        faults={"rate_limited_rate": 0.33, "retry_after_s": None},
    ),
    FaultScenario(
        "5xx_bursts",
        faults={"error_rate": 1.0, "burst_period_s": 0.3, "burst_on_s": 0.1},
    ),
    FaultScenario("5xx_third_of_calls", faults={"error_rate": 0.33}),
    FaultScenario("dropped_connections", faults={"drop_rate": 0.25}),
    FaultScenario("html_502_from_proxy", faults={"html_error_rate": 0.33}),
    FaultScenario("responses_never_finish", faults={"hang_rate": 0.1}),
    FaultScenario(
        "responses_slower_than_timeout",
        rules=tuple(
            {"kind": "slow", "endpoint": endpoint, "times": times, "delay_ms": SLOW_DELAY_MS}
            for endpoint, times in (
                ("CreateCustomerGroup", 1),
                ("BulkCreateCustomers", 1),
                ("AddGroupToCustomer", 4),
                ("RemoveGroupFromCustomer", 1),
                ("SearchCustomers", 2),
            )
        ),
    ),
]


@dataclass
class FaultedRun:
    """The outcome of one run under a fault scenario."""

    status: str
    logs: list[MutableMapping[str, Any]]
    run: asyncpg.Record
    statuses_sent: dict[str, int]

    def events(self, name: str) -> list[MutableMapping[str, Any]]:
        return [entry for entry in self.logs if entry["event"] == name]


async def run_with_faults(
    scenario: FaultScenario,
    *,
    emulator: EmulatorServer,
    pool: asyncpg.Pool,
    client: SquareClient,
    settings: RunSettings = RUN_SETTINGS,
) -> FaultedRun:
    await emulator.admin.set_faults(**scenario.faults)
    for rule in scenario.rules:
        await emulator.admin.add_fault_rule(**rule)

    with capture_logs() as logs:
        report = await sync(pool, client, settings=settings)

    await emulator.admin.set_faults(
        rate_limited_rate=0, error_rate=0, drop_rate=0, html_error_rate=0, hang_rate=0
    )
    await emulator.admin.clear_fault_rules()
    async with pool.acquire() as conn:
        run = (await run_rows(conn))[-1]
    return FaultedRun(
        status=report.status,
        logs=logs,
        run=run,
        statuses_sent=_statuses_sent((await emulator.admin.stats())["requests"]),
    )


def _statuses_sent(requests: dict[str, dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for by_status in requests.values():
        for status, count in by_status.items():
            totals[status] = totals.get(status, 0) + count
    return totals


def groups_with_failures(world: World, outcome: FaultedRun) -> set[str]:
    """Return the groups for which the run logged a change, read or person that failed."""
    groups = {
        entry["group_name"]
        for entry in outcome.events("change_failed") + outcome.events("snapshot_read_failed")
    }
    for entry in outcome.events("person_resolution_failed"):
        address = entry["person_key"].removeprefix("email:")
        groups |= {name for name, addresses in world.desired.items() if address in addresses}
    return groups


def failures_logged(outcome: FaultedRun) -> int:
    return len(outcome.events("change_failed")) + len(outcome.events("person_resolution_failed"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
async def test_fault_run_ends_exact_or_failed(
    scenario: FaultScenario,
    world: World,
    emulator: EmulatorServer,
    pool: asyncpg.Pool,
    client: SquareClient,
) -> None:
    outcome = await run_with_faults(scenario, emulator=emulator, pool=pool, client=client)

    view = await square_view(emulator.admin)
    differing = set(membership_differences(world, view))
    retry_logs = outcome.events("api_retry_scheduled")
    finished = outcome.events("sync_run_finished")
    assert differing <= groups_with_failures(world, outcome)
    assert view.duplicate_emails == []
    assert view.duplicate_group_names == []
    assert outcome.run["failed"] == failures_logged(outcome)
    assert outcome.run["status"] == ("failed" if outcome.run["failed"] else "succeeded")
    assert retry_logs != []
    assert outcome.run["retries"] == len(retry_logs)
    assert outcome.run["rate_limited"] == outcome.statuses_sent.get("429", 0)
    assert [entry["status"] for entry in finished] == [outcome.run["status"]]
    assert finished[0]["retries"] == outcome.run["retries"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
async def test_next_run_after_faults_converges(
    scenario: FaultScenario,
    world: World,
    emulator: EmulatorServer,
    pool: asyncpg.Pool,
    client: SquareClient,
) -> None:
    await run_with_faults(scenario, emulator=emulator, pool=pool, client=client)

    report = await sync(pool, client)

    view = await square_view(emulator.admin)
    async with pool.acquire() as conn:
        doubly_applied = await doubly_applied_changes(conn)
    assert report.status == "succeeded"
    assert membership_differences(world, view) == {}
    assert view.duplicate_emails == []
    assert view.duplicate_group_names == []
    assert doubly_applied == []


async def test_429_waits_retry_after(
    world: World, emulator: EmulatorServer, pool: asyncpg.Pool, client: SquareClient
) -> None:
    retry_after_s = 0.1
    scenario = FaultScenario(
        "429_retry_after", faults={"rate_limited_rate": 0.2, "retry_after_s": retry_after_s}
    )

    outcome = await run_with_faults(scenario, emulator=emulator, pool=pool, client=client)

    waits_s = {entry["wait_s"] for entry in outcome.events("api_retry_scheduled")}
    assert outcome.status == "succeeded"
    assert waits_s == {retry_after_s}
    assert outcome.run["rate_limited"] > 0


async def test_429_without_retry_after_backs_off(
    world: World, emulator: EmulatorServer, pool: asyncpg.Pool, client: SquareClient
) -> None:
    scenario = FaultScenario(
        "429_no_retry_after", faults={"rate_limited_rate": 0.33, "retry_after_s": None}
    )

    outcome = await run_with_faults(scenario, emulator=emulator, pool=pool, client=client)

    retries = outcome.events("api_retry_scheduled")
    first_waits_s = [entry["wait_s"] for entry in retries if entry["attempt"] == 1]
    later_waits_s = [entry["wait_s"] for entry in retries if entry["attempt"] >= 3]
    assert {entry["reason"] for entry in retries} == {429}
    assert max(first_waits_s) <= FAULT_RETRIES.wait_initial_s + FAULT_RETRIES.wait_jitter_s
    assert min(later_waits_s, default=FAULT_RETRIES.wait_initial_s * 4) >= (
        FAULT_RETRIES.wait_initial_s * 4
    )


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [("AddGroupToCustomer", "add"), ("RemoveGroupFromCustomer", "remove")],
)
async def test_exhausted_retries_fail_change(
    endpoint: str,
    kind: str,
    world: World,
    emulator: EmulatorServer,
    pool: asyncpg.Pool,
    client: SquareClient,
) -> None:
    scenario = FaultScenario(
        f"{endpoint}_unavailable",
        rules=({"kind": "status", "status": 503, "endpoint": endpoint, "times": 8},),
    )

    outcome = await run_with_faults(
        scenario, emulator=emulator, pool=pool, client=client, settings=SERIAL_RUN_SETTINGS
    )

    async with pool.acquire() as conn:
        failed = await conn.fetch(
            "SELECT kind, attempts FROM groupsync.changes WHERE run_id = $1 AND status = 'failed'",
            outcome.run["id"],
        )
    assert outcome.status == "failed"
    assert outcome.run["failed"] == 1
    assert [(row["kind"], row["attempts"]) for row in failed] == [(kind, FAULT_RETRIES.attempts)]
    assert len(outcome.events("change_failed")) == 1
    assert len(outcome.events("api_request_failed")) == 1


@pytest.mark.parametrize("endpoint", ["AddGroupToCustomer", "RemoveGroupFromCustomer"])
async def test_failed_change_applied_next_run(
    endpoint: str,
    world: World,
    emulator: EmulatorServer,
    pool: asyncpg.Pool,
    client: SquareClient,
) -> None:
    scenario = FaultScenario(
        f"{endpoint}_unavailable",
        rules=({"kind": "status", "status": 503, "endpoint": endpoint, "times": 8},),
    )
    await run_with_faults(
        scenario, emulator=emulator, pool=pool, client=client, settings=SERIAL_RUN_SETTINGS
    )

    report = await sync(pool, client)

    view = await square_view(emulator.admin)
    assert report.status == "succeeded"
    assert report.counts.adds + report.counts.removes == 1
    assert membership_differences(world, view) == {}


async def test_failed_creation_retried_next_run(
    world: World, emulator: EmulatorServer, pool: asyncpg.Pool, client: SquareClient
) -> None:
    to_create = len(world.people) - world.existing_customers
    scenario = FaultScenario(
        "bulk_create_unavailable",
        rules=({"kind": "status", "status": 500, "endpoint": "BulkCreateCustomers", "times": 8},),
    )
    first = await run_with_faults(scenario, emulator=emulator, pool=pool, client=client)

    second = await sync(pool, client)

    view = await square_view(emulator.admin)
    assert first.status == "failed"
    assert len(first.events("person_resolution_failed")) == to_create
    assert second.status == "succeeded"
    assert second.counts.creates == to_create
    assert membership_differences(world, view) == {}
    assert view.duplicate_emails == []
