"""A rejected token (401) or a missing scope (403) stops the run at once, with one error that
names the cause and the fix, and without retries."""

from __future__ import annotations

import asyncpg
from structlog.testing import capture_logs

from groupsync.square.client import SquareClient
from groupsync.testing.emulator import EmulatorServer
from tests.reliability.conftest import FAULT_REQUEST_TIMEOUT_S, FAULT_RETRIES, RUN_SETTINGS, sync
from tests.reliability.world import (
    World,
    change_statuses,
    membership_differences,
    run_rows,
    square_view,
)

READ_ONLY_TOKEN = "read-only-token"


def requests_sent(stats: dict[str, dict[str, int]], operation: str) -> int:
    return sum(stats.get(operation, {}).values())


async def test_token_revoked_mid_run_stops_applying(
    world: World, emulator: EmulatorServer, pool: asyncpg.Pool, client: SquareClient
) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=401, endpoint="AddGroupToCustomer")

    with capture_logs() as logs:
        report = await sync(pool, client)

    stats = (await emulator.admin.stats())["requests"]
    failures = [entry for entry in logs if entry["event"] == "sync_run_failed"]
    assert report.status == "failed"
    assert len(failures) == 1
    assert "SQUARE_ACCESS_TOKEN" in failures[0]["error"]
    assert report.counts.retries == 0
    # Each worker may have one request in flight and start one more before the 401 is seen.
    assert requests_sent(stats, "AddGroupToCustomer") <= 2 * RUN_SETTINGS.apply_concurrency
    assert requests_sent(stats, "RemoveGroupFromCustomer") == 0


async def test_failed_run_leaves_no_pending_change(
    world: World, emulator: EmulatorServer, pool: asyncpg.Pool, client: SquareClient
) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=401, endpoint="AddGroupToCustomer")

    report = await sync(pool, client)

    async with pool.acquire() as conn:
        statuses = await change_statuses(conn, report.run_id)
    assert statuses["pending"] == 0
    assert statuses["interrupted"] > 0


async def test_missing_write_scope_stops_run(
    world: World, emulator: EmulatorServer, pool: asyncpg.Pool
) -> None:
    await emulator.admin.add_token(READ_ONLY_TOKEN, scopes=["CUSTOMERS_READ"])

    async with SquareClient(
        base_url=emulator.base_url,
        token=READ_ONLY_TOKEN,
        request_timeout_s=FAULT_REQUEST_TIMEOUT_S,
        retry_policy=FAULT_RETRIES,
    ) as read_only:
        with capture_logs() as logs:
            report = await sync(pool, read_only)

    stats = (await emulator.admin.stats())["requests"]
    failures = [entry for entry in logs if entry["event"] == "sync_run_failed"]
    async with pool.acquire() as conn:
        run = (await run_rows(conn))[-1]
    assert report.status == "failed"
    assert len(failures) == 1
    assert "lacks the CUSTOMERS_WRITE permission" in failures[0]["error"]
    assert "Grant CUSTOMERS_WRITE" in failures[0]["error"]
    assert run["retries"] == 0
    assert run["api_calls"] == 2
    assert requests_sent(stats, "CreateCustomerGroup") == 1


async def test_run_after_auth_failure_converges(
    world: World, emulator: EmulatorServer, pool: asyncpg.Pool, client: SquareClient
) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=401, endpoint="AddGroupToCustomer")
    await sync(pool, client)

    report = await sync(pool, client)

    assert report.status == "succeeded"
    assert membership_differences(world, await square_view(emulator.admin)) == {}
