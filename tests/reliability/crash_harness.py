"""Kill ``groupsync sync`` with SIGKILL at a chosen point of a run, run it again, and check
what the second run left behind.

A :class:`KillPoint` is either the N-th JSON log line with a given event (the process is
killed right after it prints the line), or a change of a given kind journaled as pending
(the request is in flight: the endpoint is slowed so the kill lands before the response, and
the emulator still carries the request out after the client is gone). The CI tests and the
crash stress script share this module.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from groupsync.db.migrator import migrate
from groupsync.testing.emulator import EmulatorServer
from tests.reliability.world import (
    World,
    change_statuses,
    doubly_applied_changes,
    membership_differences,
    run_rows,
    seed,
    square_view,
)

IN_FLIGHT_DELAY_MS = 1_500
POLL_S = 0.01
KILLED_RUN_TIMEOUT_S = 60.0
LOCK_RELEASE_TIMEOUT_S = 10.0
# A process killed before it recorded its run leaves no run to mark. A kill after a delay
# can also land after the run was recorded as finished, and then the run is complete.
NOT_STARTED = "not started"
FINISHED_BEFORE_KILL = "finished before the kill"


@dataclass(frozen=True)
class KillPoint:
    """Where to kill a run: after a log line, while a journaled request is in flight, or
    ``after_s`` seconds after the start."""

    name: str
    event: str | None = None
    occurrence: int = 1
    fields: dict[str, Any] = field(default_factory=dict)
    in_flight_kind: str | None = None
    in_flight_endpoint: str | None = None
    after_s: float | None = None
    # Extra environment of both runs, such as a read strategy.
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class CrashCheck:
    """What the run after the kill left behind; every count is 0 and every flag True when sound."""

    point: str
    killed: bool
    next_exit_code: int
    differences: dict[str, Any]
    duplicate_customers: int
    duplicate_groups: int
    doubly_applied: int
    killed_run_status: str
    killed_run_pending: int
    duration_s: float

    @property
    def sound(self) -> bool:
        return (
            self.killed
            and self.next_exit_code == 0
            and not self.differences
            and self.duplicate_customers == 0
            and self.duplicate_groups == 0
            and self.doubly_applied == 0
            and self.killed_run_status in ("interrupted", NOT_STARTED, FINISHED_BEFORE_KILL)
            and self.killed_run_pending == 0
        )


def cli_env(database_url: str, emulator: EmulatorServer) -> dict[str, str]:
    """Return the environment for ``python -m groupsync`` against this database and emulator."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GROUPSYNC_", "SQUARE_"))
    }
    env.update(
        GROUPSYNC_DATABASE_URL=database_url,
        SQUARE_ACCESS_TOKEN=emulator.token,
        SQUARE_BASE_URL=emulator.base_url,
        GROUPSYNC_LOG_FORMAT="json",
        GROUPSYNC_LIMITS_RETRY_WAIT_INITIAL_S="0.01",
        GROUPSYNC_LIMITS_RETRY_WAIT_MAX_S="0.1",
        GROUPSYNC_LIMITS_RATE_LIMIT_PER_S="200",
        GROUPSYNC_GUARDS_MAX_REMOVAL_SHARE="1.0",
        GROUPSYNC_GUARDS_MAX_REMOVALS="1000",
        PYTHONUNBUFFERED="1",
    )
    return env


async def prepare(database_url: str, emulator: EmulatorServer, world: World) -> None:
    """Migrate the database and seed the world into it and into the emulator."""
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        await seed(world, conn=conn, admin=emulator.admin)
    finally:
        await conn.close()


async def start_cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "groupsync",
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_cli(env: dict[str, str], *args: str, timeout_s: float = 60.0) -> tuple[int, str]:
    """Run ``groupsync ARGS`` to its end; return the exit code and stderr."""
    process = await start_cli(env, *args)
    assert process.stderr is not None
    stderr = await asyncio.wait_for(process.stderr.read(), timeout_s)
    code = await asyncio.wait_for(process.wait(), timeout_s)
    return code, stderr.decode()


