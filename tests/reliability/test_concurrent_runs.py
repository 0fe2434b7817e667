"""Two daemons and a manual ``groupsync sync`` started together on one account: one run at
a time reconciles it, and nothing is applied twice."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from groupsync.testing.emulator import EmulatorServer
from tests.reliability.crash_harness import cli_env, prepare, run_cli
from tests.reliability.daemon_process import DaemonProcess
from tests.reliability.world import (
    doubly_applied_changes,
    make_world,
    membership_differences,
    square_view,
)

pytestmark = pytest.mark.slow

EXIT_OK = 0
EXIT_BUSY = 3
# Slow enough that the three runs overlap in time if nothing keeps them apart.
LATENCY_MS = 20
# Long enough for a manual sync to start while a daemon's run waits on this request.
HELD_REQUEST_MS = 5_000
WAIT_TIMEOUT_S = 60.0


async def overlapping_runs(database_url: str) -> list[tuple[int, int]]:
    """Return pairs of runs whose [started_at, finished_at] intervals overlap."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT a.id AS first, b.id AS second FROM groupsync.sync_runs a "
            "JOIN groupsync.sync_runs b ON a.id < b.id AND a.account = b.account "
            "WHERE tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)"
        )
    finally:
        await conn.close()
    return [(row["first"], row["second"]) for row in rows]


async def test_two_daemons_and_sync_take_turns(database_url: str, emulator: EmulatorServer) -> None:
    world = make_world()
    await prepare(database_url, emulator, world)
    await emulator.admin.set_faults(latency_ms=LATENCY_MS)
    env = cli_env(database_url, emulator)

    daemons = [DaemonProcess(env), DaemonProcess(env)]
    try:
        _, _, (together_exit_code, together_stderr) = await asyncio.gather(
            daemons[0].start(), daemons[1].start(), run_cli(env, "sync")
        )
        await _any_logged(daemons, "sync_run_finished", status="succeeded")

        # The daemon's next run waits on its first request while the manual sync starts.
        await emulator.admin.add_fault_rule(
            kind="slow", endpoint="ListCustomerGroups", delay_ms=HELD_REQUEST_MS
        )
        started_before = [len(daemon.events("sync_run_started")) for daemon in daemons]
        finished_before = [len(daemon.events("sync_run_finished")) for daemon in daemons]
        await run_cli(env, "trigger")
        await _any_logged(daemons, "sync_run_started", after=started_before)
        busy_exit_code, busy_stderr = await run_cli(env, "sync")
        await _any_logged(daemons, "sync_run_finished", after=finished_before)

        last_exit_code, _ = await run_cli(env, "sync")
    finally:
        for daemon in daemons:
            await daemon.stop()

    conn = await asyncpg.connect(database_url)
    try:
        doubly_applied = await doubly_applied_changes(conn)
    finally:
        await conn.close()
    view = await square_view(emulator.admin)
    assert together_exit_code in (EXIT_OK, EXIT_BUSY)
    assert together_exit_code == EXIT_OK or "in progress" in together_stderr
    assert busy_exit_code == EXIT_BUSY
    assert "in progress" in busy_stderr
    assert last_exit_code == EXIT_OK
    assert await overlapping_runs(database_url) == []
    assert doubly_applied == []
    assert membership_differences(world, view) == {}
    assert view.duplicate_emails == []
    assert view.duplicate_group_names == []


async def _any_logged(
    daemons: list[DaemonProcess], event: str, *, after: list[int] | None = None, **fields: Any
) -> None:
    """Wait until one daemon has logged more lines of ``event`` than its count in ``after``."""
    counts_before = after or [0] * len(daemons)
    waits = [
        asyncio.create_task(
            daemon.wait_for(event, count=before + 1, timeout_s=WAIT_TIMEOUT_S, **fields)
        )
        for daemon, before in zip(daemons, counts_before, strict=True)
    ]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()