async def sync_killed_at(
    point: KillPoint, *, env: dict[str, str], database_url: str, emulator: EmulatorServer
) -> bool:
    """Start ``groupsync sync`` and SIGKILL it at ``point``; return False if it ended first."""
    if point.in_flight_endpoint is not None:
        await emulator.admin.add_fault_rule(
            kind="slow", endpoint=point.in_flight_endpoint, delay_ms=IN_FLIGHT_DELAY_MS
        )
    process = await start_cli(env, "sync")
    try:
        if point.after_s is not None:
            reached = await _still_running_after(point.after_s, process)
        elif point.in_flight_kind is not None:
            reached = await _journal_pending(database_url, point.in_flight_kind, process)
        else:
            reached = await _log_line_seen(point, process)
        if reached:
            process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(_drain_and_wait(process), KILLED_RUN_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await emulator.admin.clear_fault_rules()
    return reached and process.returncode == -signal.SIGKILL


async def _log_line_seen(point: KillPoint, process: asyncio.subprocess.Process) -> bool:
    assert process.stderr is not None
    seen = 0
    async with asyncio.timeout(KILLED_RUN_TIMEOUT_S):
        async for raw in process.stderr:
            entry = json_line(raw)
            if entry.get("event") != point.event:
                continue
            if any(entry.get(key) != value for key, value in point.fields.items()):
                continue
            seen += 1
            if seen == point.occurrence:
                return True
    return False


async def _still_running_after(delay_s: float, process: asyncio.subprocess.Process) -> bool:
    assert process.stderr is not None
    try:
        await asyncio.wait_for(_drain_and_wait(process), delay_s)
    except TimeoutError:
        return True
    return False


async def _journal_pending(
    database_url: str, kind: str, process: asyncio.subprocess.Process
) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(KILLED_RUN_TIMEOUT_S):
            while process.returncode is None:
                pending = await conn.fetchval(
                    "SELECT count(*) FROM groupsync.changes WHERE kind = $1 AND status = 'pending'",
                    kind,
                )
                if pending:
                    return True
                await asyncio.sleep(POLL_S)
    finally:
        await conn.close()
    return False


async def _drain_and_wait(process: asyncio.subprocess.Process) -> None:
    assert process.stderr is not None
    await process.stderr.read()
    await process.wait()


def json_line(raw: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(raw)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


async def wait_for_lock_release(database_url: str) -> None:
    """Wait until PostgreSQL has ended the killed process's session and its advisory lock."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + LOCK_RELEASE_TIMEOUT_S
        while time.monotonic() < deadline:
            held = await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            if not held:
                return
            await asyncio.sleep(POLL_S)
    finally:
        await conn.close()
    raise TimeoutError(f"an advisory lock was still held after {LOCK_RELEASE_TIMEOUT_S} s")


async def crash_and_recover(
    point: KillPoint, *, world: World, database_url: str, emulator: EmulatorServer
) -> CrashCheck:
    """Kill a run at ``point``, run ``sync`` again and return what the second run left."""
    started = time.monotonic()
    env = {**cli_env(database_url, emulator), **point.env}
    killed = await sync_killed_at(point, env=env, database_url=database_url, emulator=emulator)
    await wait_for_lock_release(database_url)
    killed_run = await _last_run(database_url)

    exit_code, _ = await run_cli(env, "sync")

    view = await square_view(emulator.admin)
    conn = await asyncpg.connect(database_url)
    try:
        runs = {row["id"]: row for row in await run_rows(conn)}
        status, pending = NOT_STARTED, 0
        if killed_run is not None and killed_run["status"] != "running":
            status = FINISHED_BEFORE_KILL
        elif killed_run is not None:
            status = runs[killed_run["id"]]["status"]
            pending = (await change_statuses(conn, killed_run["id"]))["pending"]
        doubly_applied = await doubly_applied_changes(conn)
    finally:
        await conn.close()
    return CrashCheck(
        point=point.name,
        killed=killed,
        next_exit_code=exit_code,
        differences=membership_differences(world, view),
        duplicate_customers=len(view.duplicate_emails),
        duplicate_groups=len(view.duplicate_group_names),
        doubly_applied=len(doubly_applied),
        killed_run_status=status,
        killed_run_pending=pending,
        duration_s=round(time.monotonic() - started, 2),
    )


async def _last_run(database_url: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchrow(
            "SELECT id, status FROM groupsync.sync_runs ORDER BY id DESC LIMIT 1"
        )
    finally:
        await conn.close()
